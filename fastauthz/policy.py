"""IAM policy documents and the authorizer `context`. Hot path via cached documents.

Documents are built once per methodArn and reused (API Gateway serialises the result; nothing
mutates it). ARNs are built from the partition, region and account of the event's own methodArn,
so the same code works in aws, aws-cn and aws-us-gov.
"""

from __future__ import annotations

from typing import Any

from .errors import Rejected, truncate
from .strictjson import dumps

MAX_RESULT_BYTES = 8192  # API Gateway's limit on an authorizer response
RESULT_OVERHEAD_BYTES = 256  # keys and punctuation of the response around document and context
MAX_CACHED_DOCUMENTS = 256
# Integers beyond 2^53 lose precision as JSON numbers in many backends (JavaScript): pass them as strings.
MAX_SAFE_INTEGER = 2**53 - 1


def parse_method_arn(method_arn: Any) -> tuple[str, str, str, str, str, str]:
    """arn:<partition>:execute-api:<region>:<account>:<api>/<stage>/<route> -> its six parts."""
    if type(method_arn) is not str:
        raise Rejected("bad_method_arn", "missing")
    parts = method_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "execute-api":
        raise Rejected("bad_method_arn", truncate(method_arn))
    api, _, rest = parts[5].partition("/")
    stage, _, route = rest.partition("/")
    if not api or not stage or not route:
        raise Rejected("bad_method_arn", truncate(method_arn))
    return parts[1], parts[3], parts[4], api, stage, route


def route_arn(event: Any) -> str:
    """The ARN an HTTP API payload 2.0 event is for (it has a routeArn where the others have a
    methodArn). Raises Rejected('unknown_event') for an event of no API Gateway shape."""
    route = event.get("routeArn") if type(event) is dict else None
    if type(route) is not str:
        raise Rejected("unknown_event", "neither a methodArn nor a routeArn")
    return route


def simple_response(allowed: bool, context: dict[str, Any]) -> dict[str, Any]:
    """An HTTP API's simple response (payload 2.0, FASTAUTHZ_HTTP_SIMPLE_RESPONSES): no policy."""
    return {"isAuthorized": allowed, "context": context}


DENY_EVERYTHING: dict[str, Any] = {
    "Version": "2012-10-17",
    "Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": ["*"]}],
}


# The context, principal and usage key together serialise (as Lambda does: ASCII escapes) to at most
# this many bytes per character of the token they come from (a float claim `1e15` becomes
# `1000000000000000.0`, 4.5x the JSON that is 3/4 of its base64url; `é` becomes `\u00e9`): below
# that bound no result can pass API Gateway's 8 KB, and only larger tokens pay for the exact check,
# which serialises the context (tests/property/test_result_size.py).
RESULT_EXPANSION = 5
RESULT_ROOM = MAX_RESULT_BYTES - RESULT_OVERHEAD_BYTES


class Policies:
    """Allow and Deny documents per methodArn, with their serialised sizes, and the results built
    from them (respond)."""

    __slots__ = ("_allow", "_deny", "authorized_apis", "log", "simple_responses")

    def __init__(self, authorized_apis: tuple[str, ...] = (), simple_responses: bool = False, log: Any = None) -> None:
        self.authorized_apis = authorized_apis
        self.simple_responses = simple_responses  # FASTAUTHZ_HTTP_SIMPLE_RESPONSES
        self.log = log  # where a result that had to drop claims to fit 8 KB is told (a warning)
        self._allow: dict[str, tuple[dict[str, Any], int]] = {}
        self._deny: dict[str, tuple[dict[str, Any], int]] = {}

    def respond(
        self,
        token_length: int,
        resource: str,
        simple: bool,
        principal: str,
        context: dict[str, Any],
        denial: str,
        usage_key: str | None,
        exact: bool,
    ) -> dict[str, Any]:
        """The answer to one event from a decision: the policy for `resource` (or, `simple`, an HTTP
        API's simple response), the principal, the context and an Allow's usage key, within API
        Gateway's 8 KB. `exact` (or a token past the RESULT_EXPANSION bound) measures the result and
        drops the largest claims until it fits, from a copy: `context` may be a cached one."""
        document, document_size = self.deny(resource) if denial else self.allow(resource)
        if denial:
            usage_key = None  # a Deny never carries one
        if exact or RESULT_EXPANSION * token_length + document_size > RESULT_ROOM:
            context = dict(context)
            dropped = fit_context(context, principal, document_size + (lambda_size(usage_key) if usage_key else 0))
            if dropped and self.log is not None:
                self.log.warn("context claims dropped to fit 8 KB", claims=dropped, sub=truncate(principal))
        if simple and self.simple_responses:
            return simple_response(not denial, context)
        result = {"principalId": principal, "policyDocument": document, "context": context}
        if usage_key is not None:
            result["usageIdentifierKey"] = usage_key
        return result

    def allow(self, method_arn: str) -> tuple[dict[str, Any], int]:
        cached = self._allow.get(method_arn)
        return cached if cached is not None else self._build(self._allow, method_arn, "Allow")

    def deny(self, method_arn: str) -> tuple[dict[str, Any], int]:
        cached = self._deny.get(method_arn)
        return cached if cached is not None else self._build(self._deny, method_arn, "Deny")

    def refusal(self, method_arn: object) -> dict[str, Any]:
        """Deny mode's document for a refused token: the methodArn, or every resource when the
        methodArn is unusable (a refusal must never depend on the request being well formed)."""
        try:
            return self.deny(method_arn)[0]  # type: ignore[arg-type]  # parse_method_arn refuses a non-string
        except Rejected:
            return DENY_EVERYTHING

    def allow_resources(self, method_arn: str) -> list[str]:
        partition, region, account, api, stage, _ = parse_method_arn(method_arn)
        prefix = f"arn:{partition}:execute-api:{region}:{account}:"
        if not self.authorized_apis:
            return [f"{prefix}{api}/{stage}/*"]
        return [entry if entry.startswith("arn:") else f"{prefix}{entry}/*" for entry in self.authorized_apis]

    def _build(self, table: dict[str, tuple[dict[str, Any], int]], method_arn: str, effect: str) -> tuple[dict[str, Any], int]:
        resources = self.allow_resources(method_arn) if effect == "Allow" else [method_arn]
        if effect == "Deny":
            parse_method_arn(method_arn)
        document = {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resources}],
        }
        if len(table) >= MAX_CACHED_DOCUMENTS:
            table.clear()
        built = (document, len(dumps(document).encode()))
        table[method_arn] = built
        return built


