"""The built wheel, installed into a fresh virtualenv outside the checkout, as a user of
`pip install fastauthz[extras]` gets it: for the wheel test and the load test's README check."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def install_wheel(work: Path, extras: str = "") -> Path:
    """Build this checkout's wheel into work/dist and install it (with `extras`) into work/venv; the venv."""
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(work / "dist"), str(ROOT)], capture_output=True, text=True, timeout=600
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = (work / "dist").glob("fastauthz-*.whl")
    venv.create(work / "venv", with_pip=True)
    requirement = f"{wheel}[{extras}]" if extras else str(wheel)
    install = subprocess.run(
        [str(work / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet", requirement],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=work,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    return work / "venv"
