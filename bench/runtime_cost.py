"""What Lambda's Python runtime adds around the handler, measured with the runtime's own code.

Each call goes through `awslambdaric.bootstrap.handle_event_request` (the Runtime Interface Client
that AWS's Python base images and managed runtimes run): the event arrives as JSON bytes, is
unmarshalled, handed to `fastauthz.handler.handler`, and the result is marshalled, or the error
turned into the runtime's error response, X-Ray fault and `[ERROR]` log record. Only the HTTP
POST to the Runtime API is replaced (by a no-op), and stdout goes to memory instead of a pipe.
Interleaved with the raw `cryptography` verify of the same tokens, medians, as in bench/ratios.py.

On refusals three shapes are compared: fastauthz's default (the exception is raised in the handler
function, one frame), raising inside the authorizer (two frames: the runtime formats every frame of
the traceback), and FASTAUTHZ_REFUSE_WITH=deny (a Deny policy returned: no error at all).

    python -m bench.runtime_cost [--rounds N] [--json PATH]
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import io
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from bench import harness
from bench.cases import Case
from bench.ratios import batch_of, expect_refusal, interleaved
from bench.workload import saturate
from testkit.events import connect_event


class OfflineRuntimeClient:
    """The runtime client's interface, minus the Runtime API's HTTP round trip."""

    def __init__(self) -> None:
        from awslambdaric.lambda_runtime_marshaller import LambdaMarshaller

        self.marshaller = LambdaMarshaller()
        self.errors = 0

    def post_invocation_result(self, *args: Any, **kwargs: Any) -> None:
        pass

    def post_invocation_error(self, *args: Any, **kwargs: Any) -> None:
        self.errors += 1


def through_runtime(handler: Callable[[Any, Any], Any], bodies: list[bytes]) -> tuple[Callable[[int], None], OfflineRuntimeClient]:
    from awslambdaric.bootstrap import StandardLogSink, handle_event_request

    client = OfflineRuntimeClient()
    sink = StandardLogSink()
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:fastauthz"

    def call(index: int) -> None:
        handle_event_request(
            client, handler, "request-id", bodies[index], "application/json", None, None, arn, 4_102_444_800_000, None, sink
        )

    return call, client


def measure(rounds: int) -> list[dict[str, Any]]:
    case = Case("RS256-2048")
    count = len(case.events)
    os.environ.update(case.environment())
    sys.modules.pop("fastauthz.handler", None)
    entry = importlib.import_module("fastauthz.handler")  # the real entry point, built from the environment
    authorizer = entry.authorizer

    def raising_inside(event: Any, context: Any) -> Any:  # the shape fastauthz had before
        return authorizer.handle(event)

    from fastauthz.authorizer import Authorizer

    denying = Authorizer.from_env({**os.environ, "FASTAUTHZ_REFUSE_WITH": "deny"}, write=io.StringIO().write)

    deny_mode = denying.handle  # fastauthz.handler.handler, with FASTAUTHZ_REFUSE_WITH=deny

    malformed = [json.dumps(connect_event(f"not-a-token-{index}")).encode() for index in range(count)]
    fresh = [json.dumps(event).encode() for event in case.events]
    floor = batch_of(case.floor(), count)
    rows = []
    through, client = through_runtime(entry.handler, malformed)
    through(0)
    assert client.errors == 1, "a malformed token must reach the runtime as an error (API Gateway's 401)"
    through_deny, deny_client = through_runtime(deny_mode, malformed)
    through_deny(0)
    assert deny_client.errors == 0, "in deny mode a malformed token is a Deny policy, not an error"
    runs = {
        "fresh RS256 token, the handler alone": lambda i: entry.handler(case.events[i], None),
        "fresh RS256 token, through the runtime": through_runtime(entry.handler, fresh)[0],
        "malformed token, the handler alone": expect_refusal(
            lambda event: entry.handler(event, None), [json.loads(body) for body in malformed]
        ),
        "malformed token, through the runtime": through,
        "malformed token, through the runtime, raised inside the authorizer": through_runtime(raising_inside, malformed)[0],
        "malformed token, through the runtime, deny mode (FASTAUTHZ_REFUSE_WITH=deny)": through_deny,
    }
    gc.freeze()
    for label, run in runs.items():

        def refill() -> None:
            saturate(authorizer)
            saturate(denying)

        batch = batch_of(run, count, before=refill)
        rows.append({"case": label, **interleaved(floor, batch, rounds)})
    return rows


def main(argv: list[str] | None = None) -> int:
    def quietly(rounds: int) -> dict[str, Any]:
        with contextlib.redirect_stdout(io.StringIO()):  # the handler's and the runtime's log lines
            return {"rows": measure(rounds)}

    return harness.main(__doc__, argv, lambda args: quietly(args.rounds), lambda result, args: table(result["rows"]))


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| per `$connect` | median | × raw verify |", "| --- | --- | --- |"]
    lines += [f"| {row['case']} | {row['median_us']:.1f} µs | {row['ratio']:.2f} |" for row in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
