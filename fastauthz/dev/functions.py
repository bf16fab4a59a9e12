"""Small Lambda handlers the local stage uses by default (and examples of what yours must do)."""

from __future__ import annotations

from typing import Any

import orjson


def connect_echo_subprotocol(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`$connect` integration: accept, and echo the first offered subprotocol that is not a token
    (fastauthz.connections.on_connect does the same after registering the connection)."""
    from ..connections import accept_echoing_subprotocol

    return accept_echoing_subprotocol(event)


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`$default` route: reply with the message and who sent it (from the authorizer's context)."""
    request = event.get("requestContext") or {}
    authorizer = request.get("authorizer") or {}
    reply = {
        "route": request.get("routeKey"),
        "connectionId": request.get("connectionId"),
        "principalId": authorizer.get("principalId"),
        "body": event.get("body"),
    }
    return {"statusCode": 200, "body": orjson.dumps(reply).decode()}


def disconnect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200}
