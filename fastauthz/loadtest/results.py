"""What a load test run measured, second by second, and what it concludes.

Each load-generating process (the local runner, or each worker) counts per wall-clock second: the
connects its schedule offered, the ones started, their outcomes by class and their latencies. Workers
send theirs to the master with locust's reports (`take`), the master merges them (`merge`), and the
verdict is computed from the merged counts: exact percentiles (every latency is kept, not locust's
rounded buckets), offered against achieved rate, the failure classes, and the schedule's lag.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

# Classes of a connect's outcome, in the order the summary lists them. The first two are the decisions
# the token kind must get; every other class is a failure.
CLASSES = (
    "allowed as expected",
    "refused as expected",
    "wrong decision",
    "unexpected refusal status",  # refused, but 401 where 403 was expected or the reverse
    "throttled (429)",
    "5xx",
    "timeout",
    "connection error",
    "other status",
    "token supply",  # the token source had nothing to give (a command that stopped working)
)
EXPECTED_CLASSES = CLASSES[:2]
ALLOWED = ("101", "200")
REFUSED = ("401", "403")


def classify(outcome: str, expected: str) -> str:
    """The class of one connect: `outcome` is the status answered ("101", "401", …), "timeout",
    "error" (no answer) or "supply" (no token to send); `expected` the status its kind must get."""
    if outcome == expected:
        return "allowed as expected" if outcome in ALLOWED else "refused as expected"
    if outcome == "timeout":
        return "timeout"
    if outcome == "error":
        return "connection error"
    if outcome == "supply":
        return "token supply"
    if (expected in ALLOWED and outcome in REFUSED) or (expected not in ALLOWED and outcome in ALLOWED):
        return "wrong decision"
    if outcome in REFUSED:
        return "unexpected refusal status"
    if outcome == "429":
        return "throttled (429)"
    if outcome.isdigit() and outcome.startswith("5"):
        return "5xx"
    return "other status"


class Second:
    __slots__ = ("classes", "latencies", "offered", "started")

    def __init__(self) -> None:
        self.offered = 0
        self.started = 0
        self.classes: dict[str, int] = defaultdict(int)
        self.latencies: list[float] = []


class Results:
    """Per-second counts of one process, or of the whole run once the master has merged its workers'."""

    def __init__(self) -> None:
        self.seconds: dict[int, Second] = defaultdict(Second)
        self.max_lag = 0.0  # seconds a connect started after its scheduled time (open model)
        self.lag_at = 0.0  # when (epoch) the worst lag was seen
        self.not_started = 0  # arrivals dropped because --max-in-flight connects were already open
        self.open_model = False
        self.spans: dict[str, list[float]] = {}  # "offered" / "started" / "achieved" -> [first, last] epoch seconds

    # -- counting ----------------------------------------------------------------------------------
    def _span(self, name: str, at: float) -> None:
        span = self.spans.get(name)
        if span is None:
            self.spans[name] = [at, at]
        else:
            span[0], span[1] = min(span[0], at), max(span[1], at)

    def offered(self, at: float) -> None:
        self.seconds[int(at)].offered += 1
        self._span("offered", at)

    def started(self, at: float, lag: float = 0.0) -> None:
        self.seconds[int(at)].started += 1
        self._span("started", at)
        if lag > self.max_lag:
            self.max_lag, self.lag_at = lag, at

    def completed(self, at: float, kind_class: str, latency_ms: float) -> None:
        second = self.seconds[int(at)]
        second.classes[kind_class] += 1
        second.latencies.append(round(latency_ms, 2))
        if kind_class in EXPECTED_CLASSES:
            self._span("achieved", at)

    # -- distributed runs ---------------------------------------------------------------------------
    def take(self) -> dict[str, Any]:
        """What has been counted since the last take, as plain data for locust's report to the master."""
        data = {
            "seconds": {
                str(at): {"offered": s.offered, "started": s.started, "classes": dict(s.classes), "latencies": s.latencies}
                for at, s in self.seconds.items()
            },
            "max_lag": self.max_lag,
            "lag_at": self.lag_at,
            "not_started": self.not_started,
            "open_model": self.open_model,
            "spans": self.spans,
        }
        self.seconds.clear()
        self.spans = {}
        self.not_started = 0
        return data

    def merge(self, data: dict[str, Any]) -> None:
        for at, counted in data.get("seconds", {}).items():
            second = self.seconds[int(at)]
            second.offered += counted["offered"]
            second.started += counted["started"]
            for name, count in counted["classes"].items():
                second.classes[name] += count
            second.latencies += counted["latencies"]
        if data.get("max_lag", 0.0) > self.max_lag:
            self.max_lag, self.lag_at = data["max_lag"], data["lag_at"]
        self.not_started += data.get("not_started", 0)
        self.open_model = self.open_model or bool(data.get("open_model"))
        for name, (first, last) in data.get("spans", {}).items():
            self._span(name, first)
            self._span(name, last)

    # -- conclusions --------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Totals, rates and percentiles of the run, and its timeline (one row per second)."""
        if not self.seconds:
            return {"connects": 0, "timeline": [], "classes": {}, "latency_ms": {}}
        first, last = min(self.seconds), max(self.seconds)
        timeline: list[dict[str, Any]] = []
        latencies: list[float] = []
        classes: dict[str, int] = defaultdict(int)
        offered = started = 0
        for at in range(first, last + 1):
            second = self.seconds.get(at) or Second()
            ordered = sorted(second.latencies)
            latencies += second.latencies
            for name, count in second.classes.items():
                classes[name] += count
            offered += second.offered
            started += second.started
            timeline.append(
                {
                    "t": at - first,
                    "epoch": at,
                    "offered": second.offered if self.open_model else second.started,
                    "started": second.started,
                    "completed": sum(second.classes.values()),
                    "achieved": sum(second.classes[c] for c in EXPECTED_CLASSES),
                    "classes": dict(second.classes),
                    "p50_ms": percentile(ordered, 0.5),
                    "p99_ms": percentile(ordered, 0.99),
                }
            )
        latencies.sort()
        completed = sum(classes.values())
        achieved = sum(classes[c] for c in EXPECTED_CLASSES)
        offered_count = offered if self.open_model else started
        # Rates over the span from the first to the last event of their kind: n events spaced 1/r apart
        # span (n - 1)/r, so a steady rate r reads r whatever the run's partial first and last seconds.
        offered_span = self.spans.get("offered" if self.open_model else "started", [0.0, 0.0])
        achieved_span = self.spans.get("achieved", [0.0, 0.0])
        return {
            "model": "open" if self.open_model else "closed",
            "start": first,
            "end": last + 1,
            "seconds": round(offered_span[1] - offered_span[0], 3),
            "offered": offered_count,
            "started": started,
            "not_started": self.not_started,
            "connects": completed,
            "offered_per_second": _rate(offered_count, offered_span),
            "achieved_per_second": _rate(achieved, achieved_span),
            "peak_offered_per_second": max(int(row["offered"]) for row in timeline),
            "peak_achieved_per_second": max(int(row["achieved"]) for row in timeline),
            "classes": {name: classes[name] for name in CLASSES if classes.get(name)},
            "latency_ms": {
                "p50": percentile(latencies, 0.5),
                "p90": percentile(latencies, 0.9),
                "p95": percentile(latencies, 0.95),
                "p99": percentile(latencies, 0.99),
                "p99.9": percentile(latencies, 0.999),
                "max": latencies[-1] if latencies else 0.0,
            },
            "schedule_lag_s": round(self.max_lag, 3),
            "schedule_lag_at": round(self.lag_at - first, 1) if self.max_lag else None,
            "failures": completed - achieved,
            "timeline": timeline,
        }


