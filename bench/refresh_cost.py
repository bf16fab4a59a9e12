"""What a background key refresh costs the invocation that triggers it.

The dev issuer serves JWKS from a separate process on 127.0.0.1 (so its thread does not compete
for this process's GIL); before each measured call the keys are pushed past their refresh point,
so that call hands a fetch to the background worker and answers from the keys it has. Compared,
pair by pair in alternating order, with the same call when no refresh is due.

    python -m bench.refresh_cost [--calls N]
"""

from __future__ import annotations

import io
import multiprocessing
import statistics
import sys
import time
from typing import Any

from bench import harness
from fastauthz.authorizer import Authorizer
from fastauthz.config import load_settings
from fastauthz.dev.issuer import DevIssuer
from testkit.events import connect_event


def measure(calls: int) -> dict[str, float]:
    issuer = DevIssuer(audience="bench")
    server = multiprocessing.get_context("fork").Process(target=issuer._server.serve_forever, daemon=True)
    server.start()
    try:
        authorizer = Authorizer(load_settings({**issuer.environment(), "FASTAUTHZ_METRICS": "false"}), write=io.StringIO().write)
        keystore = next(iter(authorizer.issuers.values())).keystore
        assert keystore is not None
        events = [connect_event(issuer.mint(sub=f"user-{i}")) for i in range(2 * calls)]
        warm = [connect_event(issuer.mint(sub=f"warm-{i}")) for i in range(8)]
        authorizer.handle(warm[0])  # the cold-start fetch is done
        plain: list[float] = []
        triggering: list[float] = []
        for index in range(calls):
            for event in warm:  # the same warm state before each pair
                authorizer.handle(event)
            fetches = keystore.fetch_count
            order = ("plain", "triggering") if index % 2 else ("triggering", "plain")
            for kind in order:
                event = events[2 * index + (kind == "triggering")]
                if kind == "triggering":
                    keystore.refresh_after = 0.0  # due now: this call hands a refresh to the worker
                started = time.perf_counter()
                authorizer.handle(event)
                (triggering if kind == "triggering" else plain).append(time.perf_counter() - started)
            assert keystore.fetch_count == fetches + 1 or keystore._flight is not None
            while keystore._flight is not None and not keystore._flight.done.is_set():
                time.sleep(0.0005)
            keystore._take_fetched(time.time())  # install it, as the next invocation would
        return {
            "plain_us": statistics.median(plain) * 1e6,
            "triggering_us": statistics.median(triggering) * 1e6,
            "fetches": keystore.fetch_count,
        }
    finally:
        server.terminate()


def summary(result: dict[str, Any]) -> str:
    return (
        f"fresh-token invocation, median of {result['calls']} pairs: {result['plain_us']:.1f} µs with no refresh due, "
        f"{result['triggering_us']:.1f} µs when it triggers the background refresh "
        f"(+{result['triggering_us'] - result['plain_us']:.1f} µs); {result['fetches']} fetches"
    )


def main(argv: list[str] | None = None) -> int:
    return harness.main(
        __doc__,
        argv,
        lambda args: {"calls": args.calls, **measure(args.calls)},
        lambda result, args: summary(result),
        repeat=("--calls", 300),
    )


if __name__ == "__main__":
    sys.exit(main())
