"""What the gate prints and writes: the tables, and bench/results/summary.md (also appended to
$GITHUB_STEP_SUMMARY), ready to post as a pull request comment."""

from __future__ import annotations

import os
from typing import Any

from bench.counting import HERE
from bench.fingerprint import describe

SUMMARY = HERE / "results" / "summary.md"


def table(verdict: dict[str, Any], measured: dict[str, Any], budgets: dict[str, Any]) -> str:
    baselines = budgets.get("baseline", {})
    lines = [f"{'case':<44} {'instructions':>13} {'ratio':>8} {'baseline':>9} {'limit':>8}  verdict"]
    per_call = {**measured["per_call"], **measured["processes"]}
    for case in verdict["cases"]:
        name = case["name"]
        baseline = baselines.get(name)
        verdict_word = "ok" if case["value"] <= case["limit"] else ("FAIL: no baseline" if baseline is None else "FAIL: over its limit")
        lines.append(
            f"{name:<44} {per_call[name]:>13,.0f} {case['value']:>8.4f} {baseline if baseline is not None else '—':>9} "
            f"{case['limit']:>8.4f}  {verdict_word}"
        )
    for name, value in measured["per_call"].items():
        if name.startswith("raw verify"):
            lines.append(f"{name:<44} {value:>13,.0f} {'(floor)':>8}")
    lines.append(f"{'floor imports':<44} {measured['processes']['floor imports']:>13,} {'(floor)':>8}")
    return "\n".join(lines)


def comparison_table(rows: list[dict[str, Any]], moved: dict[str, list[dict[str, Any]]]) -> str:
    from bench.moved import format_row

    lines = [f"{'case':<44} {'base':>13} {'head':>13} {'change':>8} {'limit':>7}  verdict"]
    for row in rows:
        base = f"{row['base']:,.0f}" if row["base"] is not None else "—"
        change = f"{row['change']:+.2%}" if row["change"] is not None else "—"
        lines.append(f"{row['name']:<44} {base:>13} {row['head']:>13,.0f} {change:>8} {row['limit']:>+7.1%}  {row['verdict']}")
        for moved_row in moved.get(row["name"], []):
            lines.append(f"    {format_row(moved_row)}")
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    """bench/results/summary.md: the comparison (with where the cost moved), the budget check, and
    the environment; ready to post as a pull request comment."""
    from bench.moved import format_row

    lines = [f"## Instruction gate: {result['conclusion']}", ""]
    lines.append(
        f"head `{result['head'][:12]}`"
        + (f" against base `{result['base'][:12]}`" if result.get("base") else "")
        + f"; {describe(result['fingerprint'])}"
    )
    lines.append("")
    if result.get("comparison"):
        lines += ["| case | base | head | change | limit | verdict |", "| --- | ---: | ---: | ---: | ---: | --- |"]
        for row in result["comparison"]:
            base = f"{row['base']:,.0f}" if row["base"] is not None else "—"
            change = f"{row['change']:+.2%}" if row["change"] is not None else "—"
            verdict = {"ok": "ok", "new": "new (no base)", "regression": "**regression**"}[row["verdict"]]
            lines.append(f"| {row['name']} | {base} | {row['head']:,.0f} | {change} | {row['limit']:+.1%} | {verdict} |")
        for name, rows in (result.get("moved") or {}).items():
            lines += ["", f"**Where the cost of _{name}_ moved** (Python line events per call, base → head):", ""]
            lines += [f"- `{format_row(row)}`" for row in rows] or ["- no Python-level change: the cost moved in C (below)"]
        c_level = result.get("c_level") or {}
        if c_level.get("functions"):
            lines += ["", f"**C functions whose instructions per call moved most** in _{c_level['case']}_ (callgrind, self cost):", ""]
            lines += [f"- `{row['function']}` {row['change']:+,.0f}" for row in c_level["functions"]]
        lines.append("")
    budget = result.get("budget")
    if budget is None:
        lines.append(f"Budgets: none recorded for this environment (`{result['fingerprint_id']}`): not checked.")
    else:
        over = [case["name"] for case in budget["cases"] if case["value"] > case["limit"]]
        lines.append(f"Budgets of this environment: {'all within' if not over else 'over in ' + ', '.join(over)}.")
    return "\n".join(lines) + "\n"


def write_summary(result: dict[str, Any]) -> None:
    text = markdown(result)
    SUMMARY.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY.write_text(text)
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        with open(step_summary, "a") as handle:
            handle.write(text)