def _rate(count: int, span: list[float]) -> float:
    return (count - 1) / (span[1] - span[0]) if count > 1 and span[1] > span[0] else float(count)


def percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank percentile of sorted values (0.0 for none)."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def judge(summary: dict[str, Any], options: Any, wrong: dict[str, int] | None = None) -> list[str]:
    """The thresholds a run breached (none: it passed); `options` are the run's (--max-wrong, …), `wrong`
    the wrong decisions per token kind."""
    breaches = []
    connects = summary["connects"]
    classes = summary["classes"]
    wrong_count = classes.get("wrong decision", 0)
    errors = summary.get("failures", 0) - wrong_count
    error_ratio = errors / connects if connects else 1.0
    latency = summary["latency_ms"]
    if not connects:
        return ["no connect was made"]
    if error_ratio > options.max_error_ratio:
        breaches.append(f"failure ratio {error_ratio:.4f} > {options.max_error_ratio} (--max-error-ratio)")
    if wrong_count > options.max_wrong:
        breaches.append(f"wrong decisions {wrong or wrong_count} > {options.max_wrong}")
    if options.max_p95_ms and latency.get("p95", 0) > options.max_p95_ms:
        breaches.append(f"p95 {latency['p95']:.0f} ms > {options.max_p95_ms:.0f} ms")
    if options.max_p99_ms and latency.get("p99", 0) > options.max_p99_ms:
        breaches.append(f"p99 {latency['p99']:.0f} ms > {options.max_p99_ms:.0f} ms")
    if summary.get("model") == "open":
        if summary["schedule_lag_s"] > options.max_lag:
            breaches.append(
                f"the load generator fell {summary['schedule_lag_s']:.1f} s behind its schedule (at {summary['schedule_lag_at']:.0f} s; "
                f"--max-lag {options.max_lag:g}): it could not offer {summary['peak_offered_per_second']}/s, its CPU is "
                "saturated or the target too slow for --max-in-flight; lower --rate or add workers"
            )
        if summary["not_started"]:
            breaches.append(
                f"{summary['not_started']} scheduled connects not started: {options.max_in_flight} were already open "
                "(--max-in-flight); the target is slower than the offered rate allows"
            )
    return breaches


