"""Commands the tests start as a user would (`fastauthz dev`, `fastauthz stage`): reading their banner."""

from __future__ import annotations

import time
from typing import IO


def banner(stream: IO[str], last: str, seconds: float = 60.0) -> list[str]:
    """The lines a starting command prints, up to the first that starts with `last` (or the end of its
    output, or `seconds`): a bounded wait, so that a command that never starts fails the test, not hangs it."""
    lines: list[str] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith(last):
            break
    return lines


def stage_url(lines: list[str]) -> str:
    """The `stage ws://…` URL of a banner ('' when it has none)."""
    return next((line.split()[1] for line in lines if line.startswith("stage ws://")), "")
