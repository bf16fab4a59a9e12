"""Coverage-guided fuzzing of the Lambda entry point (atheris), on tokens derived from valid ones.

    python tests/fuzz/fuzz_handler.py -max_total_time=60 [corpus_dir]     (make fuzz: longer)

Each input picks a valid token (RS256, ES256 or EdDSA, signed by keys served from a file), edits it
(byte flips, deletions, insertions, splices with another token, truncations, a forged header or
payload segment), puts it in one of the places a client can send it (Authorization header with or
without `Bearer` and whitespace, query string, Sec-WebSocket-Protocol, cookie, multi-value headers
only), of a `$connect` event or of a REST (TOKEN, REQUEST) or HTTP API (1.0, 2.0) event, now and
then with a key of the event removed or retyped, and calls `fastauthz.handler.handler` as Lambda does. Invariants, checked on every input:

- the only exception is Exception("Unauthorized") (API Gateway's 401);
- an Allow only for a token string that is byte for byte a valid one (the extractor may strip
  whitespace, `Bearer` and the documented delimiters, nothing else), with that token's subject;
- no call takes over a second.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import atheris

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

with atheris.instrument_imports(include=["fastauthz"]):  # tests.support imports fastauthz: instrument from the start
    from fastauthz.dev.tokens import b64url, b64url_decode
    from testkit.events import FRONTS, api_event, connect_event
    from testkit.keys import write_jwks
    from testkit.tokens import AUDIENCE, ISSUER, claims, mint

KEYS = ("rsa-1", "es256-1", "ed25519-1")
TENANT_ISSUER = "https://login.example.test/{tenantid}/v2.0"
TENANTS = ("9188040d-6c67-4c5b-b112-36a304b66dad", "contoso")
ALLOWED_ORIGINS = ("https://app.example.com", "https://*.example.org")
ORIGINS = ("https://app.example.com", "https://a.example.org", "https://evil.example", "https://a.b.example.org", "null", "")
MAX_SECONDS = 1.0
FORGED_HEADERS: tuple[object, ...] = (
    {"alg": "none"},
    {"alg": "HS256", "kid": "rsa-1"},
    {"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]},
    {"alg": "ES256", "kid": "rsa-1"},
    {"alg": "RS256", "kid": "../../etc/passwd"},
    {"alg": "EdDSA"},
    [],
    "x",
    None,
)


def setup() -> tuple[Any, Any, dict[str, str]]:
    directory = Path(tempfile.mkdtemp(prefix="fastauthz-fuzz-"))
    now = int(time.time())
    valid = {mint(name, claims(sub=f"user-{name}", iat=now - 5, exp=now + 86400)): f"user-{name}" for name in KEYS}
    for tenant in TENANTS:  # an Entra-shaped multi-tenant issuer: `tid` must match the tenant in `iss`
        tenant_claims = claims(sub=f"user-{tenant}", iat=now - 5, exp=now + 86400, iss=TENANT_ISSUER.format(tenantid=tenant), tid=tenant)
        valid[mint("rsa-1", tenant_claims)] = f"user-{tenant}"
    key_file = write_jwks(directory, *KEYS)
    issuers = [
        {"issuer": ISSUER, "jwks_uri": key_file},
        {"issuer": TENANT_ISSUER, "jwks_uri": key_file, "tenants": list(TENANTS)},
    ]
    os.environ.update(
        {
            "JWT_ISSUERS": json.dumps(issuers),
            "JWT_AUTHORIZED_AUDIENCES": AUDIENCE,
            "JWT_TOKEN_SOURCES": "header,query,protocol,cookie",
            "JWT_COOKIE_NAME": "session",
            "JWT_ALLOWED_ORIGINS": ",".join(ALLOWED_ORIGINS),
            "JWT_QUERY_TOKEN_MAX_AGE_SECONDS": "600",
            "FASTAUTHZ_USAGE_IDENTIFIER_CLAIM": "sub",
            "FASTAUTHZ_HTTP_SIMPLE_RESPONSES": "true",
            "FASTAUTHZ_METRICS": "false",
            "LOG_LEVEL": "ERROR",
        }
    )
    with atheris.instrument_imports(include=["fastauthz"]):
        from fastauthz import handler as entry
    for token, subject in valid.items():  # the target proves nothing if the valid tokens are refused
        for where in ("header", "query", "protocol", "cookie"):
            result = entry.handler(connect_event(token, where), None)
            assert result["principalId"] == subject and result["policyDocument"]["Statement"][0]["Effect"] == "Allow"
        for front in FRONTS:
            result = entry.handler(api_event(front, token), None)
            if front == "rest-token":  # its event carries no Origin: with an allow-list configured, a Deny (#31)
                assert result["context"] == {"reason": "bad_origin"}, front
                continue
            assert result.get("isAuthorized") is True or result["policyDocument"]["Statement"][0]["Effect"] == "Allow", front
    return entry.handler, entry.authorizer, valid


handler, authorizer, VALID = setup()
TOKENS = list(VALID)


def mutate(data: atheris.FuzzedDataProvider, token: str) -> str:
    for _ in range(data.ConsumeIntInRange(0, 3)):
        if not token:
            break
        edit = data.ConsumeIntInRange(0, 6)
        at = data.ConsumeIntInRange(0, len(token) - 1)
        if edit == 0:  # flip bits of one character
            token = token[:at] + chr((ord(token[at]) ^ data.ConsumeIntInRange(1, 255)) % 0x110000) + token[at + 1 :]
        elif edit == 1:  # delete a run
            token = token[:at] + token[at + data.ConsumeIntInRange(1, 16) :]
        elif edit == 2:  # insert fuzzed text
            token = token[:at] + data.ConsumeUnicodeNoSurrogates(data.ConsumeIntInRange(1, 8)) + token[at:]
        elif edit == 3:  # splice with another valid token
            other = TOKENS[data.ConsumeIntInRange(0, len(TOKENS) - 1)]
            token = token[:at] + other[data.ConsumeIntInRange(0, len(other) - 1) :]
        elif edit == 4:  # truncate
            token = token[:at]
        elif edit == 5:  # swap in a forged header, keeping payload and signature
            header = FORGED_HEADERS[data.ConsumeIntInRange(0, len(FORGED_HEADERS) - 1)]
            token = b64url(json.dumps(header).encode()) + token[token.find(".") :] if "." in token else token
        else:  # re-encode the payload with one claim changed, keeping the signature
            parts = token.split(".")
            if len(parts) == 3:
                try:
                    payload = json.loads(b64url_decode(parts[1]))
                except ValueError:
                    continue
                if isinstance(payload, dict) and payload:
                    name = sorted(payload)[data.ConsumeIntInRange(0, len(payload) - 1)]
                    payload[name] = data.ConsumeIntInRange(-1, 1 << 33) if data.ConsumeBool() else data.ConsumeUnicodeNoSurrogates(12)
                    token = ".".join([parts[0], b64url(json.dumps(payload).encode()), parts[2]])
    return token


def place(data: atheris.FuzzedDataProvider, token: str) -> dict[str, Any]:
    front = data.ConsumeIntInRange(0, 9)
    if front >= 5:  # a REST or HTTP API front door instead of $connect
        event = api_event(
            sorted(FRONTS)[front - 5] if front < 9 else "http-2.0", token, ("header", "query", "cookie")[data.ConsumeIntInRange(0, 2)]
        )
        if data.ConsumeIntInRange(0, 7) == 0:  # a shape of its own: a key removed or retyped
            victim = sorted(event)[data.ConsumeIntInRange(0, len(event) - 1)]
            event[victim] = None if data.ConsumeBool() else data.ConsumeUnicodeNoSurrogates(12)
        return event
    where = data.ConsumeIntInRange(0, 5)
    if where == 0:
        event = connect_event(token, "header")
        prefix = ("Bearer ", "bearer ", "", "Bearer  ", " Bearer ")[data.ConsumeIntInRange(0, 4)]
        event["headers"]["Authorization"] = prefix + token + (" " if data.ConsumeBool() else "")
        event["multiValueHeaders"]["Authorization"] = [event["headers"]["Authorization"]]
    elif where == 1:
        event = connect_event(token, "query")
    elif where == 2:
        event = connect_event(token, "protocol")
    elif where == 3:
        event = connect_event(None)
        event["headers"]["Cookie"] = f"theme=dark; session={token}"
        event["multiValueHeaders"]["Cookie"] = [event["headers"]["Cookie"]]
    elif where == 4:  # multi-value headers only (a client that repeated the header)
        event = connect_event(token, "header")
        event["headers"] = None
        event["multiValueHeaders"]["Authorization"] = [f"Bearer {token}", data.ConsumeUnicodeNoSurrogates(20)]
    else:  # the lower-case header name HTTP/2 clients send
        event = connect_event(None)
        event["headers"]["authorization"] = f"Bearer {token}"
    if data.ConsumeIntInRange(0, 15) == 0:
        event["methodArn"] = data.ConsumeUnicodeNoSurrogates(40)
    origin = data.ConsumeIntInRange(0, len(ORIGINS) + 1)
    if origin < len(ORIGINS):
        event["headers"] = event["headers"] or {}
        event["headers"]["Origin"] = ORIGINS[origin]
    elif origin == len(ORIGINS):  # fuzzed text, or a value of the wrong shape
        event["headers"] = event["headers"] or {}
        event["headers"]["origin"] = data.ConsumeUnicodeNoSurrogates(30) if data.ConsumeBool() else [data.ConsumeInt(2)]
    return event


def origin_allowed(event: dict[str, Any]) -> bool:
    if event.get("type") == "TOKEN":  # no Origin to check: with an allow-list, refused as bad_origin (#31)
        return False
    origin = (event.get("headers") or {}).get("Origin", (event.get("headers") or {}).get("origin"))
    return origin is None or origin in ("https://app.example.com", "https://a.example.org")


def TestOneInput(raw: bytes) -> None:
    data = atheris.FuzzedDataProvider(raw)
    token = mutate(data, TOKENS[data.ConsumeIntInRange(0, len(TOKENS) - 1)])
    event = place(data, token)
    started = time.perf_counter()
    try:
        result = handler(event, None)
    except Exception as error:
        if type(error) is not Exception or str(error) != "Unauthorized":
            raise
        result = None
    elapsed = time.perf_counter() - started
    if elapsed > MAX_SECONDS:
        raise AssertionError(f"one call took {elapsed:.2f} s")
    if result is None:
        return
    if "isAuthorized" in result:  # an HTTP API 2.0 simple response
        if result["isAuthorized"] is not True:
            return
        seen = authorizer.extract(event)
        if seen not in VALID or not origin_allowed(event):
            raise AssertionError(f"isAuthorized for a token that is not a valid one: {seen!r}")
        return
    effect = result["policyDocument"]["Statement"][0]["Effect"]
    if effect == "Deny" and result["context"] == {"reason": "bad_origin"}:
        if origin_allowed(event):
            raise AssertionError(f"bad_origin for an allowed origin: {event['headers']!r}")
        return
    if not origin_allowed(event):
        raise AssertionError(f"{effect} for a page of another origin: {event['headers']!r}")
    seen = authorizer.extract(event)
    if effect != "Allow" or seen not in VALID:
        raise AssertionError(f"{effect} for a token that is not a valid one: {seen!r}")
    if result["principalId"] != VALID[seen] or result.get("usageIdentifierKey") != VALID[seen]:
        raise AssertionError(f"Allow with principal {result['principalId']!r} for {VALID[seen]!r}'s token")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
