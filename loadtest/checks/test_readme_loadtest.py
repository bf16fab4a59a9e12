"""#32: the README's load-test commands, as a user runs them: the wheel and its `loadtest` extra in a fresh
virtualenv outside the checkout, `fastauthz dev` left running, each command pasted (testkit/readme.py).
WebSocket and REST, a single process and a master with two workers; each must end within 15 s of its
--run-time, with one verdict, offered against achieved rate, p99.9, the outcomes and the authorizer's
cold starts from the local stage's REPORT lines. Run by make loadtest-local (CI), not make test: the
fresh virtualenv installs locust, gevent and moto from the registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testkit.readme import blocks, run_block, workdir_with
from testkit.wheel import install_wheel


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_wheel(tmp_path_factory.mktemp("wheel"), "loadtest")


@pytest.mark.parametrize(("options", "lines"), blocks("loadtest"), ids=lambda value: value if isinstance(value, str) else "")
def test_the_readme_load_tests_run_from_the_wheel(fresh_venv: Path, tmp_path: Path, options: str, lines: list[str]) -> None:
    workdir = workdir_with(tmp_path, fresh_venv)
    outputs = run_block(workdir, options, lines, timeout=120)
    verdicts = {command: output for command, output in outputs.items() if "--run-time" in command}
    assert verdicts
    for command, output in verdicts.items():
        assert output.count("fastauthz load test, open model (--rate)") == 1, output
        for figure in ("offered", "achieved", "p99.9", "allowed as expected", "refused as expected", "passed: failures 0"):
            assert figure in output, f"{command}: no {figure!r}\n{output}"
        assert "authorizer:" in output and "cold starts" in output and "Init Duration" in output, output
    for log in workdir.glob("worker-*.log"):
        assert "Traceback" not in log.read_text(), log.read_text()
    if (workdir / "run.json").exists():  # the distributed run: two workers shared the ramp
        summary = json.loads((workdir / "run.json").read_text())
        assert summary["model"] == "open" and not summary["breaches"]
        assert 50 <= summary["offered_per_second"] <= 70, summary["offered_per_second"]  # 20 → 100 over the run: 60 on average
        assert summary["authorizer"]["invocations"] >= summary["connects"] * 0.9  # the stage answers `none` without its authorizer
        assert (workdir / "loadtest-report.html").read_text().count("<svg") == 3
