"""The one table of metrics (fastauthz.metrics.METRICS): every name the package counts is in it,
everything in it is counted somewhere, the README lists exactly it, and a flush writes them."""

from __future__ import annotations

import ast
import json

from fastauthz.metrics import METRIC_NAMES, METRICS, Metrics
from testkit.source import package_nodes
from tools.readme import README, generated


def names_counted() -> set[str]:
    """Constant keys of `counts[...]` (the one idiom), "Rejected." + reason, and EMF definitions' names."""
    found: set[str] = set()
    for node in package_nodes():
        if isinstance(node, ast.Subscript):
            holder = node.value.attr if isinstance(node.value, ast.Attribute) else getattr(node.value, "id", "")
            if holder.endswith("counts") or holder == "values":
                key = node.slice
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    found.add(key.value)
                elif isinstance(key, ast.BinOp) and isinstance(key.left, ast.Constant):
                    found.add(f"{key.left.value!s}<reason>")
                elif isinstance(key, ast.Name):  # counts[name] with name = "Rejected." + reason
                    found.add("Rejected.<reason>")
    return found


def test_every_metric_the_package_counts_is_in_the_table_and_the_other_way_round() -> None:
    counted = names_counted()
    assert len(counted) >= 8, "the scan found too few count sites: it is broken"
    assert counted == METRIC_NAMES, (sorted(counted - METRIC_NAMES), sorted(METRIC_NAMES - counted))


def test_the_readme_lists_exactly_the_table() -> None:
    text = README.read_text()
    assert generated(text) == text, "run `make readme`"
    for name, _, _ in METRICS:
        assert f"| `{name}` |" in text


def test_a_flush_writes_one_emf_record_with_the_counts_and_empties_them_in_place() -> None:
    lines: list[str] = []
    aggregate = Metrics("fastauthz-test", 60.0, True, lines.append, 0.0)
    counts = aggregate.counts  # the hot path binds it once: it must stay the live dict
    counts["Allow"] = counts.get("Allow", 0) + 1
    aggregate.timed_verify(0.00002)
    aggregate.flush(61.0)
    record = json.loads(lines[0])
    assert record["Allow"] == 1 and record["VerifyTime"] == 20.0
    assert record["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "fastauthz-test"
    assert aggregate.counts is counts and counts == {}
