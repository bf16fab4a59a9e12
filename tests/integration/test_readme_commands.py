"""#34: the README's shell blocks run as pasted. Each block marked `<!-- readme-run: dev [options] -->`
is run the way a user runs it: `fastauthz dev [options]` left running in one terminal (the test starts
it, from a directory of its own whose `.venv` is this checkout's), then each command of the block
pasted into another, from the same directory, with no other setup and nothing on stdin. Every
command must exit 0 without a traceback."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- readme-run: dev(?P<options>[^>]*?)-->\n```sh\n(?P<body>.*?)```", re.S)
# The README's fixed ports: what a user pasting its commands gets.
PORTS = (8765, 8766, 8767)


def blocks() -> list[tuple[str, list[str]]]:
    found = [(match["options"].strip(), match["body"].splitlines()) for match in BLOCK.finditer(README.read_text())]
    assert len(found) >= 2, "the README's Local stage blocks lost their readme-run markers"
    return found


def commands_of(lines: list[str]) -> list[str]:
    """The block's commands, without the one that starts the stage (the test runs it, as the first terminal)."""
    return [line for line in lines if line.strip() and not line.startswith(("#", "make dev", ".venv/bin/fastauthz dev"))]


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for port in PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                pytest.skip(f"127.0.0.1:{port} is in use (a running fastauthz dev?): the README's commands use it")
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    return tmp_path


def clean_environment() -> dict[str, str]:
    """A shell's environment: nothing of fastauthz's or AWS's set."""
    return {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "FASTAUTHZ_", "JWT_", "AUTHORIZED_"))}


@pytest.mark.parametrize(("options", "lines"), blocks(), ids=lambda value: value if isinstance(value, str) else "")
def test_a_readme_block_runs_as_pasted_beside_fastauthz_dev(workdir: Path, options: str, lines: list[str]) -> None:
    env = clean_environment()
    dev = subprocess.Popen(
        [str(workdir / ".venv" / "bin" / "fastauthz"), "dev", *shlex.split(options)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert dev.stdout is not None
        deadline = time.monotonic() + 90
        banner = ""
        while time.monotonic() < deadline:
            line = dev.stdout.readline()
            banner += line
            if re.match(r"(rest-token|rest-request|http-1\.0|http-2\.0) stage http://|sign a user out:", line) or not line:
                break
        assert "stage" in banner, banner
        time.sleep(0.5)
        for command in commands_of(lines):
            ran = subprocess.run(
                ["bash", "-c", command], cwd=workdir, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
            )
            output = ran.stdout + ran.stderr
            assert ran.returncode == 0 and "Traceback" not in output, f"{command}\n{output}"
            if "curl" in command:
                assert "HTTP/1.1 200" in ran.stdout, output
            if "-m websockets" in command:
                assert "Connected to" in output, output
    finally:
        dev.terminate()
        dev.communicate(timeout=30)
