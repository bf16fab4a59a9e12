"""The local stages: `fastauthz dev` (issuer + stage + connection registry), `fastauthz stage`, and
the scripted `fastauthz demo`. `fastauthz dev` writes what a user needs to act on it (ports, the
registry's table and endpoint, the management API) to its state directory, stage.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from .errors import CommandError
from .issuing import DEFAULT_STATE, ISSUER_PORT

STAGE_PORT = 8765
STAGE_STATE = "stage.json"
# The default $default function (functions.echo) replies: it stands for a route with a route response.
DEFAULT_TWO_WAY = ("$default",)
# What the local stage passes on to the authorizer from its own environment (`fastauthz stage`).
AUTHORIZER_PREFIXES = ("JWT_", "AUTHORIZED_APIS", "FASTAUTHZ_", "LOG_LEVEL")


def command_line() -> str:
    """How to run `fastauthz` as pasted from a banner: the script where it is on PATH, else this Python's module."""
    return "fastauthz" if shutil.which("fastauthz") else f"{sys.executable} -m fastauthz.dev.cli"


def _stage_config(args: argparse.Namespace, authorizer_env: dict[str, str], lifetime: Any = None) -> Any:
    from ..runtime import FunctionSpec
    from ..stage import StageConfig

    routes = {"$default": FunctionSpec(args.default_route, name="default")}
    for item in args.route or []:
        key, _, handler = item.partition("=")
        routes[key] = FunctionSpec(handler, name=key)
    if lifetime is not None:  # connections that end when their token does (fastauthz.connections)
        lifetime_options = lifetime.stage_options(authorizer_env)
        routes |= lifetime_options.pop("routes")
    else:
        lifetime_options = {"connect": FunctionSpec(args.connect, name="connect") if args.connect else None}
    return StageConfig(
        authorizer=FunctionSpec(args.authorizer, env=authorizer_env, name="authorizer"),
        identity_sources=args.identity_source,
        **lifetime_options,
        routes=routes,
        two_way=DEFAULT_TWO_WAY if args.two_way is None else args.two_way,
        port=args.port,
        stage=args.stage,
        concurrency=args.concurrency,
        recycle_after=args.recycle_after,
        log=print if args.function_logs else None,
        log_dir=_log_dir(args),
        say=None if args.quiet else print,
        max_lifetime=args.max_lifetime,
        idle_timeout=args.idle_timeout,
    )


def _log_dir(args: argparse.Namespace) -> Path | None:
    """Where the functions' logs and REPORT lines go: --log-dir, else `fastauthz dev`'s <state>/logs."""
    if args.log_dir:
        return Path(args.log_dir)
    return Path(args.state) / "logs" if getattr(args, "state", None) else None


def _http_stage_config(args: argparse.Namespace, authorizer_env: dict[str, str]) -> Any:
    from ..httpstage import HttpStageConfig
    from ..runtime import FunctionSpec

    routes: dict[str, FunctionSpec | None] = {"$default": None}  # no integration: 200 with the authorizer's context
    for item in args.route or []:
        key, _, handler = item.partition("=")
        routes[key] = FunctionSpec(handler, name=key) if handler else None
    return HttpStageConfig(
        authorizer=FunctionSpec(args.authorizer, env=authorizer_env, name="authorizer"),
        kind=args.http,
        simple_responses=args.simple_responses,
        identity_sources=args.identity_source or (),
        result_ttl=args.result_ttl,
        routes=routes,
        public=args.public or (),
        port=args.port,
        stage=args.stage,
        concurrency=args.concurrency,
        log=print if args.function_logs else None,
        log_dir=_log_dir(args),
    )


