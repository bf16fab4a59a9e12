"""#34: the README's shell blocks run as pasted (testkit/readme.py says how): the Local stage and REST/HTTP
blocks beside `fastauthz dev`, with this checkout's .venv. The load-test blocks run from the wheel in
make loadtest-local (loadtest/checks/test_readme_loadtest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testkit.readme import ROOT, blocks, run_block, workdir_with


@pytest.mark.parametrize(("options", "lines"), blocks(), ids=lambda value: value if isinstance(value, str) else "")
def test_a_readme_block_runs_as_pasted_beside_fastauthz_dev(tmp_path: Path, options: str, lines: list[str]) -> None:
    outputs = run_block(workdir_with(tmp_path, ROOT / ".venv"), options, lines)
    for command, output in outputs.items():
        if "curl" in command:
            assert "HTTP/1.1 200" in output, output
        if "-m websockets" in command:
            assert "Connected to" in output, output
