"""Where the token lives in a `$connect` REQUEST-authorizer event. Hot path.

Sources, tried in the configured order, the first present one wins (a present but bad token is
never replaced by another source's):
  header    Authorization (any case, `Bearer ` optional, any case), in headers or multiValueHeaders
  query     a query-string parameter (browsers cannot set WebSocket headers)
  protocol  an entry of Sec-WebSocket-Protocol that is a compact JWS, e.g. `bearer, <jwt>`
  cookie    a named cookie (HTTP API payload 2.0: in its `cookies` list)
A REST API TOKEN authorizer's event has the token alone, in `authorizationToken`: used whatever the
sources, and nothing else of such an event is read. Every map may be null or absent (API Gateway omits or nulls them depending on the request).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from .errors import Rejected
from .token import decode_payload

Event = Mapping[str, Any]
MAX_TICKET_CHARACTERS = 65536  # JWT_MAX_TOKEN_BYTES' upper bound
_SPACES = frozenset(("", " ", "\t"))
Source = Callable[[Event], "str | None"]


def _strip_bearer(value: str) -> str | None:
    # Only HTTP's optional whitespace (SP, HTAB: RFC 9110 §5.6.3) around the value and after the
    # scheme; any other whitespace stays and makes the token malformed (the header fast path agrees:
    # tests/property/test_twins.py).
    value = value.strip(" \t")
    if value[:6].lower() == "bearer" and (len(value) == 6 or value[6] in " \t"):
        value = value[6:].lstrip(" \t")
    return value or None


def _lookup(event: Event, single_key: str, multi_key: str, name: str, lower_name: str) -> str | None:
    """A value by name: exact, then lower case, then any case; single map before multi-value map."""
    single = event.get(single_key)
    if single:
        value = single.get(name)
        if value is None:
            value = single.get(lower_name)
            if value is None:
                for key, candidate in single.items():
                    if key.lower() == lower_name:
                        value = candidate
                        break
        if value is not None:
            return value if isinstance(value, str) else None
    multi = event.get(multi_key)
    if multi:
        for key, values in multi.items():
            if key.lower() == lower_name and isinstance(values, list) and values:
                if len(values) != 1:
                    raise Rejected("malformed", f"{len(values)} values for {name}")
                return values[0] if isinstance(values[0], str) else None
    return None


def header_source(event: Event) -> str | None:
    value = _lookup(event, "headers", "multiValueHeaders", "Authorization", "authorization")
    return _strip_bearer(value) if value else None


def query_source(parameter: str) -> Source:
    lower = parameter.lower()

    def source(event: Event) -> str | None:
        value = _lookup(event, "queryStringParameters", "multiValueQueryStringParameters", parameter, lower)
        return _strip_bearer(value) if value else None

    return source


def ticket_source(source: Source, max_age: float, leeway: float, clock: Callable[[], float]) -> Source:
    """`source` (the query string), refusing a token issued more than `max_age` seconds ago
    (JWT_QUERY_TOKEN_MAX_AGE_SECONDS): a URL ends up in access logs and browser history, so it
    should carry a short-lived ticket only. Read from the unverified payload, which can only
    refuse: the token is verified in full afterwards. Checked on every event, the cached included,
    since a ticket ages while its verification stays cached."""
    oldest_age = max_age + leeway

    def source_of_tickets(event: Event) -> str | None:
        token = source(event)
        if token is not None:
            # Shape and size are checked again, with the configured limit, when the token is verified.
            if len(token) > MAX_TICKET_CHARACTERS or not token.isascii() or token.count(".") != 2:
                raise Rejected("malformed", "not a compact JWS")
            iat: Any = decode_payload(token.split(".")[1].encode("ascii")).get("iat")
            kind = type(iat)
            if kind is not int and kind is not float:
                raise Rejected("query_token_too_old" if iat is None else "bad_claim_type", "iat must be a number")
            # A comparison, not `clock() - iat`: an int `iat` of any size compares exactly, where
            # subtracting 10**400 from a float overflows.
            if iat < clock() - oldest_age:
                raise Rejected("query_token_too_old", f"issued more than {oldest_age:g} s ago")
        return token

    return source_of_tickets


def protocol_source(event: Event) -> str | None:
    value = _lookup(event, "headers", "multiValueHeaders", "Sec-WebSocket-Protocol", "sec-websocket-protocol")
    if not value:
        return None
    candidates = [entry.strip() for entry in value.split(",") if entry.count(".") == 2]
    if len(candidates) > 1:
        raise Rejected("malformed", "several tokens in Sec-WebSocket-Protocol")
    return candidates[0] if candidates else None


def cookie_source(cookie_name: str) -> Source:
    def source(event: Event) -> str | None:
        headers = event.get("multiValueHeaders") or {}
        cookie_lines = next((v for k, v in headers.items() if k.lower() == "cookie" and isinstance(v, list)), None)
        if cookie_lines is None:
            line = _lookup(event, "headers", "multiValueHeaders", "Cookie", "cookie")
            cookies = event.get("cookies")  # HTTP API payload 2.0: a list of `name=value`, no Cookie header
            cookie_lines = [line] if line else cookies if type(cookies) is list else []
        for line in cookie_lines:
            if not isinstance(line, str):
                continue
            for pair in line.split(";"):
                name, sep, value = pair.strip().partition("=")
                if sep and name == cookie_name:
                    value = value.strip()
                    if len(value) >= 2 and value[0] == value[-1] == '"':
                        value = value[1:-1]
                    return value or None
        return None

    return source


def authorization_token(event: Event) -> str:
    """A REST API TOKEN authorizer's event carries the token alone, in `authorizationToken` (from the
    header the authorizer names), whatever sources are configured. Raises Rejected('missing_token')."""
    value = event.get("authorizationToken") if event.get("type") == "TOKEN" else None
    token = _strip_bearer(value) if type(value) is str and value else None
    if token is None:
        raise Rejected("missing_token")
    return token


def build_extractor(
    sources: tuple[str, ...],
    query_parameter: str,
    cookie_name: str,
    query_max_age: float | None = None,
    leeway: float = 0.0,
    clock: Callable[[], float] = time.time,
) -> Callable[[Event], str]:
    """An `extract(event) -> token` for the configured sources. Raises Rejected('missing_token')."""
    chain: list[Source] = []
    for name in sources:
        if name == "header":
            chain.append(header_source)
        elif name == "query":
            query = query_source(query_parameter)
            chain.append(query if query_max_age is None else ticket_source(query, query_max_age, leeway, clock))
        elif name == "protocol":
            chain.append(protocol_source)
        elif name == "cookie":
            chain.append(cookie_source(cookie_name))
    ordered = tuple(chain)

    def extract(event: Event) -> str:
        if event.get("type") == "TOKEN":  # its token is authorizationToken alone, whatever else it carries
            return authorization_token(event)
        for source in ordered:
            token = source(event)
            if token is not None:
                return token
        return authorization_token(event)

    if sources[0] != "header":
        return extract

    def extract_header_first(event: Event) -> str:
        # The common request, inlined: `Authorization: Bearer <token>` in `headers` (or lower case,
        # as HTTP APIs send it). Anything else (other casing, spacing, multi-value headers, other
        # sources) takes the general path.
        headers = event.get("headers")
        if type(headers) is dict and event.get("type") != "TOKEN":
            value = headers.get("Authorization")
            if value is None:  # HTTP APIs and HTTP/2 clients send header names in lower case
                value = headers.get("authorization")
            if type(value) is str and value[:7] == "Bearer " and value[7:8] not in _SPACES and value[-1:] not in _SPACES:
                return value[7:]
        return extract(event)

    return extract_header_first
