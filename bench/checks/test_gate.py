"""The instruction gate (bench/gate.py, bench/workload.py): how it judges, and that the process it
counts builds every case and proves each answers what its name says."""

from __future__ import annotations

import subprocess
import tomllib

import pytest

from bench import gate
from bench.workload import CASES


def test_each_case_is_compared_with_its_own_algorithms_raw_verify() -> None:
    assert gate.floor_of("handler, fresh ES256 token") == "raw verify ES256"
    assert gate.floor_of("handler, fresh RS256-2048 token") == "raw verify RS256-2048"
    assert gate.floor_of("handler, reject expired") == "raw verify RS256-2048"
    assert gate.floor_of("handler, repeated token (cache hit)") == "raw verify RS256-2048"


def test_ratios_divide_by_the_floor_and_the_cold_start_by_the_floor_imports() -> None:
    measured = {
        "per_call": {"raw verify RS256-2048": 1000.0, "handler, fresh RS256-2048 token": 1250.0, "handler, reject malformed": 150.0},
        "processes": {"floor imports": 200, gate.COLD_START: 230},
    }
    values = gate.ratios(measured)
    assert values["handler, fresh RS256-2048 token"] == (1.25, gate.RATIO_UNIT)
    assert values["handler, reject malformed"] == (0.15, gate.RATIO_UNIT)
    assert values[gate.COLD_START] == (1.15, gate.COLD_UNIT)
    assert "raw verify RS256-2048" not in values


def test_a_case_fails_only_above_its_baseline_plus_the_tolerance() -> None:
    budgets = {"tolerance": 0.02, "baseline": {"a": 1.0, "b": 0.5}}
    within = gate.judge({"a": (1.02, "x"), "b": (0.5, "x")}, budgets)
    assert within["ok"] is True
    assert within["cases"][0] == {"name": "a", "value": 1.02, "limit": 1.02, "unit": "x"}
    over = gate.judge({"a": (1.0201, "x"), "b": (0.5, "x")}, budgets)
    assert over["ok"] is False


def test_a_case_without_a_baseline_fails() -> None:
    assert gate.judge({"new case": (0.1, "x")}, {"tolerance": 0.02, "baseline": {}})["ok"] is False


def test_baselines_written_read_back_as_the_same_verdict(tmp_path: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    budgets_file = tmp_path / "budgets.toml"  # type: ignore[operator]
    monkeypatch.setattr(gate, "BUDGETS", budgets_file)
    values = {"handler, fresh RS256-2048 token": (1.2313374, gate.RATIO_UNIT), gate.COLD_START: (1.1545891, gate.COLD_UNIT)}
    gate.write_budgets(values, 0.02)
    budgets = tomllib.loads(budgets_file.read_text())
    assert budgets["tolerance"] == 0.02
    assert budgets["baseline"]["handler, fresh RS256-2048 token"] == pytest.approx(1.231337, abs=1e-6)
    assert gate.judge(values, budgets)["ok"] is True


def test_every_gated_case_has_a_committed_baseline() -> None:
    budgets = tomllib.loads(gate.BUDGETS.read_text())
    gated = {case for case in CASES if not case.startswith("raw verify")} | {gate.COLD_START}
    assert gated == set(budgets["baseline"])


def test_the_counted_process_builds_every_case_and_proves_each_answer(tmp_path: pytest.TempPathFactory) -> None:
    """What valgrind runs, in the gate's own environment, without valgrind: the warm-up checks
    that each fresh token is allowed and each refusal is refused for its own reason."""
    with gate.FixedPaths() as paths:
        counter = gate.Counter("valgrind-not-used", tmp_path, paths)  # type: ignore[arg-type]
        completed = subprocess.run(
            [str(paths.python), "-S", "-m", "bench.workload", CASES[0], "1"],
            env=counter.environ,
            cwd=gate.STAGE,
            capture_output=True,
            text=True,
            timeout=120,
        )
        unknown = subprocess.run(
            [str(paths.python), "-S", "-m", "bench.workload", "no such case", "1"],
            env=counter.environ,
            cwd=gate.STAGE,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert unknown.returncode != 0 and "unknown case" in unknown.stderr


def test_re_baselining_lowers_a_case_and_never_raises_one() -> None:
    measured = {"won": (0.9, gate.RATIO_UNIT), "rose": (1.2, gate.RATIO_UNIT), "new": (0.5, gate.RATIO_UNIT)}
    written = gate.ratchet(measured, {"won": 1.0, "rose": 1.0})
    assert written == {"won": (0.9, gate.RATIO_UNIT), "rose": (1.0, gate.RATIO_UNIT), "new": (0.5, gate.RATIO_UNIT)}


def test_reset_goes_with_baseline() -> None:
    with pytest.raises(SystemExit):
        gate.main(["--reset"])
