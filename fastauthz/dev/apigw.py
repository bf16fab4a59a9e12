"""What API Gateway does around a WebSocket `$connect`, as plain functions the stage composes:
the events it sends (shapes as in captured events: testkit/events/), identity-source enforcement,
how it judges an authorizer's answer, and how it evaluates the IAM policy.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

import orjson

from ..policy import iam_match

MAX_AUTHORIZER_RESULT_BYTES = 8192


def aws_id(length_bytes: int = 11) -> str:
    """Ids like API Gateway's connectionId / requestId: 16 characters of base64 (e.g. 'FDmBIeapIAMCIQg=')."""
    return base64.b64encode(os.urandom(length_bytes)).decode()


def api_id() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(10))


def request_time(epoch_ms: int) -> str:
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch_ms / 1000))


def trace_id() -> str:
    return f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"


class Connect:
    """One `$connect` request as API Gateway sees it."""

    def __init__(
        self,
        *,
        path: str,
        headers: Iterable[tuple[str, str]],
        source_ip: str,
        source_port: int,
        api: str,
        stage: str,
        region: str,
        account: str,
    ) -> None:
        self.connection_id = aws_id()
        self.request_id = aws_id()
        self.extended_request_id = aws_id()
        self.connected_at = int(time.time() * 1000)
        self.api, self.stage, self.region, self.account = api, stage, region, account
        self.domain = f"{api}.execute-api.{region}.amazonaws.com"
        self.source_ip = source_ip
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        forwarded = [
            ("X-Amzn-Trace-Id", trace_id()),
            ("X-Forwarded-For", source_ip),
            ("X-Forwarded-Port", "443"),
            ("X-Forwarded-Proto", "https"),
            ("content-length", "0"),
        ]
        for name, value in [*headers, *forwarded]:
            if name.lower() == "host":
                value = self.domain
            single[name] = value  # the last value wins in `headers`; all are in `multiValueHeaders`
            multi.setdefault(name, []).append(value)
        self.headers, self.multi_headers = single, multi
        query = path.partition("?")[2]
        self.query: dict[str, str] = {}
        self.multi_query: dict[str, list[str]] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            self.query[name] = value
            self.multi_query.setdefault(name, []).append(value)
        self.has_query = bool(query)

    @property
    def method_arn(self) -> str:
        return f"arn:aws:execute-api:{self.region}:{self.account}:{self.api}/{self.stage}/$connect"

    def request_context(self, event_type: str = "CONNECT", route: str = "$connect") -> dict[str, Any]:
        now = int(time.time() * 1000)
        return {
            "routeKey": route,
            "eventType": event_type,
            "extendedRequestId": self.extended_request_id,
            "requestTime": request_time(now),
            "messageDirection": "IN",
            "stage": self.stage,
            "connectedAt": self.connected_at,
            "requestTimeEpoch": now,
            "identity": {"sourceIp": self.source_ip},
            "requestId": self.request_id,
            "domainName": self.domain,
            "connectionId": self.connection_id,
            "apiId": self.api,
        }

    def authorizer_event(self) -> dict[str, Any]:
        """The REQUEST authorizer event (empty maps as {}: testkit/events/connect_authorizer_request.json)."""
        return {
            "type": "REQUEST",
            "methodArn": self.method_arn,
            "headers": self.headers,
            "multiValueHeaders": self.multi_headers,
            "queryStringParameters": self.query,
            "multiValueQueryStringParameters": self.multi_query,
            "stageVariables": {},
            "requestContext": self.request_context(),
        }

    def connect_event(self, authorizer: dict[str, Any] | None) -> dict[str, Any]:
        """The `$connect` integration event (no query maps when there was no query string)."""
        event: dict[str, Any] = {"headers": self.headers, "multiValueHeaders": self.multi_headers}
        if self.has_query:
            event["queryStringParameters"] = self.query
            event["multiValueQueryStringParameters"] = self.multi_query
        context = self.request_context()
        if authorizer is not None:
            context["authorizer"] = authorizer
        event["requestContext"] = context
        event["isBase64Encoded"] = False
        return event

    def message_event(self, route: str, body: str, authorizer: dict[str, Any] | None) -> dict[str, Any]:
        context = self.request_context("MESSAGE", route)
        context["messageId"] = aws_id()
        if authorizer is not None:
            context["authorizer"] = {k: v for k, v in authorizer.items() if k != "integrationLatency"}
        return {"requestContext": context, "body": body, "isBase64Encoded": False}

    def disconnect_event(self, status: int, reason: str) -> dict[str, Any]:
        context = self.request_context("DISCONNECT", "$disconnect")
        context["disconnectStatusCode"] = status
        context["disconnectReason"] = reason
        return {
            "headers": {"Host": self.domain},
            "multiValueHeaders": {"Host": [self.domain]},
            "requestContext": context,
            "isBase64Encoded": False,
        }


