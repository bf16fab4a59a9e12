"""The gate's verdicts: a case against its base (head/base within its limit) and against this
environment's budgets (a ratio to the floor within the tolerance), and bench/budgets.toml itself."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

from bench.counting import COLD_START, HERE

BUDGETS = HERE / "budgets.toml"
DEFAULT_TOLERANCE = 0.02
DEFAULT_COMPARE_LIMIT = 0.01
RATIO_UNIT = "x raw verify (instructions per call)"
COLD_UNIT = "x floor imports (instructions per process)"


def floor_of(case: str) -> str:
    """The raw verify a case is compared with: its own algorithm's, else RS256's."""
    match = re.fullmatch(r"handler, fresh (.+) token", case)
    return f"raw verify {match.group(1) if match else 'RS256-2048'}"


# Where the measured processes see the checkouts, their libraries and the interpreter, whatever the
# checkouts' own locations: the same paths in every run. Each path string a process allocates (sys.path,
# every module's __file__ and code objects' co_filename) shifts where later objects land, and so which
# names collide in CPython's method cache: measured, the same commit counted 18,987 instructions per
# HTTP API cache hit from /tmp/ci.Xl8F and 19,486 from /tmp/tmp.yqmkDyXztD, over its 2% limit.


def ratios(measured: dict[str, Any]) -> dict[str, tuple[float, str]]:
    """{case: (ratio, unit)} for every gated case."""
    per_call = measured["per_call"]
    result = {case: (per_call[case] / per_call[floor_of(case)], RATIO_UNIT) for case in per_call if not case.startswith("raw verify")}
    processes = measured["processes"]
    result[COLD_START] = (processes[COLD_START] / processes["floor imports"], COLD_UNIT)
    return result


def judge(values: dict[str, tuple[float, str]], budgets: dict[str, Any]) -> dict[str, Any]:
    """Against one environment's budgets ({"tolerance", "baseline"}): a case over baseline x (1 + tolerance) fails."""
    tolerance = float(budgets.get("tolerance", DEFAULT_TOLERANCE))
    baselines: dict[str, float] = budgets.get("baseline", {})
    cases: list[dict[str, Any]] = []
    for name, (value, unit) in values.items():
        baseline = baselines.get(name)
        # A case with no baseline yet fails: a new case is gated from the commit that adds it.
        limit = round(baseline * (1 + tolerance), 6) if baseline is not None else 0.0
        cases.append({"name": name, "value": round(value, 6), "limit": limit, "unit": unit})
    return {"ok": all(case["value"] <= case["limit"] for case in cases), "cases": cases}


def counts(measured: dict[str, Any]) -> dict[str, float]:
    """Every gated figure in instructions: per call, and per process for the cold start."""
    return {**{case: value for case, value in measured["per_call"].items()}, COLD_START: measured["processes"][COLD_START]}


def compare(head: dict[str, Any], base: dict[str, Any], limits: dict[str, Any]) -> list[dict[str, Any]]:
    """Each case of the head: base and head instructions, head/base - 1, its limit and verdict
    ("ok", "regression", or "new" for a case the base does not have)."""
    default = float(limits.get("default", DEFAULT_COMPARE_LIMIT))
    rows = []
    base_counts = counts(base)
    for name, value in counts(head).items():
        if name.startswith("raw verify"):
            continue
        before = base_counts.get(name)
        limit = float(limits.get(name, default))
        if before is None:
            rows.append({"name": name, "base": None, "head": value, "change": None, "limit": limit, "verdict": "new"})
            continue
        change = round(value / before - 1, 9)  # rounded: 1010/1000 - 1 is 0.010000000000000009
        rows.append(
            {
                "name": name,
                "base": before,
                "head": value,
                "change": change,
                "limit": limit,
                "verdict": "ok" if change <= limit else "regression",
            }
        )
    return rows


def load_budgets(path: Path = BUDGETS) -> dict[str, Any]:
    return tomllib.loads(path.read_text()) if path.exists() else {}


def environment_budgets(budgets: dict[str, Any], key: str) -> dict[str, Any] | None:
    """This environment's {"tolerance", "baseline", "fingerprint"}, or None when none are recorded."""
    recorded = (budgets.get("environments") or {}).get(key)
    if recorded is None:
        return None
    return {"tolerance": budgets.get("tolerance", DEFAULT_TOLERANCE), **recorded}


def ratchet(values: dict[str, tuple[float, str]], baselines: dict[str, float]) -> dict[str, tuple[float, str]]:
    """The baselines `make bench-baseline` writes: each case's lower of its committed baseline and
    this commit's ratio, so budgets move down when a change wins and never up (a new case takes its
    first ratio). A cost that must rise is raised in budgets.toml by hand, its reason in the commit;
    new fixtures or a new runner image start over (`--baseline --reset`)."""
    return {name: (min(value, baselines.get(name, value)), unit) for name, (value, unit) in values.items()}


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a TOML basic string


def write_budgets(budgets: dict[str, Any], path: Path = BUDGETS) -> None:
    """bench/budgets.toml from {"tolerance", "compare": {...}, "environments": {id: {"fingerprint", "baseline"}}}."""
    lines = [
        "# The instruction gate's figures (make bench-check, bench/gate.py).",
        "#",
        "# [compare]: the limit on head/base - 1 per case when a commit is compared with its base in the same",
        "# run (make bench-check BASE=<ref>): `default` for every case, a case's own beside the reason.",
        "#",
        "# [environments.<fingerprint>]: the long-run guard, one table per environment (bench/fingerprint.py):",
        "# each case's ratio to the raw verify of the same fixtures (the cold start: to the floor imports), as",
        "# measured by `make bench-baseline`, which only ever lowers one (a cost that must rise is raised here",
        "# by hand, its reason in the commit). A case fails when its ratio exceeds baseline x (1 + tolerance).",
        "# An environment without a table is not judged this way (its first `make bench-baseline` records one).",
        "",
        f"tolerance = {float(budgets.get('tolerance', DEFAULT_TOLERANCE))}",
        "",
        "[compare]",
    ]
    compare_limits = budgets.get("compare") or {"default": DEFAULT_COMPARE_LIMIT}
    lines += [f"{_toml_string(name)} = {float(value)}" for name, value in compare_limits.items()]
    for key, recorded in (budgets.get("environments") or {}).items():
        lines += ["", f"[environments.{_toml_string(key)}]"]
        lines.append(
            "fingerprint = { " + ", ".join(f"{name} = {_toml_string(value)}" for name, value in recorded["fingerprint"].items()) + " }"
        )
        lines += ["", f"[environments.{_toml_string(key)}.baseline]"]
        lines += [f"{_toml_string(name)} = {float(value):.6f}" for name, value in recorded["baseline"].items()]
    path.write_text("\n".join(lines) + "\n")
