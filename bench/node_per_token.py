"""Per token, fastauthz against aws-jwt-verify on Node, in two regimes, the same tokens on both sides.

- **Steady state.** Two long-lived twin processes, fed one batch at a time on stdin, each timing
  its handler inside: bench/node/per_token.js (connect.js's handler) and bench/lambda_per_token.py
  (fastauthz's handler, imported from `make package`'s zip unpacked as Lambda does, python -S,
  nothing else of the tooling in its heap). Both get the same environment and file keys. A batch
  of fresh tokens starts from a full token cache, so that every fresh token pays its eviction as it
  does in production. Each side is warmed on its own until its batch median stops falling: passes
  of WARM_PASS batches of BATCH tokens, until PATIENCE passes in a row fail to beat the best pass
  median by more than WARM_TOLERANCE (at most WARM_LIMIT passes). V8 tiers a function up to
  optimised code only after thousands of calls; timing it before that flatters whoever is compared
  with it. Then interleaved rounds in alternating order; the ratio is taken round by round and the
  median reported.
- **The first 1,000 tokens after process start.** A fresh process per run for each side: Node runs
  connect.js's handler, fastauthz runs the Lambda package's handler (python -S), both with the same
  environment and file keys; each times its first FIRST distinct tokens after its handler module
  has loaded. Runs alternate between the sides.

The tokens are minted for this run with the gate's committed keys (bench/fixtures/private-keys.json)
so that there are FIRST distinct ones per algorithm. aws-jwt-verify keeps no verified-token cache,
so its "repeated token" row verifies every time.

    python -m bench.node_per_token [--rounds N] [--json PATH]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import harness
from bench.coldstart import function_code, node_peer
from bench.workload import CACHE_SIZE
from testkit.events import CONNECT, EVENTS

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "bench" / "fixtures"
EVENT_FILE = EVENTS / f"{CONNECT}.json"  # the template Node fills in
BATCH = 128
FIRST = 1000  # tokens timed after process start
FIRST_RUNS = 7  # fresh processes per side and algorithm
WARM_PASS, WARM_TOLERANCE, PATIENCE, WARM_LIMIT = 8, 0.01, 3, 60
# Both steady-state twins run on this one CPU (FASTAUTHZ_BENCH_CPU, default the last one allowed):
# they take turns on it, so a busy neighbour on a shared machine slows both alike instead of
# whichever side the scheduler put on the busy core (measured: runs of seconds at 1.4x). Warmed
# up, Node's helper threads are idle. The first-tokens regime is not pinned: there V8 compiles on
# helper threads, and sharing one CPU with them took Node's first 1,000 RS256 tokens from ~55 to
# ~78 µs each. A Lambda function below 1,769 MB has less than one vCPU and would see that too; the
# harness keeps the peer's better case.
CPU = int(os.environ.get("FASTAUTHZ_BENCH_CPU", max(os.sched_getaffinity(0))))


def on_one_cpu() -> None:
    """preexec_fn: the child, and every thread it starts, on CPU."""
    os.sched_setaffinity(0, {CPU})


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


class Twin:
    """One side's long-lived process: a batch per line on stdin, its nanoseconds per token back."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1, cwd=ROOT, preexec_fn=on_one_cpu
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout, self.name = self.process.stdin, self.process.stdout, Path(command[-1]).name

    def batch(self, name: str, fresh: bool) -> float:
        self.stdin.write(f"{name} {BATCH} {1 if fresh else 0}\n")
        line = self.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} exited (status {self.process.wait(timeout=10)})")
        answer = json.loads(line)
        if "error" in answer:
            raise RuntimeError(f"{self.name}: {answer['error']}")
        return float(answer["ns"])

    def close(self) -> None:
        self.stdin.close()
        self.process.wait(timeout=10)


def steady_state(commands: dict[str, list[str]], env: dict[str, str], rounds: int) -> list[dict[str, Any]]:
    twins = {side: Twin(command, env) for side, command in commands.items()}
    node, fastauthz = twins["node"].batch, twins["fastauthz"].batch
    rows = []
    try:
        for label, (name, fresh) in CASES.items():
            warmed = {"node": warm_up(lambda: node(name, fresh)), "fastauthz": warm_up(lambda: fastauthz(name, fresh))}
            ratios, ours, theirs = [], [], []
            for index in range(rounds):
                if index % 2:
                    mine, other = fastauthz(name, fresh), node(name, fresh)
                else:
                    other, mine = node(name, fresh), fastauthz(name, fresh)
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
        for twin in twins.values():
            twin.close()
    return rows


def first_tokens(node: str, env: dict[str, str]) -> list[dict[str, Any]]:
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
                    [*commands[side], name, str(FIRST)],
                    env=env,
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                    timeout=120,
                    check=False,
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


def environment(issuer: str, audience: str, tokens_file: Path, code: str | Path) -> dict[str, str]:
    """One environment for both sides, in both regimes (each reads what it needs): the keys as a
    file, the token cache at the size whose evictions a batch pays in full, the handler's log at
    WARN. `code` is the PYTHONPATH the fastauthz side imports from (the unpacked Lambda package)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "JWT_ISSUER": issuer,
        "JWT_AUTHORIZED_AUDIENCES": audience,
        "JWKS_FILE": str(FIXTURES / "jwks.json"),
        "JWT_ISSUER_JWKS_URI": f"file://{FIXTURES / 'jwks.json'}",
        "JWT_CACHE_SIZE": str(CACHE_SIZE),
        "TOKENS_FILE": str(tokens_file),
        "EVENT_FILE": str(EVENT_FILE),
        "PYTHONPATH": str(code),
        "LOG_LEVEL": "WARN",
    }


def twin_commands(node: str) -> dict[str, list[str]]:
    """The steady state's two long-lived processes, one per side."""
    return {
        "node": [node, str(ROOT / "bench" / "node" / "per_token.js")],
        "fastauthz": [sys.executable, "-S", str(ROOT / "bench" / "lambda_per_token.py")],
    }


def measure(rounds: int) -> dict[str, Any]:
    node = node_peer()
    if node is None:
        return {"skipped": "node/npm not found"}
    directory = Path(tempfile.mkdtemp(prefix="fastauthz-per-token-"))
    try:
        tokens = mint_tokens(directory / "tokens.json")
        task, _ = function_code(directory)
        env = environment(tokens["issuer"], tokens["audience"], directory / "tokens.json", task)
        first = first_tokens(node, env)
        steady = steady_state(twin_commands(node), env, rounds)
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
