"""The held API Gateway events (testkit/events/, captured and published ones) with a token placed where
a client puts it. The benchmarks build their events here too."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).absolute().parent / "events"  # as imported (bench/gate.py: fixed paths)
CONNECT = "connect_authorizer_request"


@cache
def _held(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def connect_event(token: str | None = None, where: str = "header", name: str = CONNECT, method_arn: str | None = None) -> dict[str, Any]:
    """A copy of the held `$connect` authorizer event `name`, the token sent in the Authorization header,
    the `?authorization=` query parameter, the subprotocol list or a cookie (`where`)."""
    event = copy.deepcopy(_held(name))
    if method_arn is not None:
        event["methodArn"] = method_arn
    if token is None:
        return event
    if where == "header":
        event["headers"]["Authorization"] = f"Bearer {token}"
        event["multiValueHeaders"]["Authorization"] = [f"Bearer {token}"]
    elif where == "query":
        event["queryStringParameters"] = {"authorization": token}
        event["multiValueQueryStringParameters"] = {"authorization": [token]}
    elif where == "protocol":
        event["headers"]["Sec-WebSocket-Protocol"] = f"bearer, {token}"
        event["multiValueHeaders"]["Sec-WebSocket-Protocol"] = [f"bearer, {token}"]
    elif where == "cookie":
        event["headers"]["Cookie"] = f"theme=dark; session={token}"
        event["multiValueHeaders"]["Cookie"] = [f"theme=dark; session={token}"]
    else:
        raise ValueError(where)
    return event


# The other API Gateway front doors: held event -> how its client's token arrives.
FRONTS = {
    "rest-token": "rest_token_authorizer",
    "rest-request": "rest_request_authorizer",
    "http-1.0": "http_v1_authorizer",
    "http-2.0": "http_v2_authorizer",
}


def api_event(front: str, token: str | None = None, where: str = "header", route_arn: str | None = None) -> dict[str, Any]:
    """A copy of the held authorizer event of a REST or HTTP API (`front`, a key of FRONTS), the token sent
    as that API's clients send it: in the Authorization header (`authorizationToken` for a REST TOKEN
    authorizer, the identity source for HTTP APIs), the query string, or a cookie (HTTP API 2.0:
    the `cookies` list). `route_arn` replaces the methodArn or routeArn."""
    event = copy.deepcopy(_held(FRONTS[front]))
    if route_arn is not None:
        event["routeArn" if "routeArn" in event else "methodArn"] = route_arn
    if front == "rest-token":
        if token is None:
            del event["authorizationToken"]
        else:
            event["authorizationToken"] = f"Bearer {token}"
        return event
    http = front.startswith("http")
    event.pop("identitySource", None)  # set below, when the token is the identity source
    event.pop("authorizationToken", None)
    if token is None:
        return event
    if where == "header":
        event["headers"]["authorization" if http else "Authorization"] = f"Bearer {token}"
        if "multiValueHeaders" in event:
            event["multiValueHeaders"]["Authorization"] = [f"Bearer {token}"]
        if http:
            event["identitySource"] = [f"Bearer {token}"] if front == "http-2.0" else f"Bearer {token}"
            if front == "http-1.0":
                event["authorizationToken"] = f"Bearer {token}"
    elif where == "query":
        event["queryStringParameters"] = {"authorization": token}
        if front == "http-2.0":
            event["rawQueryString"] = f"authorization={token}"
        else:
            event["multiValueQueryStringParameters"] = {"authorization": [token]}
    elif where == "cookie":
        if front == "http-2.0":
            event["cookies"] = ["theme=dark", f"session={token}"]
        else:
            event["headers"]["cookie" if http else "Cookie"] = f"theme=dark; session={token}"
    else:
        raise ValueError(where)
    return event
