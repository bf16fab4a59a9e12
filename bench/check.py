"""`make bench-check`: the CI regression gate. Ratios to the in-run floor (interleaved rounds,
medians: noise cannot flip them), compared with bench/budgets.toml; exit 1 on any limit exceeded.

    python -m bench.check [--rounds 21] [--cold-runs 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

from bench import coldstart, ratios

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--cold-runs", type=int, default=20)
    parser.add_argument("--json", default=str(HERE / "results" / "check.json"))
    args = parser.parse_args(argv)
    budgets = tomllib.loads((HERE / "budgets.toml").read_text())
    measured = {row["case"]: row["ratio"] for row in ratios.measure(args.rounds)}
    cold = coldstart.measure(args.cold_runs, only=list(budgets["coldstart"]))
    measured.update({name: cold["scenarios"][name]["ratio_to_floor"] for name in budgets["coldstart"]})
    failures = 0
    rows = []
    print(f"{'case':<42} {'ratio':>7} {'limit':>7} {'target':>7}")
    for section in ("ratios", "coldstart"):
        for case, budget in budgets[section].items():
            ratio = measured[case]
            verdict = "ok"
            if ratio > budget["limit"]:
                verdict, failures = "FAIL: over its limit", failures + 1
            elif ratio > budget["target"]:
                verdict = "ok (TARGET MISSED)"
            rows.append({"case": case, "ratio": ratio, **budget, "verdict": verdict})
            print(f"{case:<42} {ratio:7.3f} {budget['limit']:7.2f} {budget['target']:7.2f}  {verdict}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"rows": rows}, indent=2))
    print(f"\n{failures} budget(s) exceeded" if failures else "\nall within their limits")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
