"""`fastauthz loadtest`: locust, run headless with the packaged user modules and the defaults a load test
of a stage needs, bounded in time whatever the clients do, then the authorizer's side from its logs
and the report.

    fastauthz loadtest --host wss://<api>.execute-api.<region>.amazonaws.com/prod --tokens command:./tokens.sh --rate 200 --run-time 5m
    fastauthz loadtest --state .fastauthz --rate 50 --run-time 30s          (a running `fastauthz dev`)

Options it does not know are locust's or the user modules' (core.py), and passed on as given.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ..dev.cli.errors import CommandError

USER_MODULES = {"websocket": "websocket_user.py", "rest": "http_user.py", "http": "http_user.py", "lifetime": "lifetime_user.py"}
# API Gateway's default quotas: new WebSocket connections per second per account and Region; REST and
# HTTP APIs' account-level throttle (requests per second).
QUOTAS = {"websocket": 500.0, "lifetime": 500.0, "rest": 10_000.0, "http": 10_000.0}
STOP_TIMEOUT = 5.0  # seconds locust gives running connects once the run time is up
START_ALLOWANCE = 20.0  # locust's start and end, past which a run that has not ended is stopped
WORKERS_WAIT = 60.0  # how long a master waits for --expect-workers


def add_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--host", help="the stage: wss://… (WebSocket) or https://… (--api rest|http); default: --state's stage")
    command.add_argument(
        "--state",
        help="a running `fastauthz dev`'s state directory: its stage as --host, mint:DIR as --tokens, its authorizer's log as --lambda-log-file",
    )
    command.add_argument(
        "--api", choices=("websocket", "rest", "http"), default="websocket", help="the front under load (default: %(default)s)"
    )
    command.add_argument(
        "--lifetime", action="store_true", help="WebSocket connections whose tokens expire during the run must be closed on time"
    )
    command.add_argument("--rate", default="", help="open model: connects per second over the run and all workers; A:B a ramp")
    command.add_argument(
        "--quota", type=float, help="refuse a --rate above this (default: API Gateway's, 500/s WebSocket, 10,000/s REST/HTTP)"
    )
    command.add_argument("-u", "--users", type=int, help="closed model: concurrent users (locust's; not with --rate)")
    command.add_argument("-t", "--run-time", default="1m", help="how long, as locust reads it: 30s, 5m, 1h (default: %(default)s)")
    command.add_argument(
        "--stop-timeout", type=float, default=STOP_TIMEOUT, help="seconds to let running connects end (default: %(default)s)"
    )
    command.add_argument("--tokens", help="mint:<dir> | file:<path> | command:<cmd> (default: mint:<--state>, else mint:.fastauthz)")
    command.add_argument("--mix", help="token kinds and weights (default: core.DEFAULT_MIX)")
    command.add_argument("--master", action="store_true", help="locust's: drive workers (each `fastauthz loadtest --worker`)")
    command.add_argument("--worker", action="store_true", help="locust's: a load generator of a --master")
    command.add_argument("--expect-workers", type=int, default=1, help="locust's: workers the master waits for (default: %(default)s)")
    command.add_argument(
        "--processes", type=int, help="locust's: fork N workers on this host (-1: one per CPU), the rate shared among them"
    )
    command.add_argument(
        "--lambda-log-group", help="after the run, read the authorizer's CloudWatch log group for the run's window (boto3)"
    )
    command.add_argument("--lambda-log-file", help="after the run, read a captured authorizer log (aws logs tail's, or fastauthz dev's)")
    command.add_argument("--region", help="the log group's region (default: boto3's)")
    command.add_argument(
        "--lambda-log-wait", type=float, default=15.0, help="seconds to let CloudWatch Logs receive the last lines (default: %(default)s)"
    )
    command.add_argument("--report", default="loadtest-report.html", help="the HTML report ('' for none; default: %(default)s)")
    command.add_argument("--summary-json", help="the results as JSON (totals, classes, percentiles, timeline, authorizer)")


def run(args: argparse.Namespace, passthrough: list[str]) -> int:
    for module, extra in (("locust", "loadtest"), ("websocket", "loadtest")):
        if importlib.util.find_spec(module) is None:
            raise CommandError(f"needs {module}: pip install 'fastauthz[{extra}]'", 2)
    api = "lifetime" if args.lifetime else args.api
    if args.locust_help:
        return _locust_help(api)
    if args.lifetime and args.api != "websocket":
        raise CommandError("--lifetime: WebSocket connections only (--api websocket)", 2)
    if args.lifetime and args.rate:
        raise CommandError("--lifetime holds connections until the server closes them: give --users, not --rate", 2)
    command = [sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name(USER_MODULES[api])), *passthrough]
    if args.worker:  # the master sends the rest (our options, the host); the worker needs only the user module
        return subprocess.run([*command, "--worker"]).returncode
    state = _dev_state(args.state) if args.state else {}
    host = args.host or state.get("stage")
    if not host:
        raise CommandError("no stage to load: --host wss://… (or --state DIR of a running fastauthz dev)", 2)
    tokens = args.tokens or f"mint:{args.state or '.fastauthz'}"
    log_file = args.lambda_log_file or state.get("authorizer_log")
    seconds = parse_seconds(args.run_time)
    _check_supply(tokens, args.mix)
    processes = args.expect_workers if args.master else 1
    if args.processes:  # locust forks the workers and is their master, expecting as many
        processes = args.processes if args.processes > 0 else os.cpu_count() or 1
    if args.rate:
        _check_rate(args, api, seconds)
        command += ["--users", str(processes), "--spawn-rate", str(processes), "--schedule-seconds", f"{seconds:g}"]
    elif args.users is not None:
        command += ["--users", str(args.users)]
        if "--spawn-rate" not in passthrough and "-r" not in passthrough:
            command += ["--spawn-rate", str(args.users)]  # all at once, unless asked (locust's default: 1 per second)
    forwarded = _forwarded(args)
    with tempfile.TemporaryDirectory(prefix="fastauthz-loadtest-") as scratch:
        summary_path = args.summary_json or str(Path(scratch) / "summary.json")
        command += [*forwarded, "--host", host, "--tokens", tokens, "--headless", "--run-time", args.run_time]
        command += ["--stop-timeout", f"{args.stop_timeout:g}", "--summary-json", summary_path, "--verdict-by-command"]
        if args.master and "--expect-workers-max-wait" not in passthrough:
            command += ["--expect-workers-max-wait", f"{WORKERS_WAIT:g}"]
        if "--loglevel" not in passthrough and "-L" not in passthrough:
            command += ["--loglevel", "WARNING"]
        if "--only-summary" not in passthrough:
            command += ["--only-summary"]
        started = time.time()
        bound = seconds + args.stop_timeout + START_ALLOWANCE + (WORKERS_WAIT if args.master or args.processes else 0)
        status = _bounded(command, bound)
        return _after(args, summary_path, log_file, started, status)


def _locust_help(api: str) -> int:
    """locust's options, then the load test's own (locust's --help does not list a locustfile's)."""
    from .options import add_http_options, add_lifetime_options, add_run_options

    status = subprocess.run([sys.executable, "-m", "locust", "--help"]).returncode
    parser = argparse.ArgumentParser(prog="fastauthz loadtest", add_help=False, usage=argparse.SUPPRESS)
    add_run_options(parser)
    if api in ("rest", "http"):
        add_http_options(parser.add_argument_group("REST and HTTP APIs"))
    if api == "lifetime":
        add_lifetime_options(parser.add_argument_group("--lifetime"))
    print("\nThe load test's options (fastauthz.loadtest):")
    print(parser.format_help())
    return status


def parse_seconds(text: str) -> float:
    """locust's --run-time: 90, 90s, 5m, 1h30m."""
    if re.fullmatch(r"\d+(\.\d+)?", text.strip()):
        return float(text)
    parts = re.findall(r"(\d+)\s*([hms])", text)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != re.sub(r"\s", "", text):
        raise CommandError(f"--run-time {text!r}: e.g. 30s, 5m, 1h30m", 2)
    return float(sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts))


