"""`make loadtest-local`: the dev issuer and local stage on 127.0.0.1, a bounded `fastauthz loadtest` run
against them (the product's command, open model), and a key rotation and an IdP outage in the middle of it.

    python -m loadtest.run_local [--run-time 40] [--rate 100] [--scenario steady|ramp|storm|expiring] [--no-events]
                                 [--api websocket|rest-token|rest-request|http-1.0|http-2.0|http-2.0-simple]

Timeline (fractions of the run): 0.20 the issuer publishes a new key; 0.45 it signs with it; 0.55
the old key leaves the JWKS; 0.60-0.85 the JWKS endpoint answers 503. The authorizer refreshes its
keys every 5 s (JWT_JWKS_TTL_SECONDS=5), serves its last good keys through the outage, and must
make no wrong decision throughout. Loopback only, bounded in time; exits with locust's code.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Publish and activate are at least 10 s apart (twice the authorizer's 5 s key TTL), as real IdPs
# publish a key well before signing with it; verifiers that never saw a key cannot accept it.
TIMELINE = [
    (0.20, "rotate?step=publish", "issuer publishes a new key"),
    (0.45, "rotate?step=activate", "issuer signs with the new key"),
    (0.55, "rotate?step=retire", "the old key leaves the JWKS"),
    (0.60, "outage?down=1", "IdP outage: JWKS answers 503"),
    (0.85, "outage?down=0", "IdP back"),
]


APIS = ("websocket", "rest-token", "rest-request", "http-1.0", "http-2.0", "http-2.0-simple")


def start_target(
    state: Path, refuse_with: str = "unauthorized", api: str = "websocket", sweep_interval: float = 0.0
) -> tuple[subprocess.Popen[str], str, str]:
    command = [
        sys.executable,
        "-m",
        "fastauthz.dev.cli",
        "dev",
        "--port",
        "0",
        "--issuer-port",
        "0",
        "--state",
        str(state),
        "--alg",
        "ES256",
        "--concurrency",
        "2",
        "--sweep-interval",  # 0: the connect decision alone; the expiring scenario sweeps every second
        f"{sweep_interval:g}",
        "--authorizer-env",
        "JWT_JWKS_TTL_SECONDS=5",
        "--authorizer-env",
        "LOG_LEVEL=INFO",  # the decision lines: the reason codes of the authorizer's figures,
        "--authorizer-env",
        "JWT_REQUIRED_SCOPES=chat",
        "--authorizer-env",
        f"FASTAUTHZ_REFUSE_WITH={refuse_with}",
        # a connection's deadline is its token's exp (no grace): the lifetime scenario times closes against it
        "--authorizer-env",
        "FASTAUTHZ_SWEEP_GRACE_SECONDS=0",
    ]
    if api != "websocket":  # the local stage's REST or HTTP API front
        command += ["--http", api.removesuffix("-simple")]
        if api.endswith("-simple"):
            command += ["--simple-responses", "--authorizer-env", "FASTAUTHZ_HTTP_SIMPLE_RESPONSES=true"]
    target = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    issuer = stage = ""
    deadline = time.monotonic() + 60
    assert target.stdout is not None
    while not stage and time.monotonic() < deadline:
        line = target.stdout.readline()
        if not line:
            break
        if match := re.search(r"dev issuer (http://\S+)", line):
            issuer = match.group(1)
        if match := re.search(r"stage ((?:ws|http)://\S+)", line):
            stage = match.group(1)
    if not (issuer and stage):
        target.kill()
        raise SystemExit("the local stage did not start")
    threading.Thread(target=lambda: [None for _ in target.stdout], daemon=True).start()  # type: ignore[union-attr]
    return target, issuer, stage


def loadtest_command(stage: str, state_dir: str, args: argparse.Namespace) -> list[str]:
    """`fastauthz loadtest` against the stage, its tokens minted with the dev issuer's keys and its
    authorizer's REPORT lines read from the stage's log (cold starts)."""
    return [
        *(sys.executable, "-m", "fastauthz.dev.cli", "loadtest", "--host", stage, "--tokens", f"mint:{state_dir}"),
        *("--run-time", f"{int(args.run_time)}s", "--lambda-log-file", str(Path(state_dir) / "logs" / "authorizer.log")),
    ]


def run_timeline(issuer: str, run_time: float, started: float, stop: threading.Event) -> None:
    for fraction, action, what in TIMELINE:
        if stop.wait(max(0.0, started + fraction * run_time - time.monotonic())):
            return
        request = urllib.request.Request(f"{issuer}/control/{action}", method="POST")
        with urllib.request.urlopen(request, timeout=5):
            pass
        print(f"  [{time.monotonic() - started:5.1f} s] {what}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run-time", type=float, default=40)
    parser.add_argument("--rate", default="100", help="connects per second (fastauthz loadtest --rate; default: %(default)s)")
    parser.add_argument("--users", type=int, default=16, help="the expiring scenario's users")
    parser.add_argument(
        "--scenario",
        default="steady",
        choices=["steady", "ramp", "storm", "expiring"],
        help="expiring: connections whose tokens expire during the run must be closed on time (connection lifetime)",
    )
    parser.add_argument("--no-events", action="store_true", help="no rotation or outage")
    parser.add_argument("--out", default=str(ROOT / "loadtest" / "results"))
    parser.add_argument("--max-p99-ms", type=float, default=2000)
    parser.add_argument("--api", default="websocket", choices=APIS, help="the front door under load (the stage's --http KIND)")
    parser.add_argument(
        "--refuse-with",
        default="unauthorized",
        choices=["unauthorized", "deny"],
        help="run the authorizer with FASTAUTHZ_REFUSE_WITH=deny: refused tokens must get 403",
    )
    args = parser.parse_args(argv)
    if args.scenario == "expiring":
        return run_expiring(args)
    if not args.no_events and args.run_time < 40:
        parser.error("--run-time: at least 40 s with events (publish and activate must be 10 s apart)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fastauthz-load-") as state_dir:
        target, issuer, stage = start_target(Path(state_dir), args.refuse_with, args.api)
        print(
            f"target: stage {stage}, issuer {issuer}; {args.scenario}, --rate {args.rate}, "
            f"{args.run_time:g} s{'' if args.no_events else ', with a key rotation and an IdP outage'}",
            flush=True,
        )
        stop = threading.Event()
        try:
            name = f"local-{'' if args.api == 'websocket' else args.api + '-'}{args.scenario}{'' if args.no_events else '-events'}"
            command = [
                *loadtest_command(stage, state_dir, args),
                *("--api", "websocket" if args.api == "websocket" else "http" if args.api.startswith("http") else "rest"),
                *("--rate", args.rate, "--scenario", args.scenario, "--max-p99-ms", str(args.max_p99_ms)),
                *("--csv", str(out / name), "--summary-json", str(out / f"{name}.json"), "--report", str(out / f"{name}.html")),
                *("--refuse-with", args.refuse_with),
                *(["--simple-responses"] if args.api.endswith("-simple") else []),
            ]
            started = time.monotonic()
            if not args.no_events:
                threading.Thread(target=run_timeline, args=(issuer, args.run_time, started, stop), daemon=True).start()
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            status = subprocess.run(command, cwd=ROOT, env=env, timeout=args.run_time + 60).returncode
            # the authorizer's log (its decision lines and REPORT lines), kept beside the results for a failed run's reader
            shutil.copy(Path(state_dir) / "logs" / "authorizer.log", out / f"{name}-authorizer.log")
            return status
        finally:
            stop.set()
            target.terminate()
            try:
                target.wait(10)
            except subprocess.TimeoutExpired:
                target.kill()


def run_expiring(args: argparse.Namespace) -> int:
    """Connections end with their tokens: `fastauthz dev` with the sweeper every second, users holding
    connections whose tokens expire in about 5 s, each close timed against its token's exp."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fastauthz-lifetime-") as state_dir:
        target, issuer, stage = start_target(Path(state_dir), sweep_interval=1.0)
        print(
            f"target: stage {stage} (sweeper every 1 s), issuer {issuer}; {args.users} users holding expiring connections, {args.run_time:g} s",
            flush=True,
        )
        try:
            command = [*loadtest_command(stage, state_dir, args), "--lifetime", "--users", str(args.users), "--stop-timeout", "15"]
            command += ["--close-bound", "5", "--summary-json", str(out / "local-expiring.json")]
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            return subprocess.run(command, cwd=ROOT, env=env, timeout=args.run_time + 90).returncode
        finally:
            target.terminate()
            try:
                target.wait(10)
            except subprocess.TimeoutExpired:
                target.kill()


if __name__ == "__main__":
    sys.exit(main())
