"""Per token, fastauthz against aws-jwt-verify on Node, in two regimes, the same tokens on both sides.

- **Steady state.** A long-lived node process (bench/node/per_token.js, timed inside with
  process.hrtime) and fastauthz's handler in this process (both token caches filled to capacity
  first, so that every fresh token pays an eviction as it does in production). Each side is warmed
  on its own until its batch median stops falling: passes of WARM_PASS batches of BATCH tokens, until
  PATIENCE passes in a row fail to beat the best pass median by more than WARM_TOLERANCE (at most
  WARM_LIMIT passes). V8 tiers a function up to optimised code only after thousands of calls; timing
  it before that flatters whoever is compared with it. Then interleaved rounds in alternating order;
  the ratio is taken round by round and the median reported.
- **The first 1,000 tokens after process start.** A fresh process per run for each side: Node runs
  connect.js's handler, fastauthz runs the Lambda package's handler (`make package`'s zip, unpacked
  as Lambda does, python -S), both with the same environment and file keys; each times its first
  FIRST distinct tokens after its handler module has loaded. Runs alternate between the sides.

The tokens are minted for this run with the gate's committed keys (bench/fixtures/private-keys.json)
so that there are FIRST distinct ones per algorithm. aws-jwt-verify keeps no verified-token cache,
so its "repeated token" row verifies every time.

    python -m bench.node_per_token [--rounds N] [--json PATH]
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import harness
from bench.coldstart import function_code, node_peer
from bench.workload import CACHE_SIZE, saturate
from testkit.events import CONNECT, EVENTS, connect_event

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "bench" / "fixtures"
EVENT_FILE = EVENTS / f"{CONNECT}.json"  # the template Node fills in
BATCH = 128
FIRST = 1000  # tokens timed after process start
FIRST_RUNS = 7  # fresh processes per side and algorithm
WARM_PASS, WARM_TOLERANCE, PATIENCE, WARM_LIMIT = 8, 0.01, 3, 60
CASES = {  # row: (token set, fresh tokens each call?)
    "fresh RS256-2048 token": ("RS256-2048", True),
    "fresh ES256 token": ("ES256", True),
    "fresh EdDSA token": ("EdDSA", True),
    "repeated token": ("RS256-2048", False),
}
FRESH = {name for name, fresh in CASES.values() if fresh}
# The fresh fastauthz process of the first-tokens regime: the handler as Lambda imports it, then
# FIRST distinct tokens (events built before the clock starts, as Node's are).
FIRST_TOKENS = (
    "import json, os, sys, time\n"
    "from fastauthz.handler import handler\n"
    "tokens = json.load(open(os.environ['TOKENS_FILE']))['tokens'][sys.argv[1]][:int(sys.argv[2])]\n"
    "template = open(os.environ['EVENT_FILE']).read()\n"
    "events = []\n"
    "for token in tokens:\n"
    "    event = json.loads(template)\n"
    "    event['headers']['Authorization'] = 'Bearer ' + token\n"
    "    events.append(event)\n"
    "started = time.perf_counter_ns()\n"
    "for event in events:\n"
    "    assert handler(event, None)['policyDocument']['Statement'][0]['Effect'] == 'Allow'\n"
    "print(json.dumps({'ns': (time.perf_counter_ns() - started) / len(events)}))\n"
)


def mint_tokens(path: Path) -> dict[str, Any]:
    """FIRST distinct valid tokens per fresh-token algorithm, signed with the gate's keys, in `path`."""
    from bench.mint_fixtures import AUDIENCE, ISSUER, KEYS, claims, load_or_generate_keys, mint

    keys = load_or_generate_keys(new=False)
    document = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "tokens": {name: [mint(keys[name], KEYS[name], claims(f"user-{i}")) for i in range(FIRST)] for name in sorted(FRESH)},
    }
    path.write_text(json.dumps(document))
    return document


def fastauthz_batch(tokens: dict[str, Any]) -> Callable[[str, bool], float]:
    from fastauthz.authorizer import Authorizer
    from fastauthz.config import load_settings

    authorizer = Authorizer(
        load_settings(
            {
                "JWT_ISSUER": tokens["issuer"],
                "JWT_ISSUER_JWKS_URI": f"file://{FIXTURES / 'jwks.json'}",
                "JWT_AUTHORIZED_AUDIENCES": tokens["audience"],
                "JWT_CACHE_SIZE": str(CACHE_SIZE),
            }
        ),
        write=io.StringIO().write,
    )
    events = {name: [connect_event(token) for token in listed[:BATCH]] for name, listed in tokens["tokens"].items()}

    def run(name: str, fresh: bool) -> float:
        batch = events[name] if fresh else [events[name][0]] * BATCH
        if fresh:
            saturate(authorizer)
        decide = authorizer.decide
        started = time.perf_counter_ns()
        for item in batch:
            if decide(item) is None:
                raise AssertionError("refused")
        return (time.perf_counter_ns() - started) / BATCH

    return run


def warm_up(run: Callable[[], float]) -> int:
    """Run batches until their median stops falling (the rule in the module's docstring); the tokens it took."""
    best, flat, passes = float("inf"), 0, 0
    while passes < WARM_LIMIT and flat < PATIENCE:
        median = statistics.median(run() for _ in range(WARM_PASS))
        passes += 1
        if median < best * (1 - WARM_TOLERANCE):
            best, flat = median, 0
        else:
            flat += 1
    return passes * WARM_PASS * BATCH


