"""`make loadtest-local`: the dev issuer and local stage on 127.0.0.1, a bounded headless locust run
against them, and a key rotation and an IdP outage in the middle of it.

    python -m loadtest.run_local [--run-time 40] [--users 16] [--scenario steady|ramp|storm] [--no-events]
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
        "LOG_LEVEL=ERROR",
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


def locust_command(locustfile: str, stage: str, args: argparse.Namespace) -> list[str]:
    """A bounded headless locust run of loadtest/<locustfile> against the stage, as the options say."""
    return [
        *(sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / locustfile), "--headless", "--only-summary"),
        *("--host", stage, "--users", str(args.users), "--spawn-rate", str(args.users), "--run-time", f"{int(args.run_time)}s"),
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
    parser.add_argument("--users", type=int, default=16)
    parser.add_argument("--connects-per-user", type=float, default=20)
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
            f"target: stage {stage}, issuer {issuer}; {args.scenario}, {args.users} users x {args.connects_per_user:g} connects/s, "
            f"{args.run_time:g} s{'' if args.no_events else ', with a key rotation and an IdP outage'}",
            flush=True,
        )
        stop = threading.Event()
        try:
            name = f"local-{'' if args.api == 'websocket' else args.api + '-'}{args.scenario}{'' if args.no_events else '-events'}"
            command = [
                *locust_command("locustfile.py" if args.api == "websocket" else "http_locustfile.py", stage, args),
                "--stop-timeout",
                "5",
                "--scenario",
                args.scenario,
                "--tokens",
                f"mint:{state_dir}",
                "--connects-per-user",
                str(args.connects_per_user),
                "--max-p99-ms",
                str(args.max_p99_ms),
                "--csv",
                str(out / name),
                "--html",
                str(out / f"{name}.html"),
                "--summary-json",
                str(out / f"{name}.json"),
                "--refuse-with",
                args.refuse_with,
                "--loglevel",
                "WARNING",
                *(["--simple-responses"] if args.api.endswith("-simple") else []),
            ]
            started = time.monotonic()
            if not args.no_events:
                threading.Thread(target=run_timeline, args=(issuer, args.run_time, started, stop), daemon=True).start()
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            return subprocess.run(command, cwd=ROOT, env=env, timeout=args.run_time + 60).returncode
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
            command = locust_command("lifetime_locustfile.py", stage, args)
            command += ["--stop-timeout", "15", "--tokens", f"mint:{state_dir}", "--close-bound", "5", "--loglevel", "WARNING"]
            command += ["--summary-json", str(out / "local-expiring.json")]
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
