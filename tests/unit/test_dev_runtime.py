"""The local stage's REPORT lines say what Lambda's say: Max Memory Used is the execution environment's
own peak, not the peak of the process that started it (getrusage's ru_maxrss survives exec)."""

from __future__ import annotations

import subprocess
import sys


def test_max_memory_used_is_the_workers_own_peak_not_its_parents() -> None:
    parent = "big = bytearray(200 << 20)\nfor i in range(0, len(big), 4096): big[i] = 1\n"
    child = "from fastauthz.dev.runtime import _peak_rss_kb; print(_peak_rss_kb())"
    script = (
        parent + f"import subprocess, sys\nprint(subprocess.run([sys.executable, '-c', {child!r}], capture_output=True, text=True).stdout)"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    peak_mb = int(ran.stdout.split()[0]) / 1024
    assert 5 < peak_mb < 150, ran.stdout + ran.stderr  # the parent held 200 MB; an interpreter and orjson hold tens
