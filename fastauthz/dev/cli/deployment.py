"""A deployment's configuration and connections: `fastauthz check-config` (the environment the handler
would see, its keys fetched) and `fastauthz disconnect` (sign a user out, of AWS or of `fastauthz dev`)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from .errors import CommandError
from .issuing import DEFAULT_STATE


def cmd_check_config(args: argparse.Namespace) -> int:
    from ...authorizer import Authorizer
    from ...config import load_settings
    from ...settings import unknown_variables

    settings = load_settings(os.environ)  # a ConfigError: one line naming the variable, status 2
    for warning in settings.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    unknown = unknown_variables(os.environ)
    for note in settings.notes:
        print(note)
    print(f"token sources: {', '.join(settings.token_sources)}; leeway {settings.leeway} s; cache {settings.cache_size}")
    if settings.allowed_origins or settings.require_origin:
        required = "; an Origin is required" if settings.require_origin else ""
        print(f"origins allowed: {', '.join(settings.allowed_origins)}{required}")
    if settings.query_token_max_age is not None:
        print(f"query-string tokens: issued at most {settings.query_token_max_age:g} s ago")
    lines: list[str] = []  # the library's log lines: a failed fetch says why (HTTP 404, refused, DNS, TLS, bad JSON)
    authorizer = Authorizer(settings, write=lines.append, load_keys=False)
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
            print(f"  could not load keys from {keystore.source}: {_why_keys_failed(lines)}", file=sys.stderr)
            failed = True
    if unknown and not args.allow_unknown:
        raise CommandError(f"configuration error: {len(unknown)} unknown variable(s), above: fix them, or pass --allow-unknown", 2)
    return 1 if failed else 0


def _why_keys_failed(lines: list[str]) -> str:
    """The error of the last failed fetch among the library's log lines (its `error` field)."""
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("error"):
            return str(record["error"])
    return "no reason logged"


def cmd_disconnect(args: argparse.Namespace) -> int:
    from ...connections import disconnect_user

    registry, management = _registry_and_management(args)
    closed = disconnect_user(args.sub, registry, management, issuer=args.issuer)
    whose = f"{args.sub} of {args.issuer}" if args.issuer else f"{args.sub} (every issuer)"
    print(f"closed {closed} connection{'' if closed == 1 else 's'} of {whose}")
    return 0


def _registry_and_management(args: argparse.Namespace) -> tuple[Any, Any]:
    """The registry and management API: the options, else FASTAUTHZ_CONNECTIONS_TABLE and
    FASTAUTHZ_MANAGEMENT_ENDPOINT (a deployment), else what `fastauthz dev` wrote to --state."""
    from ...connections import Management, Registry, management_for, registry_from_env
    from .stages import load_stage_state

    configured = args.table or args.endpoint or os.environ.get("FASTAUTHZ_CONNECTIONS_TABLE")
    local = None if configured and args.state is None else load_stage_state(args.state or DEFAULT_STATE)
    if local is not None:
        if "registry" not in local:
            raise CommandError(f"the fastauthz dev of {args.state or DEFAULT_STATE}/ runs without its registry (--sweep-interval 0)", 2)
        import boto3

        from ..lifetime import CLIENT_OPTIONS

        settings = local["registry"]
        dynamodb = boto3.client("dynamodb", endpoint_url=settings["AWS_ENDPOINT_URL_DYNAMODB"], **CLIENT_OPTIONS)
        endpoint = settings["FASTAUTHZ_MANAGEMENT_ENDPOINT"]
        api = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, **CLIENT_OPTIONS)
        return Registry(args.table or settings["FASTAUTHZ_CONNECTIONS_TABLE"], dynamodb), Management(args.endpoint or endpoint, api)
    if args.state is not None:
        raise CommandError(f"no running fastauthz dev in {args.state}/ (its stage.json): start `fastauthz dev --state {args.state}`", 2)
    registry = Registry(args.table) if args.table else registry_from_env()
    return registry, (Management(args.endpoint) if args.endpoint else management_for(None))


def add_commands(commands: Any) -> None:
    disconnect = commands.add_parser("disconnect", help="sign a user out: close the open connections of a sub")
    disconnect.add_argument("--sub", required=True, help="the user's sub")
    disconnect.add_argument("--issuer", help="the user's issuer (iss): a sub is unique only within its issuer (default: every issuer)")
    disconnect.add_argument("--table", help="the registry's DynamoDB table (default: FASTAUTHZ_CONNECTIONS_TABLE)")
    disconnect.add_argument("--endpoint", help="the stage's management endpoint (default: FASTAUTHZ_MANAGEMENT_ENDPOINT)")
    disconnect.add_argument(
        "--state",
        help=f"a running fastauthz dev's state directory: its registry and stage (default: {DEFAULT_STATE} when no table is set)",
    )
    disconnect.set_defaults(run=cmd_disconnect)

    check = commands.add_parser("check-config", help="validate the handler's environment and fetch its keys")
    check.add_argument(
        "--allow-unknown", action="store_true", help="exit 0 despite variables with fastauthz's prefixes that it does not read"
    )
    check.set_defaults(run=cmd_check_config)
