"""The load test's own options, added to locust's by the user modules (and listed by
`fastauthz loadtest --locust-help`, which builds them without importing locust)."""

from __future__ import annotations

from argparse import SUPPRESS
from typing import Any

from .tokens import DEFAULT_MIX


def add_run_options(parser: Any) -> None:
    """What every user module reads (core.py judges by them), in its own group of locust's options."""
    group = parser.add_argument_group("fastauthz")
    group.add_argument("--tokens", default="mint:.fastauthz", help="mint:<dir> | file:<path> | command:<cmd> (default: %(default)s)")
    group.add_argument("--mix", default=DEFAULT_MIX, help="token kinds and weights (default: %(default)s)")
    group.add_argument("--token-in", default="header", choices=["header", "query", "protocol"], help="protocol: WebSocket only")
    group.add_argument("--query-param", default="authorization", help="the query parameter of --token-in query (default: %(default)s)")
    group.add_argument(
        "--rate",
        default="",
        help="open model: connects per second over the whole run and all workers, started on schedule whatever the "
        "latency; A:B ramps from A to B over the run (default: the closed model, --users x --connects-per-user)",
    )
    group.add_argument("--schedule-seconds", type=float, default=0.0, help="open model: the schedule's length (default: --run-time)")
    group.add_argument(
        "--max-in-flight", type=int, default=2000, help="open model: connects open at once per process (default: %(default)s)"
    )
    group.add_argument(
        "--max-lag", type=float, default=1.0, help="open model: fail the run when connects start this late, seconds (default: %(default)s)"
    )
    group.add_argument("--connects-per-user", type=float, default=5.0, help="closed model: connects per second per user")
    group.add_argument("--hold-seconds", type=float, default=0.0, help="keep each allowed connection open this long")
    group.add_argument("--message", default="", help="send this after connecting and wait for one reply")
    group.add_argument("--connect-timeout", type=float, default=10.0, help="seconds (default: %(default)s)")
    group.add_argument(
        "--scenario",
        default="users",
        choices=["users", "steady", "ramp", "storm"],
        help="users: locust's --users/--spawn-rate; the others are shapes over --run-time (with --rate: of the rate)",
    )
    group.add_argument(
        "--refuse-with",
        default="unauthorized",
        choices=["unauthorized", "deny"],
        help="the target authorizer's FASTAUTHZ_REFUSE_WITH: refused tokens expect 401, or 403 with deny",
    )
    group.add_argument(
        "--simple-responses", action="store_true", help="HTTP API 2.0 with simple responses: every refusal is isAuthorized false, a 403"
    )
    group.add_argument("--max-error-ratio", type=float, default=0.01, help="failures other than wrong decisions (default: %(default)s)")
    group.add_argument("--max-wrong", type=int, default=0)
    group.add_argument("--max-p95-ms", type=float, default=0.0, help="0: not checked")
    group.add_argument("--max-p99-ms", type=float, default=0.0, help="0: not checked")
    group.add_argument("--summary-json", default="", help="write the results (totals, classes, percentiles, timeline) here")
    # `fastauthz loadtest` prints the verdict itself, after locust's own table and with the authorizer's side
    group.add_argument("--verdict-by-command", action="store_true", help=SUPPRESS)


def add_http_options(parser: Any) -> None:
    """http_user.py's."""
    parser.add_argument("--path", default="/messages", help="the route requested, under --host (default: %(default)s)")


def add_lifetime_options(parser: Any) -> None:
    """lifetime_user.py's."""
    parser.add_argument("--token-ttl", type=float, default=5.0, help="seconds a connection's token is valid (spread ±50%%)")
    parser.add_argument("--close-bound", type=float, default=5.0, help="seconds after exp by which the server must close")
    parser.add_argument("--max-never", type=int, default=0)
    parser.add_argument("--max-late-ratio", type=float, default=0.0)
