"""Per token, fastauthz against aws-jwt-verify on Node: the same fixture tokens, interleaved rounds.

Each round runs a batch through fastauthz's handler (in this process, both token caches refilled to
capacity first, as in steady state) and the same batch through bench/node/connect.js's handler (a
long-lived node process, timed inside it with process.hrtime), in alternating order; the ratio is
taken round by round and the median reported. aws-jwt-verify keeps no verified-token cache, so its
"repeated token" row verifies every time.

    python -m bench.node_per_token [--rounds N] [--json PATH]
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import harness
from bench.coldstart import node_peer
from bench.workload import CACHE_SIZE, saturate
from tests.support.events import CONNECT, EVENTS, connect_event

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "bench" / "fixtures"
EVENT_FILE = EVENTS / f"{CONNECT}.json"  # the template Node fills in
BATCH = 128
CASES = {  # row: (fixture token set, fresh tokens each call?)
    "fresh RS256-2048 token": ("RS256-2048", True),
    "fresh ES256 token": ("ES256", True),
    "fresh EdDSA token": ("EdDSA", True),
    "repeated token": ("RS256-2048", False),
}


def fastauthz_batch(fixtures: dict[str, Any]) -> Any:
    from fastauthz.authorizer import Authorizer
    from fastauthz.config import load_settings

    authorizer = Authorizer(load_settings({
        "JWT_ISSUER": fixtures["issuer"], "JWT_ISSUER_JWKS_URI": f"file://{FIXTURES / 'jwks.json'}",
        "JWT_AUTHORIZED_AUDIENCES": fixtures["audience"], "JWT_CACHE_SIZE": str(CACHE_SIZE),
    }), write=io.StringIO().write)
    events = {name: [connect_event(token) for token in tokens] for name, tokens in fixtures["tokens"].items()}

    def run(name: str, fresh: bool) -> float:
        batch = events[name][:BATCH] if fresh else [events[name][0]] * BATCH
        if fresh:
            saturate(authorizer)
        decide = authorizer.decide
        started = time.perf_counter_ns()
        for item in batch:
            if decide(item) is None:
                raise AssertionError("refused")
        return (time.perf_counter_ns() - started) / BATCH

    return run


def measure(rounds: int) -> dict[str, Any]:
    node = node_peer()
    if node is None:
        return {"skipped": "node/npm not found"}
    fixtures = json.loads((FIXTURES / "tokens.json").read_text())
    env = {"PATH": "/usr/bin:/bin", "JWT_ISSUER": fixtures["issuer"], "JWT_AUTHORIZED_AUDIENCES": fixtures["audience"],
           "JWKS_FILE": str(FIXTURES / "jwks.json"), "TOKENS_FILE": str(FIXTURES / "tokens.json"), "EVENT_FILE": str(EVENT_FILE)}
    peer = subprocess.Popen([node, str(ROOT / "bench" / "node" / "per_token.js")], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, bufsize=1)
    assert peer.stdin is not None and peer.stdout is not None

    def node_batch(name: str, fresh: bool) -> float:
        peer.stdin.write(f"{name} {BATCH} {1 if fresh else 0}\n")  # type: ignore[union-attr]
        answer = json.loads(peer.stdout.readline())  # type: ignore[union-attr]
        if "error" in answer:
            raise RuntimeError(f"node peer: {answer['error']}")
        return float(answer["ns"])

    fastauthz = fastauthz_batch(fixtures)
    rows = []
    try:
        for label, (name, fresh) in CASES.items():
            for _ in range(3):  # warm-up: JIT on one side, specialisation on the other
                node_batch(name, fresh), fastauthz(name, fresh)
            ratios, ours, theirs = [], [], []
            for index in range(rounds):
                if index % 2:
                    mine, other = fastauthz(name, fresh), node_batch(name, fresh)
                else:
                    other, mine = node_batch(name, fresh), fastauthz(name, fresh)
                ours.append(mine)
                theirs.append(other)
                ratios.append(mine / other)
            rows.append({"case": label, "fastauthz_us": statistics.median(ours) / 1000, "node_us": statistics.median(theirs) / 1000,
                         "ratio": statistics.median(ratios)})
    finally:
        peer.stdin.close()
        peer.wait(timeout=10)
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    return {"rounds": rounds, "node": version, "batch": BATCH, "rows": rows}


def table(summary: dict[str, Any]) -> str:
    if "rows" not in summary:
        return f"(Node peer skipped: {summary.get('skipped')})"
    lines = ["| per token | fastauthz | aws-jwt-verify (Node) | × Node |", "| --- | --- | --- | --- |"]
    lines += [f"| {row['case']} | {row['fastauthz_us']:.1f} µs | {row['node_us']:.1f} µs | {row['ratio']:.2f} |" for row in summary["rows"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return harness.main(__doc__, argv, lambda args: measure(args.rounds),
                        lambda summary, args: f"per token against aws-jwt-verify on Node {summary.get('node', '')}, "
                                              f"{args.rounds} interleaved rounds (medians):\n{table(summary)}")


if __name__ == "__main__":
    sys.exit(main())
