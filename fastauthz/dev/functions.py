"""Small Lambda handlers the local stage uses by default (and examples of what yours must do)."""

from __future__ import annotations

from typing import Any

import orjson


def connect_echo_subprotocol(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`$connect` integration: accept, and echo the first offered subprotocol that is not a token.

    Browsers refuse a connection whose offered subprotocols get no echo, so a client passing its
    token as `bearer, <jwt>` needs an integration like this one (API Gateway never echoes by itself).
    """
    headers = event.get("headers") or {}
    offered = next((v for k, v in headers.items() if k.lower() == "sec-websocket-protocol"), "")
    names = [entry.strip() for entry in offered.split(",") if entry.strip() and entry.count(".") != 2]
    response: dict[str, Any] = {"statusCode": 200}
    if names:
        response["headers"] = {"Sec-WebSocket-Protocol": names[0]}
    return response


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
