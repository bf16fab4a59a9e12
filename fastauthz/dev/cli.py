"""The `fastauthz` command: local stage, dev issuer, tokens, inspection, configuration check.

fastauthz dev                  issuer (:8766) + stage (:8765), state in .fastauthz/
fastauthz issuer               the dev issuer alone
fastauthz stage                the local API Gateway WebSocket stage alone (authorizer configured from the environment)
fastauthz stage --http rest-token|rest-request|http-1.0|http-2.0   a local REST or HTTP API stage instead
fastauthz token --sub ada      a token from the running dev issuer's keys
fastauthz rotate               tell the running dev issuer to rotate its key
fastauthz inspect TOKEN        decoded header and claims (NOT verified)
fastauthz disconnect --sub S   sign a user out: close every open connection of S (fastauthz.connections)
fastauthz check-config         validate the environment the handler would see, fetch its keys
fastauthz demo                 the scripted demo (make demo)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import urllib.request
from typing import Any

from ..logs import fingerprint
from ..settings import MAX_LEEWAY_SECONDS
from ..token import b64url_decode

# What the local stage, dev issuer and registry need beyond the runtime: pip install 'fastauthz[local]'.
LOCAL_EXTRAS = {"joserfc", "websockets", "orjson", "boto3", "botocore", "moto"}

DEFAULT_STATE = ".fastauthz"
STAGE_PORT = 8765


def _b64json(segment: str) -> Any:
    return json.loads(b64url_decode(segment.encode()))


def cmd_disconnect(args: argparse.Namespace) -> int:
    from ..connections import Management, Registry, disconnect_user, management_for, registry_from_env
    from ..errors import ConfigError

    try:
        registry = Registry(args.table) if args.table else registry_from_env()
        management = Management(args.endpoint) if args.endpoint else management_for(None)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    closed = disconnect_user(args.sub, registry, management)
    print(f"closed {closed} connection{'' if closed == 1 else 's'} of {args.sub}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    token = args.token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    # Printed first, so that even a token refused as malformed can be found in the refusal logs.
    print(f"log fingerprint: {fingerprint(token)} (the `token` field of fastauthz's refusal log lines)")
    parts = token.split(".")
    if len(parts) != 3:
        print(f"not a compact JWS: {len(parts)} segments", file=sys.stderr)
        return 2
    try:
        header, payload = _b64json(parts[0]), _b64json(parts[1])
    except ValueError as error:
        print(f"not decodable: {error}", file=sys.stderr)
        return 2
    now = time.time()
    notes = []
    for claim in ("iat", "nbf", "exp"):
        value = payload.get(claim)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))
            notes.append(f"{claim} {stamp} ({'in ' if value > now else ''}{abs(int(value - now))} s{' ago' if value <= now else ''})")
    print("UNVERIFIED: decoded only; the signature was not checked")
    print(json.dumps({"header": header, "payload": payload, "signature_bytes": len(parts[2]) * 3 // 4}, indent=2))
    for note in notes:
        print(note)
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from ..authorizer import Authorizer
    from ..config import load_settings
    from ..errors import ConfigError

    try:
        settings = load_settings(os.environ)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        return 2
    for note in settings.notes:
        print(note)
    print(f"token sources: {', '.join(settings.token_sources)}; leeway {settings.leeway} s; cache {settings.cache_size}")
    if settings.allowed_origins or settings.require_origin:
        required = "; an Origin is required" if settings.require_origin else ""
        print(f"origins allowed: {', '.join(settings.allowed_origins)}{required}")
    if settings.query_token_max_age is not None:
        print(f"query-string tokens: issued at most {settings.query_token_max_age:g} s ago")
    authorizer = Authorizer(settings, write=lambda line: None, load_keys=False)
    failed = False
    for config in settings.issuers:
        print(f"issuer {config.issuer}\n  audiences {sorted(config.audiences) or '(not checked)'}; algorithms {sorted(config.algorithms)}")
        if config.accepted_issuers != (config.issuer,):
            print(f"  accepted iss: {', '.join(config.accepted_issuers)}" + ("; tid must name the tenant" if config.tenants else ""))
        keystore = authorizer.issuers[config.accepted_issuers[0]].keystore
        if keystore is None:
            print("  HMAC secret only")
            continue
        if keystore.refresh() and keystore.keys is not None:
            found = " (found by OIDC discovery)" if config.discovery else ""
            print(f"  keys from {keystore.uri}{found}: {', '.join(sorted(str(k) for k in keystore.keys.by_kid))}")
            for skipped in keystore.keys.skipped:
                print(f"  skipped {skipped}")
        else:
            print(f"  could not load keys from {keystore.source}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


# Past the largest leeway the authorizer accepts (JWT_LEEWAY_SECONDS), with a minute to spare.
EXPIRED_BY = MAX_LEEWAY_SECONDS + 60


def cmd_token(args: argparse.Namespace) -> int:
    from .issuer import mint_from_state

    extra: dict[str, Any] = {}
    for item in args.claim or []:
        name, _, value = item.partition("=")
        try:
            extra[name] = json.loads(value)
        except ValueError:
            extra[name] = value
    if args.scope:
        extra["scope"] = args.scope
    ttl = -EXPIRED_BY if args.expired else args.ttl
    print(mint_from_state(args.state, sub=args.sub, aud=args.aud, ttl=ttl, alg=args.alg, **extra))
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    from .issuer import load_state

    state = load_state(args.state)
    with urllib.request.urlopen(urllib.request.Request(state["issuer"] + "/control/rotate", method="POST"), timeout=5) as answer:  # noqa: S310 (our own 127.0.0.1 issuer)
        print(json.loads(answer.read())["kid"])
    return 0


def cmd_issuer(args: argparse.Namespace) -> int:
    from .issuer import DevIssuer

    issuer = DevIssuer(audience=args.audience, alg=args.alg, port=args.port, state_dir=args.state)
    print(
        f"dev issuer {issuer.issuer}\n  JWKS {issuer.jwks_uri}\n  x509 map {issuer.x509_uri}\n  audience {issuer.audience}\n"
        f"  state {args.state}/issuer.json (fastauthz token --state {args.state})",
        flush=True,
    )
    try:
        issuer.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


# The default $default function (functions.echo) replies: it stands for a route with a route response.
DEFAULT_TWO_WAY = ("$default",)


def _stage_config(args: argparse.Namespace, authorizer_env: dict[str, str], lifetime: Any = None) -> Any:
    from .runtime import FunctionSpec
    from .stage import StageConfig

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
        max_lifetime=args.max_lifetime,
        idle_timeout=args.idle_timeout,
    )


def _http_stage_config(args: argparse.Namespace, authorizer_env: dict[str, str]) -> Any:
    from .httpstage import HttpStageConfig
    from .runtime import FunctionSpec

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
    )


async def _serve_stage(args: argparse.Namespace, authorizer_env: dict[str, str], banner: str = "") -> None:
    if getattr(args, "http", None):
        from .httpstage import HttpStage

        front = await HttpStage(_http_stage_config(args, authorizer_env)).start()
        print(f"{banner}{args.http} stage {front.url}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await front.close()
        return
    from .stage import Stage

    lifetime = None
    if getattr(args, "sweep_interval", 0) > 0:
        from .lifetime import LocalLifetime

        lifetime = LocalLifetime(args.stage, args.sweep_interval).start()
    stage = await Stage(_stage_config(args, authorizer_env, lifetime)).start()
    print(f"{banner}stage {stage.url}  (management: POST {stage.management_url}/<connectionId>)", flush=True)
    sweeper = asyncio.create_task(lifetime.sweep_forever()) if lifetime is not None else None
    if lifetime is not None:
        print(
            f"connections end with their token: registry {lifetime.environment['AWS_ENDPOINT_URL_DYNAMODB']}, sweep every {args.sweep_interval:g} s",
            flush=True,
        )
    try:
        await asyncio.Event().wait()
    finally:
        if sweeper is not None:
            sweeper.cancel()
        await stage.close()
        if lifetime is not None:
            lifetime.stop()


def cmd_stage(args: argparse.Namespace) -> int:
    env = {k: v for k, v in os.environ.items() if k.startswith(("JWT_", "AUTHORIZED_APIS", "FASTAUTHZ_", "LOG_LEVEL"))}
    try:
        asyncio.run(_serve_stage(args, env))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_dev(args: argparse.Namespace) -> int:
    from .issuer import DevIssuer

    issuer = DevIssuer(audience=args.audience, alg=args.alg, port=args.issuer_port, state_dir=args.state).start()
    token = issuer.mint(sub="dev-user", ttl=3600, scope="chat")
    banner = (
        f"dev issuer {issuer.issuer} (state {args.state}/)\n"
        + (
            f'try:\n  curl -i -H "Authorization: Bearer $(fastauthz token --state {args.state})" http://127.0.0.1:{args.port}/{args.stage}/messages\n'
            if args.http
            else f'try:\n  python -m websockets "ws://127.0.0.1:{args.port}/{args.stage}?authorization=$(fastauthz token --state {args.state})"\n'
        )
        + f"  fastauthz rotate --state {args.state}\n"
        f"a token valid for an hour:\n  {token}\n"
    )
    try:
        extra = dict(item.partition("=")[::2] for item in args.authorizer_env or [])
        asyncio.run(_serve_stage(args, {**issuer.environment(), "FASTAUTHZ_METRICS": "false", **extra}, banner))
    except KeyboardInterrupt:
        pass
    finally:
        issuer.stop()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import main as demo

    return demo([str(args.burst)])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastauthz", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def stage_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--port", type=int, default=STAGE_PORT)
        command.add_argument("--stage", default="local")
        command.add_argument("--authorizer", default="fastauthz.handler:handler", help="module:function")
        command.add_argument("--identity-source", action="append", help="e.g. route.request.header.Authorization (repeatable)")
        command.add_argument(
            "--connect",
            default="fastauthz.dev.functions:connect_echo_subprotocol",
            help="$connect integration, module:function ('' for none)",
        )
        command.add_argument("--default-route", default="fastauthz.dev.functions:echo")
        command.add_argument("--route", action="append", help="ROUTEKEY=module:function (routed by $request.body.action)")
        command.add_argument(
            "--two-way",
            action="append",
            metavar="ROUTEKEY",
            help="send this route's returned body back to the client, as a route response does (repeatable; "
            "default: $default only, whose echo function is written as a two-way route)",
        )
        command.add_argument("--concurrency", type=int, default=4, help="execution environments per function")
        command.add_argument("--recycle-after", type=int, default=0, help="retire an environment after N invocations")
        command.add_argument("--max-lifetime", type=float, default=7200.0, help="close connections open this long (API Gateway: 2 h)")
        command.add_argument("--idle-timeout", type=float, default=600.0, help="close connections idle this long (API Gateway: 10 min)")
        command.add_argument("--function-logs", action="store_true", help="print the functions' log lines")
        command.add_argument(
            "--http",
            choices=("rest-token", "rest-request", "http-1.0", "http-2.0"),
            help="a REST or HTTP API stage instead of a WebSocket one (routes: 'GET /path=module:function')",
        )
        command.add_argument("--simple-responses", action="store_true", help="HTTP API 2.0: the authorizer answers isAuthorized")
        command.add_argument("--result-ttl", type=float, help="authorizer result cache, seconds (default: REST 300, HTTP 0)")
        command.add_argument("--public", action="append", metavar="ROUTEKEY", help="a route without the authorizer (repeatable)")

    dev = commands.add_parser("dev", help="issuer + stage for interactive use")
    stage_options(dev)
    dev.add_argument(
        "--sweep-interval",
        type=float,
        default=5.0,
        help="connections end with their token (fastauthz.connections: registry, re-auth, sweeper every N s); 0: off",
    )
    dev.add_argument("--issuer-port", type=int, default=8766)
    dev.add_argument("--alg", default="RS256", help="the dev issuer's signing algorithm")
    dev.add_argument("--authorizer-env", action="append", help="KEY=VALUE for the authorizer's environment (repeatable)")
    dev.add_argument("--audience", default="fastauthz-local")
    dev.add_argument("--state", default=DEFAULT_STATE)
    dev.set_defaults(run=cmd_dev)

    stage = commands.add_parser("stage", help="the local stage; the authorizer reads JWT_* from this environment")
    stage_options(stage)
    stage.set_defaults(run=cmd_stage)

    issuer = commands.add_parser("issuer", help="the dev issuer")
    issuer.add_argument("--port", type=int, default=8766)
    issuer.add_argument("--audience", default="fastauthz-local")
    issuer.add_argument("--alg", default="RS256")
    issuer.add_argument("--state", default=DEFAULT_STATE)
    issuer.set_defaults(run=cmd_issuer)

    token = commands.add_parser("token", help="mint a token with the running dev issuer's key")
    token.add_argument("--state", default=DEFAULT_STATE)
    token.add_argument("--sub", default="dev-user")
    token.add_argument("--aud")
    lifetime = token.add_mutually_exclusive_group()
    lifetime.add_argument(
        "--ttl",
        type=float,
        default=300,
        help="seconds until exp (a negative ttl within the authorizer's leeway, 5 s by default, is still accepted)",
    )
    lifetime.add_argument(
        "--expired", action="store_true", help=f"a token that expired {EXPIRED_BY} s ago: refused whatever JWT_LEEWAY_SECONDS is"
    )
    token.add_argument("--alg")
    token.add_argument("--scope")
    token.add_argument("--claim", action="append", help="NAME=VALUE (VALUE parsed as JSON when it is JSON)")
    token.set_defaults(run=cmd_token)

    rotate = commands.add_parser("rotate", help="rotate the running dev issuer's key")
    rotate.add_argument("--state", default=DEFAULT_STATE)
    rotate.set_defaults(run=cmd_rotate)

    inspect = commands.add_parser("inspect", help="decode a token without trusting it")
    inspect.add_argument("token")
    inspect.set_defaults(run=cmd_inspect)

    disconnect = commands.add_parser("disconnect", help="sign a user out: close every open connection of a sub")
    disconnect.add_argument("--sub", required=True)
    disconnect.add_argument("--table", help="the registry's DynamoDB table (default: FASTAUTHZ_CONNECTIONS_TABLE)")
    disconnect.add_argument("--endpoint", help="the stage's management endpoint (default: FASTAUTHZ_MANAGEMENT_ENDPOINT)")
    disconnect.set_defaults(run=cmd_disconnect)

    check = commands.add_parser("check-config", help="validate the handler's environment and fetch its keys")
    check.set_defaults(run=cmd_check_config)

    demo = commands.add_parser("demo", help="the scripted demo")
    demo.add_argument("--burst", type=int, default=300)
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "connect", None) == "":
        args.connect = None
    try:
        result: int = args.run(args)
    except ModuleNotFoundError as missing:
        if (missing.name or "").split(".")[0] not in LOCAL_EXTRAS:
            raise
        print(
            f"fastauthz {args.command}: needs {missing.name}, one of the local stage's packages: pip install 'fastauthz[local]'",
            file=sys.stderr,
        )
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
