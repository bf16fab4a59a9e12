"""The README's first-screen figures are the last `make bench`'s results, as bench/report.py writes them."""

from __future__ import annotations

from bench.report import HEADLINE, README, headline, load_results


def test_the_readme_headline_is_what_the_committed_results_say() -> None:
    results = load_results()
    text = README.read_text()
    start, end = (text.index(marker) for marker in HEADLINE)
    assert text[start + len(HEADLINE[0]) : end].strip() == headline(results)


def test_the_headline_reads_every_figure_from_the_results() -> None:
    results = load_results()
    results["node"] = {**results["node"], "rows": [{**row, "ratio": 9.87} for row in results["node"]["rows"]]}
    assert "9.87× the time of aws-jwt-verify on Node" in headline(results)
