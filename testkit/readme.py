"""The README's shell blocks, run as pasted. A block marked `<!-- readme-run: [GROUP ]dev [options] -->`
is run the way a user runs it: `fastauthz dev [options]` left running in one terminal (started here,
from a directory of its own whose `.venv` is the virtualenv under test), then each command of the block
pasted into another, from the same directory, with no other setup and nothing on stdin. Every command
must exit 0 without a traceback, a load test within 15 s of its --run-time. The blocks without a group
run in make test (tests/integration/test_readme_commands.py) with this checkout's .venv; the `loadtest`
group in make loadtest-local (loadtest/checks/) with the wheel installed in a fresh virtualenv."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import threading
import time
from contextlib import suppress
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- readme-run: (?:(?P<group>[a-z]+) )?dev(?P<options>[^>]*?)-->\n```sh\n(?P<body>.*?)```", re.S)
PORTS = (8765, 8766, 8767)  # the README's fixed ports: what a user pasting its commands gets
OVERRUN = 15.0  # seconds a load test may take past its --run-time (starting, stopping, reading its logs)


def blocks(group: str = "") -> list[tuple[str, list[str]]]:
    found = [
        (match["options"].strip(), match["body"].splitlines())
        for match in BLOCK.finditer(README.read_text())
        if (match["group"] or "") == group
    ]
    assert len(found) >= 2, f"the README's readme-run blocks of group {group!r} lost their markers"
    return found


def commands_of(lines: list[str]) -> list[str]:
    """The block's commands, without the one that starts the stage (the test runs it, as the first terminal)."""
    return [line for line in lines if line.strip() and not line.startswith(("#", "make dev", ".venv/bin/fastauthz dev"))]


def workdir_with(tmp_path: Path, venv: Path) -> Path:
    """A directory of the user's with `.venv` the virtualenv under test; skips when the README's ports are taken."""
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                pytest.skip(f"127.0.0.1:{port} is in use (a running fastauthz dev?): the README's commands use it")
    (tmp_path / ".venv").symlink_to(venv)
    return tmp_path


def clean_environment() -> dict[str, str]:
    """A shell's environment: nothing of fastauthz's or AWS's set, nor a PYTHONPATH into the checkout."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "FASTAUTHZ_", "JWT_", "AUTHORIZED_", "PYTHONPATH"))
    }


def run_block(workdir: Path, options: str, lines: list[str], timeout: float = 60.0) -> dict[str, str]:
    """Start `fastauthz dev [options]`, paste the block's commands; returns each command's output."""
    env = clean_environment()
    dev = subprocess.Popen(
        [str(workdir / ".venv" / "bin" / "fastauthz"), "dev", *shlex.split(options)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sessions: list[int] = []  # each pasted command's process group: what it left in the background is stopped at the end
    outputs: dict[str, str] = {}
    try:
        assert dev.stdout is not None
        deadline = time.monotonic() + 90
        banner = ""
        while time.monotonic() < deadline:
            line = dev.stdout.readline()
            banner += line
            if re.match(r"(rest-token|rest-request|http-1\.0|http-2\.0) stage http://|sign a user out:|stage ws://", line) or not line:
                break
        assert "stage" in banner, banner
        # the first terminal shows what the stage prints (a line per connect): read it, as a terminal
        # does, or the pipe fills and the stage blocks on its next line (a load test's thousands)
        threading.Thread(target=dev.stdout.read, daemon=True).start()
        time.sleep(0.5)
        for command in commands_of(lines):
            started = time.monotonic()
            shell = subprocess.Popen(
                ["bash", "-c", command],
                cwd=workdir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                start_new_session=True,
            )
            sessions.append(shell.pid)
            output, _ = shell.communicate(timeout=timeout)
            elapsed = time.monotonic() - started
            assert shell.returncode == 0 and "Traceback" not in output, f"{command}\n{output}"
            run_time = re.search(r"--run-time (\d+)s", command)
            if "loadtest" in command and run_time:
                assert elapsed <= int(run_time[1]) + OVERRUN, f"{command}: {elapsed:.1f} s for a {run_time[1]} s run\n{output}"
            outputs[command] = output
        return outputs
    finally:
        for session in sessions:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(session, signal.SIGTERM)
        dev.terminate()
        dev.communicate(timeout=30)
