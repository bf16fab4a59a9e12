"""What the load tests share (websocket_user.py for WebSocket `$connect`, http_user.py for REST and HTTP
APIs): the options, the token supply, the decision bookkeeping, the closed model's shapes, and the
verdict that sets the exit code. The open model (`--rate`) is arrivals.py's.

A request succeeds when the decision is the one its token kind must get (an expired token refused
with 401 is a success); a decision the other way is a WRONG DECISION and fails the run. Every other
outcome is a failure of its class (results.CLASSES: 429, 5xx, timeout, connection error, …). At the
end the thresholds (--max-error-ratio, --max-wrong, --max-p95-ms, --max-p99-ms, --max-lag) set the
exit code. The user module that imports this one says, in `expectation`, what its API answers for
each token kind.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from locust import LoadTestShape, constant_throughput, events

from .options import add_run_options
from .results import EXPECTED_CLASSES, classify, judge, print_verdict, results
from .tokens import TokenSupply, TokenSupplyError, expected_status, parse_mix

decisions: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # kind -> outcome -> count
wrong: dict[str, int] = defaultdict(int)
# (token kind, parsed options) -> the status the target must answer; set by the user module.
expectation: list[Callable[[str, Any], int]] = [lambda kind, options: expected_status(kind, options.refuse_with)]
# The user classes whose pace --connects-per-user sets (each user module registers its own), and the
# open model's driver of the same connect (arrivals.RateDriver's subclass).
paced: list[Any] = []
drivers: list[Any] = []
# Whose verdict sets the exit code: "decisions" (below), or a user module's own (lifetime_user.py).
verdict_owner: list[str] = ["decisions"]


events.init_command_line_parser.add_listener(add_run_options)

supply: TokenSupply | None = None


@events.test_start.add_listener
def _start(environment: Any, **_: Any) -> None:
    global supply
    options = environment.parsed_options
    try:
        mix = parse_mix(options.mix)
        supply = TokenSupply(options.tokens, mix)
        supply.check(mix)
    except TokenSupplyError as error:
        print(f"fastauthz load test: {error}", file=sys.stderr, flush=True)
        environment.process_exit_code = 2
        if environment.runner is not None:
            environment.runner.quit()
        return
    for user_class in paced:
        user_class.wait_time = constant_throughput(options.connects_per_user)


def next_token(environment: Any, request_type: str, name: str) -> tuple[str, str | None] | None:
    """The next request's token kind, by the mix's weights, and its token (None: send none); None when
    the source has run dry, counted as a token-supply failure."""
    assert supply is not None  # set at test start
    kind = supply.pick_kind()
    try:
        return kind, supply.token(kind)
    except TokenSupplyError as dry:
        record(environment, request_type, name, kind, "supply", 0.0, dry)
        return None


def record(environment: Any, request_type: str, name: str, kind: str, outcome: str, elapsed: float, error: Exception | None) -> None:
    """Count one connect and report it to locust: a decision as expected, a WRONG DECISION, or a failure of its class."""
    decisions[kind][outcome] += 1
    expected = str(expectation[0](kind, environment.parsed_options))
    kind_class = classify(outcome, expected)
    results.completed(time.time(), kind_class, elapsed)
    exception: Exception | None = None
    if kind_class == "wrong decision":
        wrong[kind] += 1
        exception = AssertionError(f"WRONG DECISION: {kind} token got {outcome}, expected {expected}")
    elif kind_class not in EXPECTED_CLASSES:
        exception = error or RuntimeError(f"{kind_class}: {kind} token got {outcome}, expected {expected}")
    environment.events.request.fire(
        request_type=request_type,
        name=f"{name}[{kind}]",
        response_time=elapsed,
        response_length=0,
        exception=exception,
        context={"outcome": outcome},
    )


class ScenarioShape(LoadTestShape):
    """Closed model: steady: all users for the run; ramp: 1 → users linearly; storm: a quarter, then all at
    once, then a quarter. Open model (--rate): one driver per load-generating process for the run."""

    use_common_options = True  # --users, --spawn-rate and --run-time are read below

    def tick(self) -> tuple[int, float, list[Any]] | None:
        options = self.runner.environment.parsed_options if self.runner else None
        if options is None:
            return None
        run_time = float(options.run_time or 60)
        elapsed = self.get_run_time()
        if elapsed >= run_time:
            return None
        users = int(options.num_users or 10)
        if options.rate:  # arrivals.py schedules the connects: one driver per process
            return users, float(users), drivers
        if options.scenario == "ramp":
            return max(1, math.ceil(users * elapsed / run_time)), max(users / run_time, 1.0), paced
        if options.scenario == "storm":
            base = max(1, users // 4)
            in_storm = run_time / 3 <= elapsed < 2 * run_time / 3
            return (users if in_storm else base), float(users * 10), paced  # everyone reconnects at once
        spawn = float(options.spawn_rate or users)
        return users, spawn, paced


# -- distributed runs: workers send their counts to the master -----------------------------------
@events.report_to_master.add_listener
def _to_master(client_id: str, data: dict[str, Any]) -> None:
    data["fastauthz"] = {"decisions": {k: dict(v) for k, v in decisions.items()}, "wrong": dict(wrong), "results": results.take()}
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
    results.merge(report.get("results") or {})


@events.quitting.add_listener
def _verdict(environment: Any, **_: Any) -> None:
    if environment.runner is None or type(environment.runner).__name__ == "WorkerRunner" or verdict_owner[0] != "decisions":
        return
    if environment.process_exit_code == 2:  # refused before the run (the token supply): nothing to judge
        return
    options = environment.parsed_options
    summary = results.summary()
    summary["breaches"] = judge(summary, options, dict(wrong))
    summary["decisions"] = {kind: {"expected": expectation[0](kind, options), **outcomes} for kind, outcomes in decisions.items()}
    summary["wrong"] = dict(wrong)
    if not options.verdict_by_command:
        print_verdict(summary)
    if options.summary_json:
        with open(options.summary_json, "w") as handle:
            json.dump(summary, handle)
    environment.process_exit_code = 1 if summary["breaches"] else 0
