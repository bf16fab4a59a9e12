"""The held API Gateway events (testkit/events/, captured and published ones) with a token placed where
a client puts it. The benchmarks build their events here too."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parent / "events"
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
