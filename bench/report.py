"""Turn saved benchmark results into bench/results/report.md, bench/results/chart.png and the
README's benchmark section (between <!-- bench:start --> and <!-- bench:end -->).

Inputs in bench/results/: check.json (the instruction gate, bench/gate.py), per_invocation.json
(pytest-benchmark), ratios.json (interleaved wall-clock ratios), coldstart.json, runtime_cost.json.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE.parent / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
LIBRARIES = ("cryptography", "orjson", "joserfc", "PyJWT", "python-jose", "authlib", "pytest-benchmark", "awslambdaric")


def label(bench: dict[str, Any]) -> str:
    info = bench["extra_info"]
    importing = bench["group"].startswith("key-set import")
    if info.get("role") == "floor":
        return "cryptography key objects from the JWK numbers (floor)" if importing else "raw cryptography verify (floor)"
    if info.get("role") == "fastauthz":
        if importing:
            return "**fastauthz** load_key_set (JSON bytes in)"
        return "**fastauthz** handler" + (f", {info['case']}" if info.get("case") else "")
    return str(info.get("peer", bench["name"]))


def per_invocation_rows(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for bench in document["benchmarks"]:
        per_token = bench["stats"]["median"] / bench["extra_info"].get("batch", 1)
        groups.setdefault(bench["group"], []).append({"label": label(bench), "role": bench["extra_info"].get("role"),
                                                      "per_token_us": per_token * 1e6, "correct": bench["extra_info"].get("correct")})
    for rows in groups.values():
        floor = next((r["per_token_us"] for r in rows if r["role"] == "floor"), None)
        peers = [r["per_token_us"] for r in rows if r["role"] == "peer"]
        best_peer = min(peers) if peers else None
        for row in rows:
            row["ratio_floor"] = row["per_token_us"] / floor if floor else None
            row["ratio_best_peer"] = row["per_token_us"] / best_peer if best_peer and row["role"] != "floor" else None
        rows.sort(key=lambda r: (r["role"] != "floor", r["per_token_us"]))
    return groups


def markdown_groups(groups: dict[str, list[dict[str, Any]]], only: list[str] | None = None) -> str:
    out = []
    for group, rows in groups.items():
        if only and group not in only:
            continue
        unit = "per key set" if group.startswith("key-set import") else "per token"
        out.append(f"**{group}**\n\n| implementation | median {unit} | ops/s | × floor | × best peer | correct |\n| --- | --- | --- | --- | --- | --- |")
        for row in rows:
            ratio = f"{row['ratio_floor']:.2f}" if row["ratio_floor"] else "—"
            best = f"{row['ratio_best_peer']:.2f}" if row["ratio_best_peer"] else "—"
            out.append(f"| {row['label']} | {row['per_token_us']:.1f} µs | {1e6 / row['per_token_us']:,.0f} | {ratio} | {best} | "
                       f"{'yes' if row['correct'] else 'NO'} |")
        out.append("")
    return "\n".join(out)


def markdown_gate(check: dict[str, Any]) -> str:
    counts = check.get("instructions", {})
    rows = ["| case | instructions | ratio | CI limit | |", "| --- | --- | --- | --- | --- |"]
    for case in check["cases"]:
        count = counts.get(case["name"])
        rows.append(f"| {case['name']} | {f'{count:,}' if count is not None else '—'} | {case['value']:.4f} {case['unit'].split(' (')[0]} | "
                    f"≤ {case['limit']:.4f} | {'ok' if case['value'] <= case['limit'] else '**over**'} |")
    rows += [f"| {name} (floor) | {count:,} | | | |" for name, count in counts.items() if name.startswith("raw verify") or name == "floor imports"]
    return "\n".join(rows)


def markdown_ratios(document: dict[str, Any]) -> str:
    rows = ["| case | × raw verify (time) | median | raw verify |", "| --- | --- | --- | --- |"]
    rows += [f"| {row['case']} | {row['ratio']:.3f} | {row['median_us']:.2f} µs | {row['floor_us']:.2f} µs |" for row in document["rows"]]
    return "\n".join(rows)


def chart(groups: dict[str, list[dict[str, Any]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    verify_groups = [g for g in groups if g.startswith("verify ")]
    figure, axes = plt.subplots(len(verify_groups), 1, figsize=(9, 2.1 * len(verify_groups)), sharex=True)
    for axis, group in zip(axes, verify_groups, strict=True):
        rows = [r for r in groups[group] if r["ratio_floor"]]
        names = [r["label"].replace("**", "") for r in rows]
        values = [r["ratio_floor"] for r in rows]
        colours = ["#999999" if r["role"] == "floor" else "#d62728" if r["role"] == "fastauthz" else "#1f77b4" for r in rows]
        axis.barh(names, values, color=colours)
        axis.invert_yaxis()
        axis.set_title(group, fontsize=9, loc="left")
        axis.tick_params(labelsize=7)
        for y, value in enumerate(values):
            axis.text(value, y, f" {value:.2f}×", va="center", fontsize=7)
    axes[-1].set_xlabel("time per token ÷ raw cryptography verify of the same token (lower is better)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def reproducing(document: dict[str, Any] | None) -> str:
    cpu = "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = []
    for library in LIBRARIES:
        try:
            versions.append(f"{library} {metadata.version(library)}")
        except metadata.PackageNotFoundError:
            pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE).stdout.strip()
    return (f"Reproducing: `make bench` (writes bench/results/ and this section), `make bench-check` (the CI gate). Measured on {cpu}, "
            f"{platform.machine()}, Python {sys.version.split()[0]}, {', '.join(versions)}; commit {commit or 'unknown'}. "
            "Shared machines drift up to ~1.6× between runs: compare ratios measured in the same run, not absolute times.")


def main() -> int:
    invocation = json.loads((RESULTS / "per_invocation.json").read_text()) if (RESULTS / "per_invocation.json").exists() else None
    check = json.loads((RESULTS / "check.json").read_text()) if (RESULTS / "check.json").exists() else None
    wall = json.loads((RESULTS / "ratios.json").read_text()) if (RESULTS / "ratios.json").exists() else None
    cold = json.loads((RESULTS / "coldstart.json").read_text()) if (RESULTS / "coldstart.json").exists() else None
    runtime = json.loads((RESULTS / "runtime_cost.json").read_text()) if (RESULTS / "runtime_cost.json").exists() else None
    node = json.loads((RESULTS / "node_per_token.json").read_text()) if (RESULTS / "node_per_token.json").exists() else None
    groups = per_invocation_rows(invocation) if invocation else {}
    sections = []
    if check:
        sections.append("The CI gate (`make bench-check`: instructions per call under valgrind, exact; limits from "
                        "`bench/budgets.toml`):\n\n" + markdown_gate(check))
    if wall:
        sections.append("The same cases in seconds (interleaved with the raw verify round by round, medians; a report, "
                        "never a CI verdict):\n\n" + markdown_ratios(wall))
    if groups:
        sections.append("Per invocation, peers in the same run (pytest-benchmark medians; every row checked to accept a valid "
                        "token and refuse a tampered one before timing):\n\n"
                        + markdown_groups(groups, ["verify RS256-2048", "verify ES256", "verify EdDSA", "early reject RS256-2048",
                                                   "handler $connect RS256-2048", "key-set import (4 keys)"]))
        chart(groups, RESULTS / "chart.png")
        sections.append("![ratio to the floor per algorithm](bench/results/chart.png)")
    if cold:
        from bench.coldstart import table

        sections.append(f"Cold start, process start to first Allow ({cold['runs']} interleaved fresh processes per scenario, medians; "
                        f"fastauthz from `{cold['package']}` unpacked as Lambda does, Node {cold['node']}; JWKS over HTTPS on "
                        "127.0.0.1):\n\n" + table(cold))
    if node:
        from bench.node_per_token import table as node_table

        sections.append(f"Per token against aws-jwt-verify on Node {node.get('node', '')} (the same fixture tokens, "
                        f"{node.get('rounds')} interleaved rounds of {node.get('batch')}, medians):\n\n" + node_table(node))
    if runtime:
        from bench.runtime_cost import table as runtime_table

        sections.append("Inside Lambda's Python runtime (`awslambdaric`'s own request loop, the Runtime API's HTTP post left out; "
                        "interleaved with the raw verify, medians):\n\n" + runtime_table(runtime["rows"]))
    sections.append(reproducing(invocation))
    body = "\n\n".join(sections)
    RESULTS.mkdir(exist_ok=True)
    full = body if not groups else body + "\n\nAll groups:\n\n" + markdown_groups(groups)
    (RESULTS / "report.md").write_text("# fastauthz benchmarks\n\n" + full + "\n")
    from fastauthz.dev.readme import replace_section

    README.write_text(replace_section(README.read_text(), START, END, body))
    print("wrote bench/results/report.md, bench/results/chart.png and the README benchmark section")
    return 0


if __name__ == "__main__":
    sys.exit(main())
