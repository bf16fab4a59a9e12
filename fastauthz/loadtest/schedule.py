"""The open model's schedule (`--rate`): the arrival rate over the run, and the times of its arrivals.

`--rate N` N per second; `--rate A:B` from A to B linearly over the run; with `--scenario ramp` 1 to
N; with `--scenario storm` a quarter of N, then N for the middle third (the reconnect storm), then a
quarter again. Without locust or gevent: `fastauthz loadtest` checks a rate before it starts locust.
"""

from __future__ import annotations

from typing import Any


class RateError(ValueError):
    pass


def parse_rate(text: str) -> tuple[float, float]:
    """`N` or `A:B` connects per second (start, end)."""
    start, _, end = text.partition(":")
    try:
        first, last = float(start), float(end or start)
    except ValueError:
        raise RateError(f"--rate {text!r}: connects per second, N or A:B (a ramp from A to B)") from None
    if first < 0 or last < 0 or max(first, last) <= 0 or not (first < float("inf") and last < float("inf")):
        raise RateError(f"--rate {text!r}: needs a positive rate")
    return first, last


class Schedule:
    """The run's arrival rate over time, and the times of its arrivals."""

    def __init__(self, rate: str, run_time: float, scenario: str = "steady") -> None:
        self.first, self.last = parse_rate(rate)
        self.run_time = run_time
        self.scenario = scenario

    def rate_at(self, t: float) -> float:
        if self.scenario == "storm" and self.first == self.last:
            in_storm = self.run_time / 3 <= t < 2 * self.run_time / 3
            return self.first if in_storm else max(self.first / 4, 0.1)
        first = 1.0 if self.scenario == "ramp" and self.first == self.last else self.first
        return first + (self.last - first) * min(max(t / self.run_time, 0.0), 1.0)

    @property
    def peak(self) -> float:
        return max(self.first, self.last)

    def arrivals(self, index: int = 0, processes: int = 1) -> Any:
        """Offsets (seconds from the start) of this process's arrivals: every `processes`-th of the run's,
        from the `index`-th. The k-th arrival is where the rate's integral reaches k (stepped per arrival,
        which follows a ramp closely enough at the rates a load test uses)."""
        t, k = 0.0, 0
        while t < self.run_time:
            if k % processes == index:
                yield t
            t += 1.0 / max(self.rate_at(t), 1e-3)
            k += 1
