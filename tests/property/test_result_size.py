"""API Gateway's 8 KB limit on an authorizer's result (#31): whatever the claims, and however they
serialise (as Lambda's runtime does: json.dumps' defaults), an answer fits; and the bound that lets
small tokens skip the exact check (authorizer.RESULT_EXPANSION) holds for any payload."""

from __future__ import annotations

import hmac
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastauthz.authorizer import Authorizer
from fastauthz.config import load_settings
from fastauthz.dev.tokens import b64url, b64url_decode
from fastauthz.policy import MAX_RESULT_BYTES, RESULT_EXPANSION, build_context, lambda_size
from testkit.events import api_event, connect_event
from testkit.tokens import AUDIENCE, ISSUER, live_claims

SECRET = "a-secret-for-the-size-property-32b!"
# The values that serialise longest against their JSON in the token: floats printed in full
# (1e15 -> 1000000000000000.0), integers past 2^53 (quoted), escapes, non-ASCII (\uXXXX), nesting.
SCALARS = st.one_of(
    st.sampled_from([1e15, -1e15, 9.999999999999999e14, 1e16, 5e-324, 2**53 + 1, -(2**63), True, None, '"', "\\", "\u00e9", "\U0001f600"]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(),
    st.text(max_size=20),
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=4), inner, max_size=4), max_leaves=30
)
CLAIMS = st.dictionaries(st.text(min_size=1, max_size=6), VALUES, max_size=25)


def signed(payload: dict[str, Any]) -> str:
    """An HS256 token whose payload is `payload` as JSON with no spaces, the way issuers write it:
    the floats spelled shortest (1e15, not 1000000000000000.0), as JavaScript issuers do."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).replace("1000000000000000.0", "1e15")
    signing_input = b64url(b'{"alg":"HS256","typ":"JWT"}') + "." + b64url(text.encode())
    return signing_input + "." + b64url(hmac.digest(SECRET.encode(), signing_input.encode(), "sha256"))


def authorizer() -> Authorizer:
    environ = {"JWT_ISSUER": ISSUER, "JWT_HMAC_SECRET": SECRET, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE, "JWT_CONTEXT_CLAIMS": "*"}
    environ |= {
        "FASTAUTHZ_USAGE_IDENTIFIER_CLAIM": "plan",
        "FASTAUTHZ_METRICS": "false",
        "LOG_LEVEL": "ERROR",
        "JWT_MAX_TOKEN_BYTES": "65536",
    }
    return Authorizer(load_settings(environ), write=lambda line: None)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(CLAIMS, st.text(min_size=1, max_size=40))
def test_the_context_principal_and_usage_key_serialise_within_the_expansion_bound(extra: dict[str, Any], sub: str) -> None:
    payload = {**extra, **live_claims(sub=sub, plan=sub)}
    token = signed(payload)
    decoded = json.loads(b64url_decode(token.split(".")[1]))  # what the authorizer reads
    context = build_context(decoded, ("*",), decoded["exp"])
    assert lambda_size(context) + lambda_size(sub) + lambda_size(sub) <= RESULT_EXPANSION * len(token)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from([1e15, 2**60, "\u00e9" * 8, {"q": '"' * 8}]), min_size=50, max_size=900))
def test_an_allow_never_passes_8_kb_whatever_its_claims(values: list[Any]) -> None:
    decide = authorizer().decide
    token = signed(live_claims(sub="u", big=values, plan="p"))
    for event in (connect_event(token), api_event("rest-request", token), connect_event(token)):
        result = decide(event)
        assert result is not None and result["policyDocument"]["Statement"][0]["Effect"] == "Allow"
        assert lambda_size(result) <= MAX_RESULT_BYTES
