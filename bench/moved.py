"""Where a case's cost moved, at the Python level: a deterministic count per function (calls, and
line events in the function itself and below it) over the gate's window of calls, for the base and
the head commit, diffed. Callgrind alone puts nearly all of the cost in CPython's eval loop
(`_PyEval_EvalFrameDefault`); line events name the Python function that grew. Counts, not time:
the same code and inputs give the same counts on any machine.

    python -S -m bench.moved CASE LEAD_IN WINDOW   # (a child of bench.gate) one side's counts, as JSON on stdout
"""

from __future__ import annotations

import json
import sys
from typing import Any

Counts = dict[str, dict[str, Any]]  # "file:qualname" -> {"line", "calls", "self", "inclusive"}


def where(filename: str) -> str:
    """A file as both sides name it: relative to the checkout (code/) or to site-packages."""
    for marker in ("/code/", "/site-packages/", "/purelib/", "/platlib/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename.rsplit("/", 1)[-1]


def profile(run: Any, first: int, calls: int) -> Counts:
    """Counts over run(first) .. run(first + calls - 1), per call."""
    counts: Counts = {}
    stack: list[str] = []

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        code = frame.f_code
        key = f"{where(code.co_filename)}:{code.co_qualname}"
        if event == "call":
            entry = counts.setdefault(key, {"line": code.co_firstlineno, "calls": 0, "self": 0, "inclusive": 0})
            entry["calls"] += 1
            stack.append(key)
            return tracer
        if event == "line":
            counts[key]["self"] += 1
            for caller in set(stack):  # each function on the stack once (recursion)
                counts[caller]["inclusive"] += 1
        elif event == "return" and stack:
            stack.pop()
        return tracer

    sys.settrace(tracer)
    try:
        for index in range(first, first + calls):
            run(index)
    finally:
        sys.settrace(None)
    return {key: {**entry, **{name: entry[name] / calls for name in ("calls", "self", "inclusive")}} for key, entry in counts.items()}


def moved(base: Counts, head: Counts, top: int = 8) -> list[dict[str, Any]]:
    """The functions whose counts changed most (by inclusive, then self line events per call)."""
    rows = []
    for key in {*base, *head}:
        before, after = base.get(key, {}), head.get(key, {})
        change = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in ("calls", "self", "inclusive")}
        if any(abs(value) > 1e-9 for value in change.values()):
            line = after.get("line", before.get("line"))
            file, _, function = key.rpartition(":")
            rows.append({"function": function, "where": f"{file}:{line}", **change})
    rows.sort(key=lambda row: (-abs(row["inclusive"]), -abs(row["self"]), row["function"]))
    return rows[:top]


def format_row(row: dict[str, Any]) -> str:
    """`decide +41.0 lines/call inclusive (+41.0 self, +0 calls) (fastauthz/authorizer.py:231)`."""
    return (
        f"{row['function']} {row['inclusive']:+,.1f} lines/call inclusive ({row['self']:+,.1f} self, "
        f"{row['calls']:+,.2f} calls) ({row['where']})"
    )


def main(argv: list[str]) -> None:
    case, lead_in, window = argv[0], int(argv[1]), int(argv[2])
    from bench.workload import Workload

    workload = Workload(case)
    run = workload.cases[case]
    for index in range(lead_in):  # the same lead-in as the counted runs: caches warm, one-off work done
        run(index)
    counts = profile(run, lead_in, window)
    # The last line, alone: the authorizer writes its own log lines to stdout too.
    sys.stdout.write("\n" + json.dumps(counts) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