def _forwarded(args: argparse.Namespace) -> list[str]:
    """Our options that the user modules read too (core.py's), as locust's command line carries them."""
    forwarded = ["--master"] if args.master else []
    if args.master:
        forwarded += ["--expect-workers", str(args.expect_workers)]
    if args.processes:
        forwarded += ["--processes", str(args.processes)]
    if args.rate:
        forwarded += ["--rate", args.rate]
    if args.mix:
        forwarded += ["--mix", args.mix]
    return forwarded


def _dev_state(state_dir: str) -> dict[str, Any]:
    from ..dev.cli.stages import load_stage_state

    state = load_stage_state(state_dir)
    if state is None:
        raise CommandError(
            f"no running fastauthz dev with state {state_dir}/: start `fastauthz dev --state {state_dir}`, or pass --host", 2
        )
    return state


def _check_supply(tokens: str, mix_text: str | None) -> None:
    """A kind the token source cannot give is refused now, with what to do, not in the middle of the run."""
    from .tokens import DEFAULT_MIX, TokenSupply, TokenSupplyError, parse_mix

    try:
        mix = parse_mix(mix_text or DEFAULT_MIX)
        supply = TokenSupply(tokens, mix)
        supply.check(mix)
    except TokenSupplyError as error:
        raise CommandError(str(error), 2) from None
    print(supply.describe(), flush=True)


