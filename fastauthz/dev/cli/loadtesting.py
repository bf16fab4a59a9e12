"""Load tests of a stage, from the package: `fastauthz loadtest` (locust with fastauthz's user modules,
fastauthz.loadtest) and `fastauthz loadtest-key` (a load-test issuer to trust beside the real IdP)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .errors import CommandError


def cmd_loadtest(args: argparse.Namespace) -> int:
    from ...loadtest.command import run

    return run(args, args.passthrough)


def cmd_loadtest_key(args: argparse.Namespace) -> int:
    """A signing key for `--tokens mint:DIR`, and its public JWKS for the authorizer to trust."""
    from ...loadtest.issuer import write_loadtest_issuer

    out = Path(args.out)
    if (out / "issuer.json").exists() and not args.force:
        raise CommandError(f"{out}/issuer.json exists: --force to replace its key (tokens it signed stop verifying)", 2)
    public = write_loadtest_issuer(out, issuer=args.issuer, audience=args.audience, alg=args.alg, scope=args.scope)
    print(f"load-test issuer {args.issuer}: private key in {out}/issuer.json (keep it out of version control), public keys in {public}")
    entry: dict[str, Any] = {"issuer": args.issuer, "jwks_uri": "file:///var/task/loadtest-jwks.json", "audiences": [args.audience]}
    print("trust it beside your IdP (an entry of JWT_ISSUERS, the JWKS file shipped in the function's package):")
    print(f"  {json.dumps(entry)}")
    print(f"then: fastauthz loadtest --host wss://… --tokens mint:{out} --rate 100 --run-time 2m")
    return 0


def add_commands(commands: Any) -> None:
    loadtest = commands.add_parser(
        "loadtest",
        help="load-test a stage with locust (open model: --rate); locust's own options are passed on",
        allow_abbrev=False,
        description="Load-test a WebSocket, REST or HTTP API stage: locust headless with fastauthz's user modules, "
        "bounded in time, then the authorizer's side from its logs and an HTML report. Options not listed here are "
        "locust's and the load test's own (fastauthz loadtest --locust-help lists them).",
    )
    from ...loadtest.command import add_options

    add_options(loadtest)
    loadtest.add_argument("--locust-help", action="store_true", help="locust's options and the load test's (--mix, --token-in, …)")
    loadtest.set_defaults(run=cmd_loadtest, passes_through=True)

    key = commands.add_parser("loadtest-key", help="a load-test issuer: a signing key for --tokens mint:DIR and its public JWKS")
    key.add_argument("--issuer", required=True, help="its iss, a URL of yours that is not your IdP's (e.g. https://loadtest.example.com)")
    key.add_argument("--audience", required=True, help="the aud your authorizer accepts (JWT_AUTHORIZED_AUDIENCES)")
    key.add_argument("--alg", default="ES256", help="signing algorithm (default: %(default)s)")
    key.add_argument("--scope", default="", help="the scope claim of its tokens (JWT_REQUIRED_SCOPES)")
    key.add_argument("--out", default="loadtest-issuer", help="where to write issuer.json and jwks.json (default: %(default)s)")
    key.add_argument("--force", action="store_true", help="replace an existing key")
    key.set_defaults(run=cmd_loadtest_key)
