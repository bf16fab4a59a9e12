"""The instruction gate (bench/gate.py, bench/workload.py): how it judges, and that the process it
counts builds every case and proves each answers what its name says."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

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


def test_budgets_written_read_back_as_the_same_verdict(tmp_path: pytest.TempPathFactory) -> None:
    budgets_file = tmp_path / "budgets.toml"  # type: ignore[operator]
    values = {"handler, fresh RS256-2048 token": (1.2313374, gate.RATIO_UNIT), gate.COLD_START: (1.1545891, gate.COLD_UNIT)}
    environment = {"python": "3.11.7", "machine": "x86_64"}
    gate.write_budgets(
        {
            "tolerance": 0.02,
            "compare": {"default": 0.01, gate.COLD_START: 0.02},
            "environments": {"abc123": {"fingerprint": environment, "baseline": {name: value for name, (value, _) in values.items()}}},
        },
        budgets_file,
    )
    budgets = tomllib.loads(budgets_file.read_text())
    assert budgets["tolerance"] == 0.02 and budgets["compare"][gate.COLD_START] == 0.02
    recorded = gate.environment_budgets(budgets, "abc123")
    assert recorded is not None and recorded["fingerprint"] == environment
    assert recorded["baseline"]["handler, fresh RS256-2048 token"] == pytest.approx(1.231337, abs=1e-6)
    assert gate.judge(values, recorded)["ok"] is True
    assert gate.environment_budgets(budgets, "another") is None  # an environment without budgets: not judged


def test_every_recorded_environment_has_a_baseline_for_every_gated_case() -> None:
    budgets = tomllib.loads(gate.BUDGETS.read_text())
    gated = {case for case in CASES if not case.startswith("raw verify")} | {gate.COLD_START}
    assert budgets["environments"]
    for key, recorded in budgets["environments"].items():
        assert gated == set(recorded["baseline"]), key
        assert set(recorded["fingerprint"]) >= {"python", "python_build", "cryptography", "openssl", "valgrind", "machine"}


def test_a_case_regresses_when_head_over_base_passes_its_limit() -> None:
    def measured(**per_call: float) -> dict[str, object]:
        return {"per_call": {"raw verify RS256-2048": 1000.0, **per_call}, "processes": {"floor imports": 10, gate.COLD_START: 100}}

    base = measured(a=1000.0, b=1000.0)
    head = measured(a=1010.0, b=1010.1, c=5.0)
    rows = {row["name"]: row for row in gate.compare(head, base, {"default": 0.01, "b": 0.02})}
    assert rows["a"]["verdict"] == "ok" and rows["a"]["change"] == pytest.approx(0.01)  # at the limit: within
    assert rows["b"]["verdict"] == "ok"  # its own limit, 2%
    assert rows["c"]["verdict"] == "new" and rows["c"]["base"] is None
    assert rows[gate.COLD_START]["change"] == 0.0
    assert "raw verify RS256-2048" not in rows
    over = {row["name"]: row for row in gate.compare(measured(a=1010.2), base, {})}
    assert over["a"]["verdict"] == "regression"  # the default limit: +1%


def test_an_unknown_base_fails_at_once_with_status_2() -> None:
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "bench.gate", "--base", "no-such-ref-anywhere", "--json", os.devnull],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=gate.ROOT,
    )
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.strip().splitlines()[-1].startswith("bench-check could not run:")
    assert time.monotonic() - started < 60


def test_results_of_two_environments_are_not_compared(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps({"fingerprint": {"python": "3.11.7"}, "instructions": {"x": 1}}))
    second.write_text(json.dumps({"fingerprint": {"python": "3.12.1"}, "instructions": {"x": 1}}))
    assert gate.main(["--compare", str(first), str(second)]) == 2


def test_the_summary_names_the_regression_and_where_its_cost_moved() -> None:
    row = {"function": "Authorizer.decide", "where": "fastauthz/authorizer.py:231", "calls": 0.0, "self": 41.0, "inclusive": 41.0}
    result = {
        "conclusion": "regression",
        "head": "a" * 40,
        "base": "b" * 40,
        "fingerprint": {"python": "3.11.7"},
        "fingerprint_id": "abc",
        "comparison": [
            {
                "name": "handler, repeated token (cache hit)",
                "base": 100.0,
                "head": 120.0,
                "change": 0.2,
                "limit": 0.01,
                "verdict": "regression",
            }
        ],
        "moved": {"handler, repeated token (cache hit)": [row]},
        "budget": None,
    }
    text = gate.markdown(result)
    assert "| handler, repeated token (cache hit) | 100 | 120 | +20.00% | +1.0% | **regression** |" in text
    assert "Authorizer.decide +41.0 lines/call inclusive" in text and "fastauthz/authorizer.py:231" in text
    assert "none recorded for this environment" in text


def test_the_counted_process_builds_every_case_and_proves_each_answer(tmp_path: pytest.TempPathFactory) -> None:
    """What valgrind runs, in the gate's own environment, without valgrind: the warm-up checks
    that each fresh token is allowed and each refusal is refused for its own reason."""
    with gate.FixedPaths() as paths:
        counter = gate.Counter("valgrind-not-used", tmp_path, paths)  # type: ignore[arg-type]
        completed = subprocess.run(
            [str(paths.python), "-S", "-m", "bench.workload", "all", "1"],
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


def test_where_the_cost_moved_reads_the_real_workloads_counts(tmp_path: Path) -> None:
    """bench.moved in the gate's own environment (the authorizer logs to stdout too): the same code on
    both sides moves nothing."""
    with gate.FixedPaths({"head": gate.ROOT, "base": gate.ROOT}) as paths:
        counters = {side: gate.Counter("valgrind-not-used", tmp_path, paths, side) for side in ("head", "base")}
        facts = {side: {"lead_in": 8, "window": 16} for side in counters}
        assert gate.where_it_moved(counters, facts, "handler, repeated token (cache hit)") == []


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_the_c_level_view_names_cpythons_functions(tmp_path: Path) -> None:
    with gate.FixedPaths({"head": gate.ROOT}) as paths:
        counter = gate.Counter(str(shutil.which("valgrind")), tmp_path, paths, "head")
        costs = counter.functions(["-m", "bench.workload", "handler, repeated token (cache hit)", "2"])
    assert costs["Python/ceval.c:_PyEval_EvalFrameDefault"] > 1_000_000  # file:function, recursion folded
    assert all(":" in name and "'" not in name.rsplit(":", 1)[1] for name in costs)
