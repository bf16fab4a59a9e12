"""Lambda handlers the stage tests run in worker processes (each misbehaves in one way)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

ARN_ALLOW = {"Version": "2012-10-17", "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"}]}


def record(event: dict[str, Any]) -> None:
    path = os.environ.get("RECORD_TO")
    if path:
        with open(path, "a") as handle:
            handle.write(json.dumps(event) + "\n")


def allow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record(event)
    return {"principalId": "user-1", "policyDocument": ARN_ALLOW, "context": {"tier": "gold", "n": 3, "admin": False, "exp": 1800000000}}


def unauthorized(event: dict[str, Any], context: Any) -> None:
    raise Exception("Unauthorized")


def deny(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "principalId": "user-1",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": event["methodArn"]}],
        },
    }


def allow_other_api(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "principalId": "u",
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*:*:otherapi/*"}],
        },
    }


def crash(event: dict[str, Any], context: Any) -> None:
    raise ValueError("boom")


def malformed(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"policy": "allow"}


def nested_context(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"principalId": "u", "policyDocument": ARN_ALLOW, "context": {"groups": ["a", "b"]}}


def oversized(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"principalId": "u", "policyDocument": ARN_ALLOW, "context": {"big": "x" * 9000}}


def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(5)
    return allow(event, context)


def connect_record(event: dict[str, Any], context: Any) -> dict[str, Any]:
    record(event)
    return {"statusCode": 200}


def reflect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": json.dumps(event)}


def allow_only_this_method(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The mistake of serverless #2827: an Allow naming only the methodArn it was asked for."""
    arn = event.get("methodArn") or event["routeArn"]
    statement = {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": arn}
    return {"principalId": "user-1", "policyDocument": {"Version": "2012-10-17", "Statement": [statement]}}


def whoami(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An HTTP integration that answers what the authorizer told it."""
    body = {"authorizer": event["requestContext"].get("authorizer"), "path": event.get("rawPath") or event.get("path")}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def browser_page(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A page of the HTTP API itself (a public route): stores the session cookie, then calls an
    authorized route with fetch and reports what it got through a public route."""
    token, stage = os.environ["PAGE_TOKEN"], os.environ["PAGE_STAGE"]
    script = (
        f'document.cookie = "session={token}; path=/; SameSite=Lax";'
        f'fetch("/{stage}/messages", {{credentials: "same-origin"}})'
        f'.then(r => r.text().then(t => fetch("/{stage}/report?status=" + r.status + "&body=" + encodeURIComponent(t))))'
        f'.catch(e => fetch("/{stage}/report?status=error&body=" + encodeURIComponent(String(e))));'
    )
    return {"statusCode": 200, "headers": {"Content-Type": "text/html; charset=utf-8"}, "body": f"<!doctype html><script>{script}</script>"}


def guarded_echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A message route that asks fastauthz.connections.guard first, and says what it answered."""
    from fastauthz.connections import guard

    return {"statusCode": 200, "body": json.dumps({"allowed": guard(event), "body": event.get("body")})}