def print_verdict(summary: dict[str, Any]) -> None:
    breaches = summary["breaches"]
    latency = summary["latency_ms"]
    model = "open model (--rate)" if summary.get("model") == "open" else "closed model (users)"
    if summary["connects"]:
        print(
            f"\nfastauthz load test, {model}: {summary['connects']} connects in {summary['seconds']:.1f} s; "
            f"offered {summary['offered_per_second']:,.1f}/s, achieved {summary['achieved_per_second']:,.1f}/s "
            f"(peaks {summary['peak_offered_per_second']}/s and {summary['peak_achieved_per_second']}/s)"
        )
        print(
            "  latency ms: "
            + ", ".join(f"{name} {latency[name]:,.1f}" for name in ("p50", "p90", "p99", "p99.9", "max"))
            + (f"; schedule lag max {summary['schedule_lag_s']:.2f} s" if summary.get("model") == "open" else "")
        )
        print("  outcomes: " + ", ".join(f"{name} {summary['classes'].get(name, 0)}" for name in CLASSES if name in summary["classes"]))
        print(f"  {'token kind':<15} {'expected':>8}  answers")
        for kind, outcomes in sorted(summary["decisions"].items()):
            answers = ", ".join(f"{outcome}: {count}" for outcome, count in sorted(outcomes.items()) if outcome != "expected")
            print(f"  {kind:<15} {outcomes['expected']:>8}  {answers}")
    else:
        print(f"\nfastauthz load test, {model}: no connect was made")
    failures = summary.get("failures", 0)
    print(
        "  " + ("; ".join(f"BREACH {b}" for b in breaches) if breaches else f"passed: failures {failures}, wrong decisions 0"), flush=True
    )


results = Results()  # this process's (the master's: the whole run's, once merged)
