"""Per-invocation cost of the handler as a ratio to the raw `cryptography` verify of the same
tokens, measured interleaved in one process (these shared machines drift up to ~1.6x between
runs; a ratio measured round by round does not).

    python -m bench.ratios [--rounds N] [--json PATH]
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from bench import harness
from bench.cases import Case
from bench.workload import saturate
from testkit.events import connect_event

Batch = Callable[[], float]  # runs one batch, returns seconds per call


def batch_of(function: Callable[[int], Any], count: int, before: Callable[[], Any] | None = None) -> Batch:
    def run() -> float:
        if before is not None:
            before()
        started = time.perf_counter()
        for index in range(count):
            function(index)
        return (time.perf_counter() - started) / count

    return run


def interleaved(floor: Batch, subject: Batch, rounds: int) -> dict[str, float]:
    """Median over rounds of subject/floor, each round running both back to back (order alternating)."""
    ratios, floors, subjects = [], [], []
    for round_number in range(rounds):
        if round_number % 2:
            s = subject()
            f = floor()
        else:
            f = floor()
            s = subject()
        floors.append(f)
        subjects.append(s)
        ratios.append(s / f)
    return {"ratio": statistics.median(ratios), "floor_us": statistics.median(floors) * 1e6, "median_us": statistics.median(subjects) * 1e6}


def expect_refusal(decide: Callable[[Any], Any], events: list[dict[str, Any]]) -> Callable[[int], None]:
    """run(index) calls decide(events[index]), which must raise (a refusal is an exception)."""

    def run(index: int) -> None:
        try:
            decide(events[index])
        except Exception:
            pass
        else:
            raise AssertionError("expected a refusal")

    return run


def measure(rounds: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    gc.freeze()
    for name in ("RS256-2048", "ES256", "EdDSA"):
        case = Case(name)
        authorizer = case.authorizer()
        count = len(case.events)
        assert authorizer.handle(case.events[0])["principalId"] == "user-0"  # correctness before timing
        floor = batch_of(case.floor(), count)
        fresh = batch_of(lambda i: authorizer.handle(case.events[i]), count, before=lambda: saturate(authorizer))
        rows.append({"case": f"handler, fresh {name} token", **interleaved(floor, fresh, rounds)})
        if name != "RS256-2048":
            continue
        repeated = batch_of(lambda i: authorizer.handle(case.events[0]), count)
        rows.append({"case": "handler, repeated token (cache hit)", **interleaved(floor, repeated, rounds)})
        # Early rejects, each over distinct tokens (nothing remembered helps), then one token replayed.
        distinct = {
            "malformed": [connect_event(f"not-a-token-{i}") for i in range(count)],
            "alg none": [connect_event("eyJhbGciOiJub25lIn0." + token.split(".")[1] + ".") for token in case.tokens],
            "expired": [connect_event(case.mint(sub=f"user-{i}", exp=case.now - 3600)) for i in range(count)],
            "wrong audience": [connect_event(case.mint(sub=f"user-{i}", aud="someone-else")) for i in range(count)],
        }
        for label, events in distinct.items():
            refusal = batch_of(expect_refusal(authorizer.handle, events), count, before=lambda: saturate(authorizer))
            rows.append({"case": f"handler, reject {label}", **interleaved(floor, refusal, rounds)})
        replay = [distinct["expired"][0]] * count
        refusal = batch_of(expect_refusal(authorizer.handle, replay), count)
        rows.append({"case": "handler, reject replayed expired token", **interleaved(floor, refusal, rounds)})
    return rows


def table(result: dict[str, Any], args: Any = None) -> str:
    lines = [f"{'case':<40} {'ratio to floor':>14} {'median µs':>10} {'floor µs':>9}"]
    lines += [f"{row['case']:<40} {row['ratio']:>14.3f} {row['median_us']:>10.2f} {row['floor_us']:>9.2f}" for row in result["rows"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return harness.main(
        __doc__, argv, lambda args: {"python": sys.version.split()[0], "rows": measure(args.rounds)}, table, repeat=("--rounds", 21)
    )


if __name__ == "__main__":
    sys.exit(main())
