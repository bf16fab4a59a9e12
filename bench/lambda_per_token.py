"""The fastauthz side of bench/node_per_token.py's steady state: bench/node/per_token.js's twin.

    python -S bench/lambda_per_token.py     (PYTHONPATH: the Lambda package, unpacked)

A long-lived process that imports the handler as Lambda's runtime does (`fastauthz.handler`, which
builds the authorizer from the environment and freezes the cold start's objects out of the garbage
collector's way) and nothing else of fastauthz's tooling: no test kit, no token minting library,
no benchmark harness in its heap. The parent sends one batch per line on stdin,
"<case> <count> <step>" (tokens 0, step, 2*step... of the case; step 0 repeats the first), and
reads the nanoseconds per token on a line of its own, timed here around the handler calls alone.

A batch of fresh tokens starts from a full verified-token cache (filled with other tokens' entries
before the clock starts), as after a while in production: every fresh token then pays its share of
the evictions. Node's handler has no cache, so its twin has nothing to fill.

Standard library only: it runs from the package directory with `python -S`, as the function does.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

# The protocol keeps the real stdout; the handler's own output (metrics, warnings) goes to stderr,
# as a Lambda function's goes to its log stream.
answers = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)

from fastauthz.cache import VerifiedEntry  # noqa: E402  (after the redirection above)
from fastauthz.handler import authorizer, handler  # noqa: E402

template = open(os.environ["EVENT_FILE"]).read()
tokens: dict[str, list[str]] = json.load(open(os.environ["TOKENS_FILE"]))["tokens"]


def event_for(token: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(template)
    event["headers"]["Authorization"] = f"Bearer {token}"
    return event


events = {name: [event_for(token) for token in listed] for name, listed in tokens.items()}
FILLER = VerifiedEntry(float("inf"), {}, None, "filler", {}, "", "https://filler.example", None, {}, None)


def fill_cache() -> None:
    """Both token caches emptied, then filled to capacity with other tokens' entries: what
    workload.saturate does for the gate, written again because this process imports nothing of bench/."""
    verified, rejected = authorizer.cache, authorizer.rejected
    verified.clear()
    rejected.clear()
    verified.entries.update((f"filler-{index}", FILLER) for index in range(verified.size))
    rejected.entries.update((-index, (float("inf"), "malformed")) for index in range(1, rejected.size + 1))


def batch(name: str, count: int, step: int) -> float:
    listed = events[name]
    chosen = [listed[(index * step) % len(listed)] for index in range(count)]
    if step:
        fill_cache()
    started = time.perf_counter_ns()
    for event in chosen:
        if handler(event, None)["policyDocument"]["Statement"][0]["Effect"] != "Allow":
            raise AssertionError("not allowed")
    return (time.perf_counter_ns() - started) / count


for line in sys.stdin:
    name, count, step = line.split()
    try:
        answers.write(json.dumps({"ns": batch(name, int(count), int(step))}) + "\n")
    except Exception as error:  # reported to the parent, which stops the run
        answers.write(json.dumps({"error": f"{type(error).__name__}: {error}"}) + "\n")
