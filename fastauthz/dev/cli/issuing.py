"""The dev issuer and its tokens: `fastauthz issuer`, `token`, `rotate`, and `inspect` for any token."""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.request
from typing import Any

from ...logs import fingerprint
from ...settings import EXPIRED_BY
from .errors import CommandError

DEFAULT_STATE = ".fastauthz"
ISSUER_PORT = 8766


def _issuer_state(state_dir: str) -> dict[str, Any]:
    from ..issuer import load_state

    try:
        return load_state(state_dir)
    except FileNotFoundError:
        raise CommandError(f"no dev issuer state in {state_dir}/: start `fastauthz dev` there, or pass --state DIR", 2) from None


def cmd_token(args: argparse.Namespace) -> int:
    from ..issuer import mint_from_state

    _issuer_state(args.state)
    extra: dict[str, Any] = {}
    for item in args.claim or []:
        name, _, value = item.partition("=")
        try:
            extra[name] = json.loads(value)
        except ValueError:
            extra[name] = value
    if args.scope:
        extra["scope"] = args.scope
    if args.expired:  # issued before it expired, as a real expired token was: iat < exp < now - EXPIRED_BY
        extra["now"] = time.time() - EXPIRED_BY - args.ttl
    print(mint_from_state(args.state, sub=args.sub, aud=args.aud, ttl=args.ttl, alg=args.alg, **extra))
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    issuer = _issuer_state(args.state)["issuer"]
    request = urllib.request.Request(issuer + "/control/rotate", method="POST")  # noqa: S310 (our own 127.0.0.1 issuer)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310
            print(json.loads(answer.read())["kid"])
    except urllib.error.URLError as error:
        raise CommandError(f"the dev issuer at {issuer} is not answering ({error.reason}): start `fastauthz dev`", 1) from None
    return 0


def cmd_issuer(args: argparse.Namespace) -> int:
    from ..issuer import DevIssuer

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


def cmd_inspect(args: argparse.Namespace) -> int:
    from ...errors import Rejected
    from ...token import b64url_decode

    token = args.token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    # Printed first, so that even a token refused as malformed can be found in the refusal logs.
    print(f"log fingerprint: {fingerprint(token)} (the `token` field of fastauthz's refusal log lines)")
    parts = token.split(".")
    if len(parts) != 3:
        raise CommandError(f"not a compact JWS: {len(parts)} segments", 2)
    try:
        header, payload = (json.loads(b64url_decode(part.encode())) for part in parts[:2])
    except (ValueError, Rejected) as error:
        raise CommandError(f"not decodable: {error}", 2) from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise CommandError("not decodable: the header and the payload are JSON objects in a JWS", 2)
    now = time.time()
    notes = []
    for claim in ("iat", "nbf", "exp"):
        value = payload.get(claim)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < 1e11:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(value))
            notes.append(f"{claim} {stamp} ({'in ' if value > now else ''}{abs(int(value - now))} s{' ago' if value <= now else ''})")
    print("UNVERIFIED: decoded only; the signature was not checked")
    print(json.dumps({"header": header, "payload": payload, "signature_bytes": len(parts[2]) * 3 // 4}, indent=2))
    for note in notes:
        print(note)
    return 0


def add_commands(commands: Any) -> None:
    def state_option(command: argparse.ArgumentParser) -> None:
        command.add_argument("--state", default=DEFAULT_STATE, help="the dev issuer's state directory (default: %(default)s)")

    issuer = commands.add_parser("issuer", help="the dev issuer alone")
    issuer.add_argument("--port", type=int, default=ISSUER_PORT, help="its port on 127.0.0.1 (default: %(default)s; 0: any free one)")
    issuer.add_argument("--audience", default="fastauthz-local", help="the aud of its tokens (default: %(default)s)")
    issuer.add_argument("--alg", default="RS256", help="its signing algorithm (default: %(default)s)")
    state_option(issuer)
    issuer.set_defaults(run=cmd_issuer)

    token = commands.add_parser("token", help="mint a token with the running dev issuer's key")
    state_option(token)
    token.add_argument("--sub", default="dev-user", help="the token's sub (default: %(default)s)")
    token.add_argument("--aud", help="its aud (default: the issuer's audience)")
    token.add_argument(
        "--ttl",
        type=float,
        default=300,
        help="seconds until exp (default: %(default)s; a negative ttl within the authorizer's leeway, 5 s by default, is still accepted)",
    )
    token.add_argument(
        "--expired", action="store_true", help=f"a token that expired {EXPIRED_BY} s ago: refused whatever JWT_LEEWAY_SECONDS is"
    )
    token.add_argument("--alg", help="sign with this algorithm (default: the key's)")
    token.add_argument("--scope", help="the scope claim, space separated")
    token.add_argument("--claim", action="append", help="NAME=VALUE (VALUE parsed as JSON when it is JSON; repeatable)")
    token.set_defaults(run=cmd_token)

    rotate = commands.add_parser("rotate", help="rotate the running dev issuer's key")
    state_option(rotate)
    rotate.set_defaults(run=cmd_rotate)

    inspect = commands.add_parser("inspect", help="decode a token without trusting it")
    inspect.add_argument("token", help="the token, with or without `Bearer `")
    inspect.set_defaults(run=cmd_inspect)