async def _serve_stage(args: argparse.Namespace, authorizer_env: dict[str, str], banner: str = "", state: Path | None = None) -> None:
    if getattr(args, "http", None):
        from ..httpstage import HttpStage

        front = await HttpStage(_http_stage_config(args, authorizer_env)).start()
        print(f"{banner}{args.http} stage {front.url}", flush=True)
        _save_state(state, {"stage": front.url, **_logs_saved(args)})
        try:
            await asyncio.Event().wait()
        finally:
            await front.close()
        return
    from ..stage import Stage

    lifetime = None
    if getattr(args, "sweep_interval", 0) > 0:
        from ..lifetime import LocalLifetime

        lifetime = LocalLifetime(args.stage, args.sweep_interval).start()
    try:
        stage = await Stage(_stage_config(args, authorizer_env, lifetime)).start()
    except BaseException:
        if lifetime is not None:
            lifetime.stop()
        raise
    print(f"{banner}stage {stage.url}  (management: POST {stage.management_url}/<connectionId>)", flush=True)
    saved: dict[str, Any] = {"stage": stage.url, "management": stage.management_url, **_logs_saved(args)}
    sweeper = asyncio.create_task(lifetime.sweep_forever()) if lifetime is not None else None
    if lifetime is not None:
        registry = lifetime.environment
        saved["registry"] = registry
        print(
            f"connections end with their token: registry {registry['AWS_ENDPOINT_URL_DYNAMODB']} (table "
            f"{registry['FASTAUTHZ_CONNECTIONS_TABLE']}), sweep every {args.sweep_interval:g} s\n"
            f"sign a user out:\n  {command_line()} disconnect --sub dev-user --state {args.state}",
            flush=True,
        )
    _save_state(state, saved)
    try:
        await asyncio.Event().wait()
    finally:
        if sweeper is not None:
            sweeper.cancel()
        await stage.close()
        if lifetime is not None:
            lifetime.stop()


def _logs_saved(args: argparse.Namespace) -> dict[str, str]:
    """The authorizer's log file, for `fastauthz loadtest --lambda-log-file` (REPORT lines: cold starts)."""
    log_dir = _log_dir(args)
    return {"authorizer_log": str((log_dir / "authorizer.log").resolve())} if log_dir is not None else {}


def _save_state(state: Path | None, values: dict[str, Any]) -> None:
    if state is not None:
        state.mkdir(parents=True, exist_ok=True)
        (state / STAGE_STATE).write_text(json.dumps(values, indent=2) + "\n")


def load_stage_state(state_dir: str) -> dict[str, Any] | None:
    """What a running `fastauthz dev` wrote to its state directory, or None."""
    path = Path(state_dir) / STAGE_STATE
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state


def _check_authorizer_settings(args: argparse.Namespace, env: dict[str, str]) -> None:
    """The stage's authorizer would fail every cold start with a bad configuration (500s): say so now."""
    if args.authorizer != "fastauthz.handler:handler":
        return
    from ...config import load_settings
    from ...errors import ConfigError

    try:
        load_settings(env)
    except ConfigError as error:
        raise CommandError(f"the authorizer's configuration: {error} (set it in this environment; README, Configuration)", 2) from None


def cmd_stage(args: argparse.Namespace) -> int:
    env = {k: v for k, v in os.environ.items() if k.startswith(AUTHORIZER_PREFIXES)}
    _check_authorizer_settings(args, env)
    try:
        asyncio.run(_serve_stage(args, env))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from ..issuer import DevIssuer

    issuer = DevIssuer(audience=args.audience, alg=args.alg, port=args.issuer_port, state_dir=args.state).start()
    try:
        token = issuer.mint(sub="dev-user", ttl=3600, scope="chat")
        cli = command_line()
        url = f"http://127.0.0.1:{args.port}/{args.stage}"
        try_it = (
            f'  curl -i -H "Authorization: Bearer $({cli} token --state {args.state})" {url}/messages\n'
            if args.http
            else f'  {sys.executable} -m websockets "ws://127.0.0.1:{args.port}/{args.stage}?authorization=$({cli} token --state {args.state})"\n'
        )
        banner = (
            f"dev issuer {issuer.issuer} (state {args.state}/)\n"
            f"try:\n{try_it}  {cli} rotate --state {args.state}\n"
            f"  {cli} loadtest --state {args.state}{' --api ' + args.http.split('-')[0] if args.http else ''} --rate 50 --run-time 30s\n"
            f"a token valid for an hour:\n  {token}\n"
        )
        extra = dict(item.partition("=")[::2] for item in args.authorizer_env or [])
        authorizer_env = {**issuer.environment(), "FASTAUTHZ_METRICS": "false", **extra}
        _check_authorizer_settings(args, authorizer_env)
        asyncio.run(_serve_stage(args, authorizer_env, banner, Path(args.state)))
    except KeyboardInterrupt:
        pass
    finally:
        issuer.stop()
        (Path(args.state) / STAGE_STATE).unlink(missing_ok=True)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import main as demo

    return demo([str(args.burst)])


