"""The load test of connection lifetime (fastauthz.connections): connections whose tokens expire
during the run must be closed by the server, on time (`fastauthz loadtest --scenario expiring`;
`make loadtest-local-lifetime` against the local stage, sweeper every second).

Each user connects with a token valid for a few seconds (--token-ttl, spread ±50%), holds the
connection without sending (so that nothing but the token's expiry can end it before API Gateway's
own limits) and waits for the server to close it. The target's grace is 0
(FASTAUTHZ_SWEEP_GRACE_SECONDS), so a connection's deadline is its token's exp. Each connection is a request named
`lifetime[on time|late|never]`: closed within --close-bound seconds after exp is on time, later is
late, still open --close-bound after that is never. Any "never" fails the run (--max-never, 0), as do
late closes beyond --max-late-ratio. The summary gives how long after exp connections were closed.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from typing import Any

import websocket
from locust import User, between, events, task

from fastauthz.loadtest import core
from fastauthz.loadtest.options import add_lifetime_options
from fastauthz.loadtest.sockets import close
from fastauthz.loadtest.tokens import claims_of

core.verdict_owner[0] = "lifetime"  # this file's verdict sets the exit code, not the decision verdict

delays: list[float] = []  # seconds from exp to the server's close, per connection closed
outcomes: dict[str, int] = {"on time": 0, "late": 0, "never": 0}


events.init_command_line_parser.add_listener(add_lifetime_options)


class ExpiringConnectionUser(User):
    """Connect with a short-lived token, hold, and time the server's close against the token's exp."""

    wait_time = between(0.0, 0.2)

    @task
    def hold_until_closed(self) -> None:
        supply = core.supply
        assert supply is not None and self.host is not None
        options = self.environment.parsed_options
        ttl = options.token_ttl * random.uniform(0.5, 1.5)  # noqa: S311 (a spread of deadlines, not a secret)
        token = supply.short_lived(ttl)
        exp = claims_of(token)["exp"]
        started = time.perf_counter()
        try:
            connection = websocket.create_connection(
                f"{self.host}?authorization={token}", timeout=options.connect_timeout, enable_multithread=False
            )
        except (OSError, websocket.WebSocketException) as error:
            self._fire("error", (time.perf_counter() - started) * 1000, error)
            return
        connection.settimeout(max(0.1, exp + options.close_bound * 2 - time.time()))
        outcome = "closed"
        try:
            while True:
                # websocket-client answers a close frame with "" from recv() (or raises once the socket is gone)
                if connection.recv() in ("", None) or not connection.connected:
                    break
        except websocket.WebSocketConnectionClosedException:
            pass
        except (websocket.WebSocketTimeoutException, TimeoutError):
            outcome = "never"
        closed_at = time.time()
        if outcome == "never":
            close(connection)
        else:
            delay = closed_at - exp
            delays.append(delay)
            outcome = "on time" if delay <= options.close_bound else "late"
        outcomes[outcome] += 1
        exception = None if outcome == "on time" else AssertionError(f"closed {outcome} after exp")
        self._fire(outcome, (closed_at - exp) * 1000, exception)

    def _fire(self, outcome: str, elapsed_ms: float, exception: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type="WS", name=f"lifetime[{outcome}]", response_time=max(elapsed_ms, 0.0), response_length=0, exception=exception
        )


@events.quitting.add_listener
def _lifetime_verdict(environment: Any, **_: Any) -> None:
    if environment.runner is None or type(environment.runner).__name__ == "WorkerRunner":
        return
    options = environment.parsed_options
    total = sum(outcomes.values())
    ordered = sorted(delays)
    spread = (
        f"closed {statistics.median(ordered):.2f} s after exp (median), p95 {ordered[int(0.95 * (len(ordered) - 1))]:.2f} s, max {ordered[-1]:.2f} s"
        if ordered
        else "none closed"
    )
    print(
        f"\nfastauthz lifetime test: {total} connections; on time {outcomes['on time']}, late {outcomes['late']}, never {outcomes['never']}; {spread}"
    )
    breaches = []
    if not total:
        breaches.append("no connection was made")
    if outcomes["never"] > options.max_never:
        breaches.append(f"{outcomes['never']} never closed > {options.max_never}")
    if total and outcomes["late"] / total > options.max_late_ratio:
        breaches.append(f"late ratio {outcomes['late'] / total:.4f} > {options.max_late_ratio}")
    print("  " + ("; ".join(f"BREACH {b}" for b in breaches) if breaches else "passed"))
    if options.summary_json:
        with open(options.summary_json, "w") as handle:
            json.dump(
                {
                    "connections": total,
                    "outcomes": outcomes,
                    "delays_s": {"median": statistics.median(ordered) if ordered else None, "max": ordered[-1] if ordered else None},
                    "breaches": breaches,
                },
                handle,
                indent=2,
            )
    environment.process_exit_code = 1 if breaches else 0
