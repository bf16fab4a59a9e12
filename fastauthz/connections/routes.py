"""The WebSocket integrations around the authorizer: `$connect`, `$disconnect`, the `reauth` route and
the guard for message routes. Cold path (functions of their own; the authorizer never imports them).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from ..errors import Rejected
from ..strictjson import loads
from .environment import grace_seconds, management_for, shared_authorizer, shared_registry
from .registry import Connection, Registry

# A re-auth message is a token and a few bytes of JSON around it: anything longer is refused unread.
REAUTH_OVERHEAD_BYTES = 1024


def on_connect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`$connect` integration: register the connection (the authorizer allowed it), and echo the first
    offered subprotocol that is not a token (browsers sending `bearer, <jwt>` need it)."""
    request = event.get("requestContext") or {}
    authorizer = request.get("authorizer") or {}
    exp = float(authorizer["exp"])
    shared_registry().record(
        Connection(
            request["connectionId"],
            str(authorizer.get("principalId", "")),
            str(authorizer.get("iss", "")),
            # Never before this function's clock (a token inside the leeway, a grace under it): the
            # sweep closes rows behind its cursor only for a few minutes (sweeper.TRAILING_MINUTES).
            max(exp + grace_seconds(), time.time()),
            int(request.get("connectedAt") or time.time() * 1000),
        )
    )
    return accept_echoing_subprotocol(event)


def accept_echoing_subprotocol(event: dict[str, Any]) -> dict[str, Any]:
    """A `$connect` integration's acceptance, echoing the first offered subprotocol that is not a
    token: browsers refuse a connection whose offered subprotocols get no echo, so a client passing
    its token as `bearer, <jwt>` needs it (API Gateway never echoes by itself)."""
    headers = event.get("headers") or {}
    offered = next((v for k, v in headers.items() if k.lower() == "sec-websocket-protocol"), "")
    names = [entry.strip() for entry in offered.split(",") if entry.strip() and entry.count(".") != 2]
    return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": names[0]}} if names else {"statusCode": 200}


def on_disconnect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    shared_registry().forget((event.get("requestContext") or {})["connectionId"])
    return {"statusCode": 200}


def on_reauth(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The `reauth` route: a fresh token for the same sub and issuer, allowed by the same decision as
    `$connect` (the hook included, asked with this message's event), moves the deadline and is
    answered {"action": "reauth", "ok": true, "exp": ...}; anything else (a refusal, another user,
    any body that is not such a message) is answered {"action": "reauth", "ok": false, "reason": ...}
    and the connection closed. Configuration and our side's failures raise, as in any function."""
    connection_id = (event.get("requestContext") or {})["connectionId"]
    registry = shared_registry()
    management = management_for(event)
    authorizer = shared_authorizer()
    try:
        token = _reauth_token(event, authorizer.max_token_bytes)
        claims = authorizer.verify(token, event)
        current = registry.get(connection_id)
        if current is None or claims["sub"] != current.sub or not authorizer.same_issuer(claims["iss"], current.issuer):
            raise Rejected("reauth_mismatch")  # a verified token has a string sub and iss (claims.py)
        exp: Any = claims.get("exp")
        if type(exp) not in (int, float):
            raise Rejected("missing_exp")
        if not registry.extend(connection_id, max(float(exp) + grace_seconds(), time.time())):
            raise Rejected("reauth_mismatch")
    except Rejected as refusal:
        reason = refusal.reason
    else:
        management.send(connection_id, {"action": "reauth", "ok": True, "exp": exp})
        return {"statusCode": 200}
    management.send(connection_id, {"action": "reauth", "ok": False, "reason": reason})
    management.close(connection_id)
    return {"statusCode": 200}


def _reauth_token(event: dict[str, Any], max_token_bytes: int) -> str:
    """The token of a re-auth message, {"action": "reauth", "token": "<jwt>"}. Raises Rejected:
    missing_token, token_too_large, or malformed for any body that is not such a JSON object (binary,
    not UTF-8, nested past any sense)."""
    body = event.get("body") or "{}"
    if type(body) is not str or len(body) > 2 * (max_token_bytes + REAUTH_OVERHEAD_BYTES):
        raise Rejected("token_too_large" if type(body) is str else "malformed")
    try:
        text = base64.b64decode(body, validate=True).decode() if event.get("isBase64Encoded") else body
        message = loads(text)
    except ValueError:  # bad base64 or UTF-8 (both ValueErrors), bad JSON, nested too deeply
        raise Rejected("malformed", "not a JSON object") from None
    token = message.get("token") if type(message) is dict else None
    if type(token) is not str or not token:
        raise Rejected("missing_token")
    return token


def guard(event: dict[str, Any], registry: Registry | None = None, now: float | None = None) -> bool:
    """For message routes: whether the connection is still within its deadline. The authorizer's
    context carries the `exp` of connect time: within it (plus the grace) no registry read is
    needed; after it, a re-auth may have moved the deadline, so the registry answers."""
    now = time.time() if now is None else now
    request = event.get("requestContext") or {}
    exp = (request.get("authorizer") or {}).get("exp")
    grace = grace_seconds()
    try:
        if exp is not None and now <= float(exp) + grace:
            return True
    except (TypeError, ValueError):
        pass
    current = (registry or shared_registry()).get(str(request.get("connectionId")))
    return current is not None and now <= current.deadline