def add_commands(commands: Any) -> None:
    def stage_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--port", type=int, default=STAGE_PORT, help="the stage's port on 127.0.0.1 (default: %(default)s)")
        command.add_argument("--stage", default="local", help="the stage's name, in its URL and methodArn (default: %(default)s)")
        command.add_argument("--authorizer", default="fastauthz.handler:handler", help="module:function (default: %(default)s)")
        command.add_argument("--identity-source", action="append", help="e.g. route.request.header.Authorization (repeatable)")
        command.add_argument(
            "--connect",
            default="fastauthz.dev.functions:connect_echo_subprotocol",
            help="$connect integration, module:function ('' for none; default: %(default)s)",
        )
        command.add_argument("--default-route", default="fastauthz.dev.functions:echo", help="$default's function (default: %(default)s)")
        command.add_argument("--route", action="append", help="ROUTEKEY=module:function (routed by $request.body.action)")
        command.add_argument(
            "--two-way",
            action="append",
            metavar="ROUTEKEY",
            help="send this route's returned body back to the client, as a route response does (repeatable; "
            "default: $default only, whose echo function is written as a two-way route)",
        )
        command.add_argument("--concurrency", type=int, default=4, help="execution environments per function (default: %(default)s)")
        command.add_argument("--recycle-after", type=int, default=0, help="retire an environment after N invocations (0: never)")
        command.add_argument(
            "--max-lifetime", type=float, default=7200.0, help="close connections open this long, seconds (API Gateway: 2 h)"
        )
        command.add_argument(
            "--idle-timeout", type=float, default=600.0, help="close connections idle this long, seconds (API Gateway: 10 min)"
        )
        command.add_argument("--function-logs", action="store_true", help="print the functions' log lines")
        command.add_argument(
            "--log-dir",
            help="write each function's log lines and Lambda's REPORT lines to DIR/<function>.log "
            "(fastauthz dev: default <state>/logs; what fastauthz loadtest --lambda-log-file reads)",
        )
        command.add_argument("--quiet", action="store_true", help="no line per connect (status, reason, the authorizer's time)")
        command.add_argument(
            "--http",
            choices=("rest-token", "rest-request", "http-1.0", "http-2.0"),
            help="a REST or HTTP API stage instead of a WebSocket one (routes: 'GET /path=module:function')",
        )
        command.add_argument("--simple-responses", action="store_true", help="HTTP API 2.0: the authorizer answers isAuthorized")
        command.add_argument("--result-ttl", type=float, help="authorizer result cache, seconds (default: REST 300, HTTP 0)")
        command.add_argument("--public", action="append", metavar="ROUTEKEY", help="a route without the authorizer (repeatable)")

    dev = commands.add_parser("dev", help="issuer + stage (+ connection registry) for interactive use")
    stage_options(dev)
    dev.add_argument(
        "--sweep-interval",
        type=float,
        default=5.0,
        help="connections end with their token (fastauthz.connections: registry, re-auth, sweeper every N s); 0: off "
        "(the stage then measures the authorizer alone: README, Load test)",
    )
    dev.add_argument("--issuer-port", type=int, default=ISSUER_PORT, help="the dev issuer's port (default: %(default)s)")
    dev.add_argument("--alg", default="RS256", help="the dev issuer's signing algorithm (default: %(default)s)")
    dev.add_argument("--authorizer-env", action="append", help="KEY=VALUE for the authorizer's environment (repeatable)")
    dev.add_argument("--audience", default="fastauthz-local", help="the aud of the dev issuer's tokens (default: %(default)s)")
    dev.add_argument(
        "--state", default=DEFAULT_STATE, help="where the issuer's keys and the stage's ports are written (default: %(default)s)"
    )
    dev.set_defaults(run=cmd_dev)

    stage = commands.add_parser("stage", help="the local stage; the authorizer reads JWT_* from this environment")
    stage_options(stage)
    stage.set_defaults(run=cmd_stage)

    demo = commands.add_parser("demo", help="the scripted demo (make demo)")
    demo.add_argument("--burst", type=int, default=300, help="connects in the burst (default: %(default)s)")
    demo.set_defaults(run=cmd_demo)
