"""The load test's bookkeeping: each connect's class, rates over the run, exact percentiles, and the
counts of several workers merged as one run's (fastauthz/loadtest/results.py); the open model's
schedule (schedule.py). Neither imports locust, whose gevent would patch this test process."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastauthz.loadtest.results import Results, classify, judge, percentile
from fastauthz.loadtest.schedule import RateError, Schedule, parse_rate


@pytest.mark.parametrize(
    ("outcome", "expected", "kind_class"),
    [
        ("101", "101", "allowed as expected"),
        ("200", "200", "allowed as expected"),
        ("401", "401", "refused as expected"),
        ("401", "101", "wrong decision"),
        ("101", "401", "wrong decision"),
        ("200", "403", "wrong decision"),
        ("403", "401", "unexpected refusal status"),
        ("429", "101", "throttled (429)"),
        ("502", "101", "5xx"),
        ("500", "401", "5xx"),
        ("timeout", "101", "timeout"),
        ("error", "101", "connection error"),
        ("supply", "101", "token supply"),
        ("302", "101", "other status"),
    ],
)
def test_every_outcome_has_one_class(outcome: str, expected: str, kind_class: str) -> None:
    assert classify(outcome, expected) == kind_class


def test_rates_are_measured_over_the_span_of_their_events_not_whole_seconds() -> None:
    results = Results()
    results.open_model = True
    start = 1_000_000.7  # a run that starts and ends inside wall-clock seconds
    for i in range(100):  # 100 arrivals 0.02 s apart: 50 per second
        at = start + i * 0.02
        results.offered(at)
        results.started(at, lag=0.001 * (i == 40))
        results.completed(at + 0.005, "allowed as expected" if i % 10 else "throttled (429)", float(i))
    summary = results.summary()
    assert summary["offered_per_second"] == pytest.approx(50.0)
    assert summary["offered"] == 100 and summary["connects"] == 100 and summary["failures"] == 10
    assert summary["achieved_per_second"] == pytest.approx(89 / (start + 99 * 0.02 - (start + 0.02)), rel=1e-6)
    assert summary["classes"] == {"allowed as expected": 90, "throttled (429)": 10}
    assert summary["latency_ms"]["p50"] == 49.0 and summary["latency_ms"]["max"] == 99.0 and summary["latency_ms"]["p99.9"] == 99.0
    assert summary["schedule_lag_s"] == 0.001
    assert [row["offered"] for row in summary["timeline"]] == [15, 50, 35]  # the seconds .7-.98, 1.0-1.98, 2.0-2.68


def test_workers_counts_merge_into_the_run_they_were_part_of() -> None:
    whole, master = Results(), Results()
    master.open_model = False
    workers = [Results(), Results()]
    for i in range(40):
        at = 2_000_000.0 + i * 0.05
        for results in (workers[i % 2], whole):
            results.started(at, lag=0.3 if i == 7 else 0.0)
            results.completed(at, "refused as expected", float(i % 13))
    for worker in workers:
        master.merge(worker.take())
        assert not worker.take()["seconds"]  # what was taken is not sent twice
    merged, single = master.summary(), whole.summary()
    assert {k: merged[k] for k in ("connects", "latency_ms", "classes", "timeline", "offered_per_second")} == {
        k: single[k] for k in ("connects", "latency_ms", "classes", "timeline", "offered_per_second")
    }
    assert merged["schedule_lag_s"] == 0.3


@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200), st.floats(min_value=0.001, max_value=1))
def test_a_percentile_is_a_value_with_at_least_its_share_at_or_below_it(values: list[float], q: float) -> None:
    ordered = sorted(values)
    value = percentile(ordered, q)
    assert value in ordered
    assert sum(v <= value for v in ordered) >= q * len(ordered)


@pytest.mark.parametrize(
    ("rate", "scenario", "run_time", "arrivals"),
    [("50", "steady", 10, 500), ("10:30", "steady", 10, 200), ("40", "storm", 9, 40 * 3 + 2 * 10 * 3), ("20", "ramp", 10, 105)],
)
def test_the_schedule_offers_the_rate_integrated_over_the_run(rate: str, scenario: str, run_time: float, arrivals: int) -> None:
    schedule = Schedule(rate, run_time, scenario)
    assert len(list(schedule.arrivals())) == pytest.approx(arrivals, rel=0.03)


def test_processes_share_the_schedule_without_overlap() -> None:
    schedule = Schedule("30", 5)
    whole = list(schedule.arrivals())
    shares = [list(schedule.arrivals(i, 3)) for i in range(3)]
    assert sorted(t for share in shares for t in share) == whole
    assert all(abs(len(share) - len(whole) / 3) <= 1 for share in shares)


@pytest.mark.parametrize("text", ["", "fast", "0", "-5", "0:0", "5:x", "nan", "inf"])
def test_a_rate_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(RateError):
        parse_rate(text)
    assert parse_rate("5") == (5.0, 5.0) and parse_rate("0:100") == (0.0, 100.0)


def options(**overrides: float) -> SimpleNamespace:
    defaults = {"max_error_ratio": 0.01, "max_wrong": 0, "max_p95_ms": 0.0, "max_p99_ms": 0.0, "max_lag": 1.0, "max_in_flight": 100}
    return SimpleNamespace(**{**defaults, **overrides})


def run_of(classes: dict[str, int], lag: float = 0.0, not_started: int = 0) -> dict[str, object]:
    results = Results()
    results.open_model = True
    at = 3_000_000.0
    for name, count in classes.items():
        for _ in range(count):
            results.offered(at)
            results.started(at)
            results.completed(at, name, 10.0)
            at += 0.01
    results.started(at, lag)
    results.not_started = not_started
    return results.summary()


def test_a_run_passes_only_within_every_threshold() -> None:
    assert judge(run_of({"allowed as expected": 99, "timeout": 1}), options()) == []
    assert "failure ratio" in judge(run_of({"allowed as expected": 97, "throttled (429)": 3}), options())[0]
    assert "wrong decisions" in judge(run_of({"allowed as expected": 99, "wrong decision": 1}), options(), {"valid": 1})[0]
    assert "p99 10 ms > 5 ms" in judge(run_of({"allowed as expected": 10}), options(max_p99_ms=5))[0]
    assert judge(run_of({}), options()) == ["no connect was made"]


def test_a_generator_that_falls_behind_its_schedule_fails_the_run_and_says_why() -> None:
    (lagging,) = judge(run_of({"allowed as expected": 50}, lag=1.5), options())
    assert "fell 1.5 s behind its schedule" in lagging and "lower --rate or add workers" in lagging
    (dropped,) = judge(run_of({"allowed as expected": 50}, not_started=7), options())
    assert "7 scheduled connects not started" in dropped and "--max-in-flight" in dropped