def _check_rate(args: argparse.Namespace, api: str, seconds: float) -> None:
    from .schedule import RateError, Schedule

    if args.users is not None:
        raise CommandError("--rate is the open model (connects on schedule); --users is the closed one: give one of them", 2)
    try:
        schedule = Schedule(args.rate, seconds)
    except RateError as error:
        raise CommandError(str(error), 2) from None
    quota = args.quota if args.quota is not None else QUOTAS[api]
    args.quota = quota
    if schedule.peak > quota:
        what = "new WebSocket connections" if api in ("websocket", "lifetime") else "requests"
        raise CommandError(
            f"--rate {args.rate}: {schedule.peak:g}/s is above --quota {quota:g}/s (API Gateway's default quota of {what} per second "
            "per account and Region; past it, API Gateway answers 429): raise --quota if your account's is higher",
            2,
        )


def _bounded(command: list[str], bound: float) -> int:
    """Run locust; past `bound` seconds, stop it (SIGTERM: it still prints its verdict), then kill it."""
    process = subprocess.Popen(command)
    try:
        return process.wait(bound)
    except subprocess.TimeoutExpired:
        print(f"fastauthz loadtest: locust had not ended {bound:.0f} s after it started; stopping it", file=sys.stderr, flush=True)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        return 1
    except KeyboardInterrupt:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        raise


def _after(args: argparse.Namespace, summary_path: str, log_file: str | None, started: float, status: int) -> int:
    """The authorizer's side from its logs, the report, and the exit status."""
    try:
        summary = json.loads(Path(summary_path).read_text())
    except (OSError, ValueError):
        return status or 1  # refused before the run (locust said why), or stopped before its verdict
    if "timeline" in summary:  # the decision load test's (the lifetime test prints its own)
        from .results import print_verdict

        print_verdict(summary)
    window = (summary.get("start") or started) - 1, (summary.get("end") or time.time()) + 1
    authorizer = None
    if args.lambda_log_group or log_file:
        authorizer = _authorizer_side(args, log_file, window)
    if authorizer is not None:
        from .lambda_logs import describe

        for line in describe(authorizer):
            print(line)
        summary["authorizer"] = authorizer
        if args.summary_json:
            Path(args.summary_json).write_text(json.dumps(summary))
    if args.report and summary.get("timeline"):
        from .report import write_report

        write_report(Path(args.report), summary, title=f"fastauthz load test of {args.host or args.state}")
        print(f"  report: {os.path.abspath(args.report)}", flush=True)
    return status


def _authorizer_side(args: argparse.Namespace, log_file: str | None, window: tuple[float, float]) -> dict[str, Any] | None:
    from .lambda_logs import read_cloudwatch, read_file

    try:
        if args.lambda_log_group:
            wait = max(0.0, window[1] + args.lambda_log_wait - time.time())
            if wait:
                print(f"  reading {args.lambda_log_group} in {wait:.0f} s (CloudWatch Logs receives lines a few seconds late)", flush=True)
                time.sleep(wait)
            return read_cloudwatch(args.lambda_log_group, *window, region=args.region).summary()
        assert log_file is not None
        return read_file(log_file, *window).summary()
    except Exception as error:  # the run's own results stand; say why the authorizer's side is missing
        from ..dev.cli.errors import explain

        print(f"  authorizer: not read ({explain(error)[0]})", file=sys.stderr, flush=True)
        return None
