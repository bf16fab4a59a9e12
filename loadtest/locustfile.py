"""Locust load test of WebSocket `$connect` against a deployed API Gateway stage or the local one.

    locust -f loadtest/locustfile.py --host wss://<api>.execute-api.<region>.amazonaws.com/<stage> \\
        --tokens command:./get-tokens.sh --token-in query --mix valid=70,repeated=20,expired=10 \\
        --scenario storm --users 200 --run-time 2m --headless --csv results/run --html results/run.html

Each user opens a real WebSocket (websocket-client: plain sockets, which locust's gevent makes
cooperative), timing the handshake as a locust request named `connect[<kind>]`. A request succeeds
when the decision is the one its token kind must get (an expired token refused with 401 is a
success); a decision the other way is a WRONG DECISION and fails the run. 429, 5xx and timeouts are
errors. At the end the thresholds (--max-error-ratio, --max-wrong, --max-p95-ms, --max-p99-ms)
set the exit code.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from typing import Any

import websocket
from locust import LoadTestShape, User, constant_throughput, events, task

from loadtest.tokens import DEFAULT_MIX, TokenSupply, expected_status, parse_mix

decisions: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # kind -> outcome -> count
wrong: dict[str, int] = defaultdict(int)


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser.add_argument_group("fastauthz")
    group.add_argument("--tokens", default="mint:.fastauthz", help="mint:<issuer state dir> | file:<path> | command:<cmd>")
    group.add_argument("--mix", default=DEFAULT_MIX, help="token kinds and weights")
    group.add_argument("--token-in", default="header", choices=["header", "query", "protocol"])
    group.add_argument("--query-param", default="authorization")
    group.add_argument("--connects-per-user", type=float, default=5.0, help="connects per second per user")
    group.add_argument("--hold-seconds", type=float, default=0.0, help="keep each allowed connection open this long")
    group.add_argument("--message", default="", help="send this after connecting and wait for one reply")
    group.add_argument("--connect-timeout", type=float, default=10.0)
    group.add_argument(
        "--scenario",
        default="users",
        choices=["users", "steady", "ramp", "storm"],
        help="users: locust's --users/--spawn-rate; the others are shapes over --run-time",
    )
    group.add_argument(
        "--refuse-with",
        default="unauthorized",
        choices=["unauthorized", "deny"],
        help="the target authorizer's FASTAUTHZ_REFUSE_WITH: refused tokens expect 401, or 403 with deny",
    )
    group.add_argument("--max-error-ratio", type=float, default=0.01)
    group.add_argument("--max-wrong", type=int, default=0)
    group.add_argument("--max-p95-ms", type=float, default=0.0, help="0: not checked")
    group.add_argument("--max-p99-ms", type=float, default=0.0, help="0: not checked")
    group.add_argument("--summary-json", default="", help="write decision counts and percentiles here")


supply: TokenSupply | None = None


@events.test_start.add_listener
def _start(environment: Any, **_: Any) -> None:
    global supply
    options = environment.parsed_options
    supply = TokenSupply(options.tokens, parse_mix(options.mix))
    WebSocketConnectUser.wait_time = constant_throughput(options.connects_per_user)


class WebSocketConnectUser(User):
    """Connect, classify, optionally hold and exchange a message, close; again."""

    wait_time = constant_throughput(5.0)

    @task
    def connect(self) -> None:
        assert supply is not None
        options = self.environment.parsed_options
        kind = supply.pick_kind()
        token = supply.token(kind)
        assert self.host is not None  # --host: locust refuses to start without one
        url, headers, subprotocols = self.host, [], None
        if token is not None:
            if options.token_in == "header":
                headers.append(f"Authorization: Bearer {token}")
            elif options.token_in == "query":
                url = f"{url}{'&' if '?' in url else '?'}{options.query_param}={token}"
            else:
                subprotocols = ["bearer", token]
        started = time.perf_counter()
        outcome, connection, error = "error", None, None
        try:
            connection = websocket.create_connection(
                url, header=headers, subprotocols=subprotocols, timeout=options.connect_timeout, enable_multithread=False
            )
            outcome = "101"
        except websocket.WebSocketBadStatusException as refused:
            outcome = str(refused.status_code)
        except (TimeoutError, websocket.WebSocketTimeoutException):
            outcome = "timeout"
        except (OSError, websocket.WebSocketException) as failure:
            error = failure
        elapsed = (time.perf_counter() - started) * 1000
        self._record(kind, outcome, elapsed, error)
        if connection is not None:
            try:
                if options.message:
                    connection.send(options.message)
                    connection.recv()
                if options.hold_seconds:
                    time.sleep(options.hold_seconds)
            except websocket.WebSocketException:
                pass
            finally:
                connection.close()

    def _record(self, kind: str, outcome: str, elapsed: float, error: Exception | None) -> None:
        decisions[kind][outcome] += 1
        expected = str(expected_status(kind, self.environment.parsed_options.refuse_with))
        exception: Exception | None = None
        if outcome != expected:
            refused = outcome in ("401", "403")
            if (expected == "101" and refused) or (expected != "101" and outcome == "101"):
                wrong[kind] += 1
                exception = AssertionError(f"WRONG DECISION: {kind} token got {outcome}, expected {expected}")
            else:  # 429, 5xx, a timeout, a connection error, or 403 where 401 was expected
                exception = error or RuntimeError(f"{kind} token: {outcome}, expected {expected}")
        self.environment.events.request.fire(
            request_type="WS",
            name=f"connect[{kind}]",
            response_time=elapsed,
            response_length=0,
            exception=exception,
            context={"outcome": outcome},
        )


class ScenarioShape(LoadTestShape):
    """steady: all users for the run; ramp: 1 → users linearly; storm: a quarter, then all at once, then a quarter."""

    use_common_options = True  # --users, --spawn-rate and --run-time are read below

    def tick(self) -> tuple[int, float] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        if options is None:
            return None
        run_time = float(options.run_time or 60)
        elapsed = self.get_run_time()
        if elapsed >= run_time:
            return None
        users = int(options.num_users or 10)
        if options.scenario == "ramp":
            return max(1, math.ceil(users * elapsed / run_time)), max(users / run_time, 1.0)
        if options.scenario == "storm":
            base = max(1, users // 4)
            in_storm = run_time / 3 <= elapsed < 2 * run_time / 3
            return (users if in_storm else base), float(users * 10)  # everyone reconnects at once
        spawn = float(options.spawn_rate or users)
        return users, spawn


# -- distributed runs: workers send their decision counts to the master -------------------------
@events.report_to_master.add_listener
def _to_master(client_id: str, data: dict[str, Any]) -> None:
    data["fastauthz"] = {"decisions": {k: dict(v) for k, v in decisions.items()}, "wrong": dict(wrong)}
    decisions.clear()
    wrong.clear()


@events.worker_report.add_listener
def _from_worker(client_id: str, data: dict[str, Any]) -> None:
    report = data.get("fastauthz") or {}
    for kind, outcomes in report.get("decisions", {}).items():
        for outcome, count in outcomes.items():
            decisions[kind][outcome] += count
    for kind, count in report.get("wrong", {}).items():
        wrong[kind] += count


@events.quitting.add_listener
def _verdict(environment: Any, **_: Any) -> None:
    if environment.runner is None or type(environment.runner).__name__ == "WorkerRunner":
        return
    options = environment.parsed_options
    total = environment.stats.total
    requests = total.num_requests
    errors = total.num_failures - sum(wrong.values())
    p50, p95, p99 = (total.get_response_time_percentile(q) or 0 for q in (0.5, 0.95, 0.99))
    duration = max(total.last_request_timestamp - total.start_time, 1e-9) if total.last_request_timestamp else 1e-9
    print(
        f"\nfastauthz load test: {requests} connects in {duration:.1f} s = {requests / duration:,.0f} connects/s; "
        f"handshake p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms"
    )
    print(f"  {'token kind':<15} {'expected':>8}  outcomes")
    for kind in sorted(decisions):
        outcomes = ", ".join(f"{outcome}: {count}" for outcome, count in sorted(decisions[kind].items()))
        entry = environment.stats.entries.get((f"connect[{kind}]", "WS"))
        percentiles = (
            f"  (p50 {entry.get_response_time_percentile(0.5):.0f} / p95 {entry.get_response_time_percentile(0.95):.0f} / p99 {entry.get_response_time_percentile(0.99):.0f} ms)"
            if entry and entry.num_requests
            else ""
        )
        print(f"  {kind:<15} {expected_status(kind, environment.parsed_options.refuse_with):>8}  {outcomes}{percentiles}")
    breaches = []
    error_ratio = errors / requests if requests else 1.0
    if not requests:
        breaches.append("no connect was made")
    if error_ratio > options.max_error_ratio:
        breaches.append(f"error ratio {error_ratio:.4f} > {options.max_error_ratio}")
    if sum(wrong.values()) > options.max_wrong:
        breaches.append(f"wrong decisions {dict(wrong)} > {options.max_wrong}")
    if options.max_p95_ms and p95 > options.max_p95_ms:
        breaches.append(f"p95 {p95:.0f} ms > {options.max_p95_ms:.0f} ms")
    if options.max_p99_ms and p99 > options.max_p99_ms:
        breaches.append(f"p99 {p99:.0f} ms > {options.max_p99_ms:.0f} ms")
    print(
        "  "
        + ("; ".join(f"BREACH {b}" for b in breaches) if breaches else f"passed: errors {errors} ({error_ratio:.2%}), wrong decisions 0")
    )
    if options.summary_json:
        with open(options.summary_json, "w") as handle:
            json.dump(
                {
                    "connects": requests,
                    "seconds": duration,
                    "connects_per_second": requests / duration,
                    "p50_ms": p50,
                    "p95_ms": p95,
                    "p99_ms": p99,
                    "errors": errors,
                    "wrong": dict(wrong),
                    "decisions": {k: dict(v) for k, v in decisions.items()},
                    "breaches": breaches,
                },
                handle,
                indent=2,
            )
    environment.process_exit_code = 1 if breaches else 0
