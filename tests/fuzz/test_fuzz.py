"""The fuzz target (tests/fuzz/fuzz_handler.py) in the suite: a bounded run, FUZZ_SECONDS
long (60 by default; `make fuzz` runs longer and keeps a corpus)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TARGET = Path(__file__).with_name("fuzz_handler.py")


@pytest.mark.slow
def test_the_handler_survives_a_bounded_fuzzing_run(tmp_path: Path) -> None:
    seconds = int(os.environ.get("FUZZ_SECONDS", "60"))
    completed = subprocess.run(
        [sys.executable, str(TARGET), f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048", f"-artifact_prefix={tmp_path}/"],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
        cwd=tmp_path,
    )
    report = completed.stderr[-4000:]
    assert completed.returncode == 0, report
    assert "Done" in report and " runs in " in report, report
    assert not list(tmp_path.glob("crash-*")), report
