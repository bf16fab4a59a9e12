"""`make bench-check`: the CI regression gate, on instruction counts (exact), not seconds (noisy).

Each case runs in fresh interpreters under valgrind (`cachegrind --cache-sim=no`, which counts
instructions and nothing else) as `bench/workload.py CASE CALLS`, twice: with LEAD_IN calls and
with LEAD_IN + WINDOW calls. Instructions per call are the difference over WINDOW: set-up, imports,
start-up and the one-off work of the first calls cancel out (bench/workload.py says why).

Two verdicts, each exact on its own terms:
  - against a base commit (`--base REF`, in CI the pull request's merge-base or the previous commit
    on main): REF is checked out in a worktree and both commits' cases are counted in the same run,
    on the same interpreter, interleaved; a case fails when head/base exceeds 1 + its limit (the
    [compare] table of bench/budgets.toml, +1% by default). No committed figure is involved, so any
    runner and any Python build gives the same answer for the same change.
  - against the budgets recorded for this environment (bench/fingerprint.py: Python build,
    cryptography and OpenSSL, valgrind, architecture), the long-run guard: each case as a ratio to
    the raw `cryptography` verify of the same fixtures (the cold start: to a process that imports only
    the floor's modules), failing more than `tolerance` above its baseline. An environment with no
    recorded budgets says so and skips this check.
For each case over its limit against the base, the Python functions whose cost moved are named
(bench/moved.py), in the terminal and in bench/results/summary.md (and $GITHUB_STEP_SUMMARY).

Why instructions: the same binary, inputs and environment execute the same instructions whatever
else the machine is doing, so two runs agree to about 0.001% where wall-clock ratios on a shared
2-core runner wander by 5-10%. What they miss: cache misses and branch mispredictions, which is why
`make bench` (seconds, peers in the same run) stays the report people read.

    python -m bench.gate                    # this commit, against this environment's budgets
    python -m bench.gate --base HEAD~1      # and against HEAD~1, counted in the same run
    python -m bench.gate --baseline         # lower (or first record) this environment's budgets
    python -m bench.gate --env FASTAUTHZ_REFUSE_WITH=deny   # what a setting costs: the same table, no verdict
    python -m bench.gate --compare A.json B.json            # two saved results (refused across environments)

Exit status: 0 within limits; 1 a regression; 2 the harness could not run (no valgrind, an unknown
ref, a base that does not build, results of two environments). The last line says which and why.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.budgets import (
    BUDGETS,
    COLD_UNIT,
    DEFAULT_COMPARE_LIMIT,
    RATIO_UNIT,
    compare,
    environment_budgets,
    floor_of,
    judge,
    load_budgets,
    ratchet,
    ratios,
    write_budgets,
)
from bench.counting import COLD_START, ROOT, STAGE, Counter, FixedPaths, HarnessError, base_checkout, head_commit, measure
from bench.fingerprint import describe, differences, fingerprint, fingerprint_id
from bench.gate_report import SUMMARY, comparison_table, markdown, table, write_summary

RESULTS = Path(__file__).resolve().parent / "results" / "check.json"
__all__ = [
    "BUDGETS",
    "COLD_START",
    "COLD_UNIT",
    "RATIO_UNIT",
    "ROOT",
    "STAGE",
    "Counter",
    "FixedPaths",
    "compare",
    "environment_budgets",
    "floor_of",
    "judge",
    "main",
    "markdown",
    "ratchet",
    "ratios",
    "where_it_moved",
    "write_budgets",
]


def where_it_moved(counters: dict[str, Counter], facts: dict[str, dict[str, Any]], case: str) -> list[dict[str, Any]]:
    """The Python functions whose per-call counts moved most between base and head (bench/moved.py)."""
    from bench.moved import moved

    profiles = {}
    for side, counter in counters.items():
        lead_in, window = facts[side]["lead_in"], facts[side]["window"]
        output = counter.python(["-m", "bench.moved", case, str(lead_in), str(window)])
        try:
            profiles[side] = json.loads(output.strip().splitlines()[-1])  # its last line (the authorizer logs to stdout too)
        except (ValueError, IndexError):
            raise HarnessError(f"the {side} commit's bench.moved printed no counts for {case!r}") from None
    return moved(profiles["base"], profiles["head"])


def c_functions_moved(counters: dict[str, Counter], facts: dict[str, dict[str, Any]], case: str, top: int = 6) -> list[dict[str, Any]]:
    """The C functions whose instructions per call moved most (callgrind, self cost, window minus
    lead-in on each side): where the cost lands inside CPython and the libraries."""
    per_call = {}
    for side, counter in counters.items():
        lead_in, window = facts[side]["lead_in"], facts[side]["window"]
        lead, full = (counter.functions(["-m", "bench.workload", case, str(calls)]) for calls in (lead_in, lead_in + window))
        per_call[side] = {name: (full.get(name, 0) - lead.get(name, 0)) / window for name in {*lead, *full}}
    rows = [
        {"function": name, "change": per_call["head"].get(name, 0.0) - per_call["base"].get(name, 0.0)}
        for name in {*per_call["head"], *per_call["base"]}
    ]
    rows = [row for row in rows if abs(row["change"]) >= 1.0]
    rows.sort(key=lambda row: (-abs(row["change"]), row["function"]))
    return rows[:top]


def compare_files(first: Path, second: Path) -> int:
    """`--compare A.json B.json`: two saved results, refused across environments."""
    results = [json.loads(path.read_text()) for path in (first, second)]
    fingerprints = [result.get("fingerprint") or {} for result in results]
    changed = differences(fingerprints[0], fingerprints[1])
    if changed:
        raise HarnessError(f"{first} and {second} come from different environments, so their counts do not compare: {'; '.join(changed)}")
    before = {name: value for name, value in results[0]["instructions"].items()}
    after = {name: value for name, value in results[1]["instructions"].items()}
    for name in after:
        if name in before and not name.startswith("raw verify"):
            print(f"{name:<44} {before[name]:>13,.0f} {after[name]:>13,.0f} {after[name] / before[name] - 1:>+8.2%}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", metavar="REF", help="also count REF (a commit, branch or tag) in the same run, and judge head/base")
    parser.add_argument(
        "--baseline", action="store_true", help="lower this environment's baselines to this commit's counts (never raises one)"
    )
    parser.add_argument(
        "--reset", action="store_true", help="with --baseline: write this commit's counts as they are (new fixtures, a new runner image)"
    )
    parser.add_argument("--json", default=str(RESULTS), help="where to write the result (default: %(default)s)")
    parser.add_argument("--history", metavar="FILE", help="append this run's figures, one JSON line (commit, date, fingerprint, cases)")
    parser.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"), help="compare two saved results instead of counting")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="valgrind runs at once")
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="configure the measured authorizer (repeatable): a report of what a setting costs, never a verdict",
    )
    args = parser.parse_args(argv)
    if args.reset and not args.baseline:
        parser.error("--reset goes with --baseline")
    if args.env and (args.baseline or args.base):
        parser.error("--env measures a variant: no baseline and no comparison")
    try:
        if args.compare:
            return compare_files(Path(args.compare[0]), Path(args.compare[1]))
        return run(args)
    except HarnessError as error:
        print(f"\nbench-check could not run: {error}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    started = time.monotonic()
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise HarnessError("valgrind is not installed (Debian/Ubuntu: apt-get install valgrind)")
    environment = fingerprint(valgrind)
    key = fingerprint_id(environment)
    budgets = load_budgets()
    with tempfile.TemporaryDirectory(prefix="fastauthz-gate-") as work:
        workdir = Path(work)
        checkouts = {"head": ROOT}
        base_commit = None
        try:
            if args.base:
                checkouts["base"], base_commit = base_checkout(args.base, workdir)
            with FixedPaths(checkouts) as paths:
                runs = itertools.count(1)
                counters = {side: Counter(valgrind, workdir, paths, side, runs) for side in checkouts}
                if args.env:
                    counters["head"].environ["GATE_AUTHORIZER_ENV"] = json.dumps(dict(item.split("=", 1) for item in args.env))
                # The floors serve only the budgets' ratios: with a base and no budgets here, they are not counted.
                floors = bool(args.baseline or args.env or not args.base or environment_budgets(budgets, key) is not None)
                measured = measure(counters, args.jobs, floors)
                rows = compare(measured["head"], measured["base"], budgets.get("compare") or {}) if args.base else []
                regressions = [row["name"] for row in rows if row["verdict"] == "regression"]
                facts = {side: {"lead_in": measured[side]["lead_in"], "window": measured[side]["window"]} for side in measured}
                moved = {}
                for name in regressions:
                    if name == COLD_START:  # a whole process: its cost is in imports, not in one function's calls
                        continue
                    try:
                        moved[name] = where_it_moved(counters, facts, name)
                    except HarnessError as error:  # the verdict stands without it; say why it is missing
                        print(f"where the cost of {name!r} moved: not found ({error})", file=sys.stderr)
                        moved[name] = []
                # The C-level view for the case that moved most (four callgrind runs: not for every case).
                worst = max((row for row in rows if row["name"] in moved), key=lambda row: row["change"], default=None)
                c_level: dict[str, Any] = {}
                if worst is not None:
                    try:
                        c_level = {"case": worst["name"], "functions": c_functions_moved(counters, facts, worst["name"])}
                    except HarnessError as error:
                        print(f"the C-level view of {worst['name']!r}: not taken ({error})", file=sys.stderr)
        finally:
            if args.base:
                subprocess.run(
                    ["git", "worktree", "remove", "--force", str(workdir / "base-checkout")], cwd=ROOT, capture_output=True, check=False
                )
    values = ratios(measured["head"]) if "floor imports" in measured["head"]["processes"] else {}
    if args.baseline:
        recorded = (budgets.setdefault("environments", {})).get(key, {})
        kept = {} if args.reset else recorded.get("baseline", {})
        budgets["environments"][key] = {
            "fingerprint": environment,
            "baseline": {name: value for name, (value, _) in ratchet(values, kept).items()},
        }
        budgets.setdefault("compare", {"default": DEFAULT_COMPARE_LIMIT})
        write_budgets(budgets)
        budgets = load_budgets()
        print(f"baselines of this environment ({key}: {describe(environment)}) written to {BUDGETS.relative_to(ROOT)}")
    recorded_budgets = environment_budgets(budgets, key)
    budget = judge(values, recorded_budgets) if recorded_budgets is not None else None
    head = head_commit()
    result: dict[str, Any] = {
        "head": head,
        "base": base_commit,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "fingerprint": environment,
        "fingerprint_id": key,
        "instructions": {**{case: round(count) for case, count in measured["head"]["per_call"].items()}, **measured["head"]["processes"]},
        "ratios": {name: round(value, 6) for name, (value, _) in values.items()},
        "comparison": rows,
        "moved": moved,
        "c_level": c_level,
        "budget": budget,
        # For bench/report.py (make bench): the head's cases against this environment's budgets.
        "cases": (budget or judge(values, {"baseline": {}}))["cases"],
        "seconds": round(time.monotonic() - started, 1),
    }
    # The verdict: the comparison with the base where there is one, and this environment's budgets where recorded.
    over_budget = [case["name"] for case in budget["cases"] if case["value"] > case["limit"]] if budget is not None else []
    failed = bool(regressions or over_budget) and not args.env
    result["ok"] = not failed
    result["conclusion"] = "report only (--env)" if args.env else ("regression" if failed else "within limits")
    if rows:
        print(comparison_table(rows, moved))
        if c_level:
            print(f"\nC functions whose instructions per call moved most in {c_level['case']!r} (callgrind, self):")
            print("\n".join(f"    {row['function']} {row['change']:+,.0f}" for row in c_level["functions"]))
        print()
    if budget is not None:
        print(table(budget, measured["head"], recorded_budgets or {}))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    write_summary(result)
    if args.history:
        from bench.history import append

        append(Path(args.history), result)
    print(f"\nenvironment {key}: {describe(environment)}; {result['seconds']:.0f} s; summary in {SUMMARY.relative_to(ROOT)}")
    if args.env:
        print(f"with {' '.join(args.env)}: a report, not a verdict (the gate judges the default configuration)")
        return 0
    if budget is None:
        print(f"no budgets recorded for this environment ({key}): that check is skipped (make bench-baseline records them)")
    lines = []
    if regressions:
        lines.append(f"{len(regressions)} case(s) regressed against {args.base}: {', '.join(regressions)}")
    if over_budget:
        lines.append(f"{len(over_budget)} case(s) over this environment's budgets: {', '.join(over_budget)}")
    if not lines:
        judged = (
            (f"within their limits against {args.base}" if rows else "")
            + (" and " if rows and budget else "")
            + ("within this environment's budgets" if budget else "")
        )
        lines.append(f"all cases {judged or 'measured (nothing to judge: no base and no budgets)'}")
    print("\n".join(lines))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
