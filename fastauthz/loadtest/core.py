"""What the load tests share (loadtest/locustfile.py for WebSocket `$connect`, loadtest/http_locustfile.py
for REST and HTTP APIs): the options, the token supply, the decision bookkeeping, the load shapes,
and the verdict that sets the exit code.

A request succeeds when the decision is the one its token kind must get (an expired token refused
with 401 is a success); a decision the other way is a WRONG DECISION and fails the run. 429, 5xx and
timeouts are errors. At the end the thresholds (--max-error-ratio, --max-wrong, --max-p95-ms,
--max-p99-ms) set the exit code. The locustfile that imports this module says, in `expectation`,
what its API answers for each token kind.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from locust import LoadTestShape, constant_throughput, events

from loadtest.tokens import DEFAULT_MIX, TokenSupply, expected_status, parse_mix

decisions: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # kind -> outcome -> count
wrong: dict[str, int] = defaultdict(int)
# (token kind, parsed options) -> the status the target must answer; set by the locustfile.
expectation: list[Callable[[str, Any], int]] = [lambda kind, options: expected_status(kind, options.refuse_with)]
# The user classes whose pace --connects-per-user sets (each locustfile registers its own).
paced: list[Any] = []
# Whose verdict sets the exit code: "decisions" (below), or a locustfile's own (lifetime_locustfile.py).
verdict_owner: list[str] = ["decisions"]


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    group = parser.add_argument_group("fastauthz")
    group.add_argument("--tokens", default="mint:.fastauthz", help="mint:<issuer state dir> | file:<path> | command:<cmd>")
    group.add_argument("--mix", default=DEFAULT_MIX, help="token kinds and weights")
    group.add_argument("--token-in", default="header", choices=["header", "query", "protocol"], help="protocol: WebSocket only")
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
    group.add_argument(
        "--simple-responses",
        action="store_true",
        help="HTTP API 2.0 with simple responses: every refusal is isAuthorized false, a 403",
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
    for user_class in paced:
        user_class.wait_time = constant_throughput(options.connects_per_user)


def next_token() -> tuple[str, str | None]:
    """The next request's token kind, by the mix's weights, and its token (None: send none)."""
    assert supply is not None  # set at test start
    kind = supply.pick_kind()
    return kind, supply.token(kind)


def record(environment: Any, request_type: str, name: str, kind: str, outcome: str, elapsed: float, error: Exception | None) -> None:
    """Count one decision and report it to locust: a success, an error, or a WRONG DECISION."""
    decisions[kind][outcome] += 1
    expected = str(expectation[0](kind, environment.parsed_options))
    allowed = ("101", "200")
    exception: Exception | None = None
    if outcome != expected:
        refused = outcome in ("401", "403")
        if (expected in allowed and refused) or (expected not in allowed and outcome in allowed):
            wrong[kind] += 1
            exception = AssertionError(f"WRONG DECISION: {kind} token got {outcome}, expected {expected}")
        else:  # 429, 5xx, a timeout, a connection error, or 403 where 401 was expected
            exception = error or RuntimeError(f"{kind} token: {outcome}, expected {expected}")
    environment.events.request.fire(
        request_type=request_type,
        name=f"{name}[{kind}]",
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
    if environment.runner is None or type(environment.runner).__name__ == "WorkerRunner" or verdict_owner[0] != "decisions":
        return
    options = environment.parsed_options
    total = environment.stats.total
    requests = total.num_requests
    errors = total.num_failures - sum(wrong.values())
    p50, p95, p99 = (total.get_response_time_percentile(q) or 0 for q in (0.5, 0.95, 0.99))
    duration = max(total.last_request_timestamp - total.start_time, 1e-9) if total.last_request_timestamp else 1e-9
    print(
        f"\nfastauthz load test: {requests} requests in {duration:.1f} s = {requests / duration:,.0f} per second; "
        f"p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms"
    )
    print(f"  {'token kind':<15} {'expected':>8}  outcomes")
    for kind in sorted(decisions):
        outcomes = ", ".join(f"{outcome}: {count}" for outcome, count in sorted(decisions[kind].items()))
        entry = next((e for (name, _), e in environment.stats.entries.items() if name.endswith(f"[{kind}]")), None)
        percentiles = (
            f"  (p50 {entry.get_response_time_percentile(0.5):.0f} / p95 {entry.get_response_time_percentile(0.95):.0f} / p99 {entry.get_response_time_percentile(0.99):.0f} ms)"
            if entry and entry.num_requests
            else ""
        )
        print(f"  {kind:<15} {expectation[0](kind, options):>8}  {outcomes}{percentiles}")
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