def steady_state(node: str, env: dict[str, str], tokens: dict[str, Any], rounds: int) -> list[dict[str, Any]]:
    peer = subprocess.Popen(
        [node, str(ROOT / "bench" / "node" / "per_token.js")], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    assert peer.stdin is not None and peer.stdout is not None
    stdin, stdout = peer.stdin, peer.stdout

    def node_batch(name: str, fresh: bool) -> float:
        stdin.write(f"{name} {BATCH} {1 if fresh else 0}\n")
        answer = json.loads(stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"node peer: {answer['error']}")
        return float(answer["ns"])

    fastauthz = fastauthz_batch(tokens)
    rows = []
    try:
        for label, (name, fresh) in CASES.items():
            warmed = {"node": warm_up(lambda: node_batch(name, fresh)), "fastauthz": warm_up(lambda: fastauthz(name, fresh))}
            ratios, ours, theirs = [], [], []
            for index in range(rounds):
                if index % 2:
                    mine, other = fastauthz(name, fresh), node_batch(name, fresh)
                else:
                    other, mine = node_batch(name, fresh), fastauthz(name, fresh)
                ours.append(mine)
                theirs.append(other)
                ratios.append(mine / other)
            rows.append(
                {
                    "case": label,
                    "fastauthz_us": statistics.median(ours) / 1000,
                    "node_us": statistics.median(theirs) / 1000,
                    "ratio": statistics.median(ratios),
                    "warm_up_tokens": warmed,
                }
            )
    finally:
        stdin.close()
        peer.wait(timeout=10)
    return rows


def first_tokens(node: str, env: dict[str, str], task: Path) -> list[dict[str, Any]]:
    python_env = {**env, "PYTHONPATH": str(task), "LOG_LEVEL": "WARN"}
    commands = {
        "node": [node, str(ROOT / "bench" / "node" / "per_token.js"), "first"],
        "fastauthz": [sys.executable, "-S", "-c", FIRST_TOKENS],
    }
    rows = []
    for label, (name, fresh) in CASES.items():
        if not fresh:
            continue
        figures: dict[str, list[float]] = {"node": [], "fastauthz": []}
        for index in range(FIRST_RUNS):
            for side in ("node", "fastauthz") if index % 2 == 0 else ("fastauthz", "node"):
                completed = subprocess.run(
                    [*commands[side], name, str(FIRST)], env=python_env, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False
                )
                if completed.returncode != 0:
                    raise RuntimeError(f"{side} failed: {completed.stderr[-1500:]}")
                figures[side].append(float(json.loads(completed.stdout)["ns"]))
        ratios = [mine / other for mine, other in zip(figures["fastauthz"], figures["node"], strict=True)]
        rows.append(
            {
                "case": label,
                "fastauthz_us": statistics.median(figures["fastauthz"]) / 1000,
                "node_us": statistics.median(figures["node"]) / 1000,
                "ratio": statistics.median(ratios),
            }
        )
    return rows


def measure(rounds: int) -> dict[str, Any]:
    node = node_peer()
    if node is None:
        return {"skipped": "node/npm not found"}
    directory = Path(tempfile.mkdtemp(prefix="fastauthz-per-token-"))
    try:
        tokens = mint_tokens(directory / "tokens.json")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "JWT_ISSUER": tokens["issuer"],
            "JWT_AUTHORIZED_AUDIENCES": tokens["audience"],
            "JWKS_FILE": str(FIXTURES / "jwks.json"),
            "JWT_ISSUER_JWKS_URI": f"file://{FIXTURES / 'jwks.json'}",
            "TOKENS_FILE": str(directory / "tokens.json"),
            "EVENT_FILE": str(EVENT_FILE),
        }
        task, _ = function_code(directory)
        first = first_tokens(node, env, task)
        steady = steady_state(node, env, tokens, rounds)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    return {
        "rounds": rounds,
        "node": version,
        "batch": BATCH,
        "first": FIRST,
        "first_runs": FIRST_RUNS,
        "warm_up_rule": {"pass": WARM_PASS, "tolerance": WARM_TOLERANCE, "patience": PATIENCE, "limit": WARM_LIMIT},
        "rows": steady,
        "first_rows": first,
    }


def table(summary: dict[str, Any]) -> str:
    if "rows" not in summary:
        return f"(Node peer skipped: {summary.get('skipped')})"
    lines = [
        "| per token | steady state: fastauthz | aws-jwt-verify (Node) | × Node | warm-up tokens (fastauthz / Node) "
        "| first 1,000 tokens: fastauthz | aws-jwt-verify (Node) | × Node |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    first = {row["case"]: row for row in summary.get("first_rows", [])}
    for row in summary["rows"]:
        warmed = row.get("warm_up_tokens", {})
        cold = first.get(row["case"])
        early = f"{cold['fastauthz_us']:.1f} µs | {cold['node_us']:.1f} µs | {cold['ratio']:.2f}" if cold else "— | — | —"
        lines.append(
            f"| {row['case']} | {row['fastauthz_us']:.1f} µs | {row['node_us']:.1f} µs | {row['ratio']:.2f} "
            f"| {warmed.get('fastauthz', 0):,} / {warmed.get('node', 0):,} | {early} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return harness.main(
        __doc__,
        argv,
        lambda args: measure(args.rounds),
        lambda summary, args: (
            f"per token against aws-jwt-verify on Node {summary.get('node', '')}, "
            f"{args.rounds} interleaved rounds at steady state, {FIRST_RUNS} fresh "
            f"processes per side for the first {FIRST} tokens (medians):\n{table(summary)}"
        ),
        repeat=("--rounds", 21),
    )


if __name__ == "__main__":
    sys.exit(main())
