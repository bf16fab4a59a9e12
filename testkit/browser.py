"""A headless Chromium for the browser tests: one way to start it, and one way to be rid of it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@contextmanager
def headless_chromium(url: str) -> Iterator[subprocess.Popen[bytes]]:
    """Chromium on `url` with a throwaway profile, in a process group of its own.

    At exit the whole group is killed before the profile is removed: Chromium's helpers (zygote,
    renderers, crash handler) outlive a killed browser process by a moment and keep writing to the
    profile, which made removing it fail now and then ("Directory not empty") when only the browser
    process was killed.
    """
    if CHROMIUM is None:
        raise RuntimeError("no chromium on this machine (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="fastauthz-chromium-")
    process = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", f"--user-data-dir={profile}", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        for _ in range(50):  # a helper outside the group may still be closing its files
            try:
                shutil.rmtree(profile)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.1)
        else:
            shutil.rmtree(profile, ignore_errors=True)