# -- identity sources ---------------------------------------------------------------------------------
IDENTITY_SOURCE = re.compile(r"route\.request\.(header|querystring)\.(.+)")


def parse_identity_sources(sources: Iterable[str]) -> list[tuple[str, str]]:
    parsed = []
    for source in sources:
        match = IDENTITY_SOURCE.fullmatch(source.strip())
        if not match:
            raise ValueError(f"identity source {source!r}: use route.request.header.NAME or route.request.querystring.NAME")
        parsed.append((match.group(1), match.group(2)))
    return parsed


def identity_sources_present(connect: Connect, sources: list[tuple[str, str]]) -> bool:
    """API Gateway invokes the authorizer only when every identity source is present and non-empty."""
    for kind, name in sources:
        if kind == "header":
            value = next((v for k, v in connect.headers.items() if k.lower() == name.lower()), "")
        else:
            value = connect.query.get(name, "")
        if not value.strip():
            return False
    return True


# -- the authorizer's answer ---------------------------------------------------------------------------
class Verdict:
    """401, 403, 500 or 101 (with the `requestContext.authorizer` the integration will see)."""

    def __init__(self, status: int, why: str, authorizer: dict[str, Any] | None = None) -> None:
        self.status = status
        self.why = why
        self.authorizer = authorizer


def _statement_covers(statement: dict[str, Any], action: str, resource: str) -> bool:
    actions = statement.get("Action", [])
    resources = statement.get("Resource", [])
    actions = [actions] if isinstance(actions, str) else actions
    resources = [resources] if isinstance(resources, str) else resources
    return any(iam_match(a, action) for a in actions if isinstance(a, str)) and any(
        iam_match(r, resource) for r in resources if isinstance(r, str)
    )


def policy_allows(document: dict[str, Any], resource: str, action: str = "execute-api:Invoke") -> bool:
    """IAM evaluation: an explicit Deny wins; otherwise any Allow that covers the resource."""
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else statements
    if any(s.get("Effect") == "Deny" and _statement_covers(s, action, resource) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and _statement_covers(s, action, resource) for s in statements)


def judge_authorizer(
    outcome_result: Any, error_type: str | None, error_message: str | None, timed_out: bool, method_arn: str, latency_ms: float
) -> Verdict:
    """Map a Lambda authorizer's outcome the way API Gateway does."""
    if timed_out:
        return Verdict(500, "authorizer timed out")
    if error_type is not None:
        if error_message == "Unauthorized":
            return Verdict(401, "Unauthorized")
        return Verdict(500, f"authorizer error {error_type}: {error_message}" if error_message else f"authorizer error {error_type}")
    result = outcome_result
    if not isinstance(result, dict) or not isinstance(result.get("policyDocument"), dict) or "principalId" not in result:
        return Verdict(500, "malformed authorizer result")
    if len(orjson.dumps(result)) > MAX_AUTHORIZER_RESULT_BYTES:
        return Verdict(500, "authorizer result larger than 8 KB")
    context = result.get("context") or {}
    if not isinstance(context, dict) or any(isinstance(v, (dict, list)) or v is None for v in context.values()):
        return Verdict(500, "authorizer context values must be strings, numbers or booleans")
    try:
        allowed = policy_allows(result["policyDocument"], method_arn)
    except (AttributeError, TypeError):
        return Verdict(500, "malformed policy document")
    if not allowed:
        return Verdict(403, "policy does not allow the methodArn")
    authorizer: dict[str, Any] = {k: (("true" if v else "false") if isinstance(v, bool) else str(v)) for k, v in context.items()}
    authorizer["principalId"] = str(result["principalId"])
    authorizer["integrationLatency"] = round(latency_ms)
    return Verdict(101, "allowed", authorizer)