def flatten(value: Any) -> str | int | float | bool | None:
    """A claim as an authorizer context value: string, number or boolean only."""
    kind = type(value)
    if kind is str or kind is bool or kind is float:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if kind is list:
        return ",".join(item if type(item) is str else dumps(item) for item in value)
    if value is None:
        return None
    return dumps(value)


def build_context(payload: dict[str, Any], claims: tuple[str, ...], exp: float | None) -> dict[str, Any]:
    """The configured claims, flattened, plus `exp` (so the backend can close expired connections)."""
    context: dict[str, Any] = {}
    for name in payload.keys() if claims == ("*",) else claims:
        value = payload.get(name)
        if value is not None:
            context[name] = value if type(value) is str else flatten(value)
    if exp is not None:
        context["exp"] = exp
    return context


def lambda_size(value: Any) -> int:
    """Bytes of `value` as Lambda's Python runtime serialises a response (json.dumps' defaults:
    ASCII escapes, spaces after `:` and `,`): what API Gateway's 8 KB limit sees (cold path)."""
    import json

    return len(json.dumps(value))


def fit_context(context: dict[str, Any], principal: str, document_size: int) -> list[str]:
    """Drop the largest claims (never `exp`) until the response fits 8 KB; returns what was dropped."""
    budget = MAX_RESULT_BYTES - RESULT_OVERHEAD_BYTES - document_size - lambda_size(principal)
    if budget < 0:
        raise Rejected("result_too_large", "principal and policy exceed 8 KB")
    dropped: list[str] = []
    size = lambda_size(context)
    while size > budget:
        name = max((k for k in context if k != "exp"), key=lambda k: lambda_size(context[k]) + lambda_size(k), default=None)
        if name is None:
            raise Rejected("result_too_large", "context exceeds 8 KB")
        del context[name]
        dropped.append(name)
        size = lambda_size(context)
    return dropped


def iam_match(pattern: str, resource: str) -> bool:
    """IAM wildcard matching: `*` any run of characters (slashes included), `?` one character (cold path)."""
    import re

    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, resource) is not None


def connect_pattern_problem(pattern: str) -> str | None:
    """Why an AUTHORIZED_APIS entry cannot cover a `$connect` methodArn, or None (cold path)."""
    if not pattern.startswith("arn:"):
        return None  # an API id: the Allow is built as <id>/*
    resource = pattern.split(":", 5)[5] if pattern.count(":") >= 5 else ""
    segments = resource.split("/")
    api = segments[0] if segments[0] and "*" not in segments[0] else "someapi"
    stage = segments[1] if len(segments) > 1 and segments[1] and "*" not in segments[1] else "somestage"
    if not iam_match(resource, f"{api}/{stage}/$connect"):
        return f"{pattern!r} does not match a WebSocket methodArn <api>/<stage>/$connect (a REST-style stage/*/* never does)"
    return None
