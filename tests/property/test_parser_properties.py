"""Properties of the parser and of the handler on arbitrary input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastauthz.authorizer import Authorizer
from fastauthz.dev.tokens import b64url
from fastauthz.errors import Rejected
from testkit.authorizers import Logs, make_authorizer, outcome
from testkit.events import connect_event
from testkit.keys import write_jwks
from testkit.tokens import claims, mint, parse_token

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
VALID = mint("rsa-1", claims(exp=4_000_000_000))


@pytest.fixture(scope="module")
def authorizer(tmp_path_factory: pytest.TempPathFactory) -> Authorizer:
    directory = tmp_path_factory.mktemp("keys")
    return make_authorizer(write_jwks(Path(directory), "rsa-1"), logs=Logs(), JWT_CACHE_SIZE="0")


@given(st.text(max_size=400))
def test_any_text_into_the_parser_yields_a_token_or_our_rejection_only(text: str) -> None:
    try:
        parse_token(text, 8192)
    except Rejected:
        pass


@given(st.binary(max_size=300))
def test_any_bytes_as_latin1_text_into_the_parser_yields_only_our_rejection(data: bytes) -> None:
    try:
        parse_token(data.decode("latin-1"), 8192)
    except Rejected:
        pass


@given(st.lists(st.text(alphabet=B64URL, max_size=60), min_size=1, max_size=5).map(".".join))
def test_base64url_shaped_garbage_yields_only_our_rejection(text: str) -> None:
    try:
        parse_token(text, 8192)
    except Rejected:
        pass


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=200)
@given(st.text(max_size=200), st.sampled_from(["header", "query", "protocol", "cookie"]))
def test_any_text_as_a_token_through_the_handler_is_a_clean_unauthorized(authorizer: Authorizer, text: str, where: str) -> None:
    event = connect_event("x", where)
    # put the raw text exactly where the token would be
    if where == "header":
        event["headers"]["Authorization"] = text
    elif where == "query":
        event["queryStringParameters"]["authorization"] = text
    verdict, _ = outcome(authorizer, event)
    assert verdict == "unauthorized"


def test_the_valid_token_used_below_is_accepted(authorizer: Authorizer) -> None:
    assert outcome(authorizer, connect_event(VALID))[0] == "allow"


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=300)
@given(st.integers(min_value=0, max_value=len(VALID) - 1), st.sampled_from(B64URL + ".=+/ \x00é"))
def test_any_single_character_change_to_a_valid_token_is_rejected(authorizer: Authorizer, position: int, replacement: str) -> None:
    if VALID[position] == replacement:
        replacement = "A" if replacement != "A" else "B"
    tampered = VALID[:position] + replacement + VALID[position + 1 :]
    assert outcome(authorizer, connect_event(tampered))[0] == "unauthorized"


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=100)
@given(
    st.dictionaries(
        st.sampled_from(
            ["headers", "multiValueHeaders", "queryStringParameters", "multiValueQueryStringParameters", "methodArn", "requestContext"]
        ),
        st.one_of(
            st.none(),
            st.integers(),
            st.text(max_size=5),
            st.lists(st.text(max_size=5), max_size=2),
            st.dictionaries(st.text(max_size=15), st.one_of(st.text(max_size=20), st.none(), st.lists(st.text(max_size=5))), max_size=3),
        ),
    )
)
def test_malformed_events_never_crash_or_allow(authorizer: Authorizer, event: dict[str, Any]) -> None:
    verdict, _ = outcome(authorizer, event)
    assert verdict == "unauthorized"


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=150)
@given(
    st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "b64", "jku", "x"]),
        st.one_of(
            st.sampled_from(["RS256", "none", "HS256", "ES256", "rsa-1", "JWT"]),
            st.integers(),
            st.none(),
            st.lists(st.text(max_size=3), max_size=2),
        ),
        max_size=4,
    )
)
def test_a_header_decides_the_same_whether_it_comes_from_the_header_cache_or_not(authorizer: Authorizer, header: dict[str, Any]) -> None:
    payload = VALID.split(".")[1]
    token = f"{b64url(json.dumps(header).encode())}.{payload}.{VALID.split('.')[2]}"
    authorizer.headers.entries.clear()
    authorizer.headers.refused.clear()
    authorizer.rejected.clear()
    first = outcome(authorizer, connect_event(token))
    authorizer.rejected.clear()  # so that the second call parses again, now from the header cache
    assert outcome(authorizer, connect_event(token)) == first
    assert outcome(authorizer, connect_event(VALID))[0] == "allow"
    assert first[0] == "unauthorized" or header.get("alg") == "RS256"
