"""Every production twin, tied: where the hot path keeps a fast copy of general code, the two give
the same answer for any input hypothesis finds.

- the `Authorization: Bearer <token>` fast path and the general extractor (extract.py);
- the inline key lookup in Authorizer._verify and KeyStore.key_for;
- the verified-token cache's answer in decide() and in verify(), and the answer without the cache;
- token.decode_payload, written out in one frame, and the general decoders (decode_signature too, on b64url_decode);
- the ECDSA signature's DER built by table (keys.der_heads) and cryptography's encode_dss_signature.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastauthz.errors import Rejected
from fastauthz.extract import build_extractor
from fastauthz.fetch import Fetched
from fastauthz.keys import der_heads
from fastauthz.keystore import KeyStore, KeyTiming
from fastauthz.logs import Log
from fastauthz.token import _decode_payload, b64url_decode, decode_payload, decode_signature
from testkit.authorizers import Clock, Logs, make_authorizer, outcome
from testkit.events import connect_event
from testkit.keys import jwks, write_jwks
from testkit.tokens import NOW, claims, mint

# Characters that matter around a bearer token: ASCII and Unicode whitespace, the scheme's letters.
AROUND = st.text(alphabet=" \t\x0b\x0c\r\n\xa0\u2003\u3000Bearer", max_size=12)
TOKENISH = st.text(alphabet="AB.\x0b\t -_", min_size=0, max_size=8)


def answer(extract: Any, event: dict[str, Any]) -> tuple[str, str]:
    try:
        return "token", extract(event)
    except Rejected as rejection:
        return "refused", rejection.reason


@settings(max_examples=2000)
@given(prefix=AROUND, token=TOKENISH, suffix=AROUND, scheme=st.sampled_from(["Bearer ", "bearer ", "Bearer", "", "Bearer\t"]))
def test_the_header_fast_path_answers_what_the_general_extractor_answers(prefix: str, token: str, suffix: str, scheme: str) -> None:
    fast = build_extractor(("header", "query"), "authorization", "")  # header first: the fast path
    general = build_extractor(("query", "header"), "authorization", "")  # the same sources, no fast path
    event = connect_event()
    event["headers"]["Authorization"] = prefix + scheme + token + suffix
    event["multiValueHeaders"]["Authorization"] = [event["headers"]["Authorization"]]
    assert answer(fast, event) == answer(general, event)


def test_unicode_whitespace_after_the_scheme_is_part_of_the_token_on_both_paths() -> None:
    fast = build_extractor(("header",), "authorization", "")
    for space in ("\x0b", "\x0c", "\xa0"):
        event = connect_event()
        event["headers"]["Authorization"] = f"Bearer {space}A.B.C"
        assert fast(event) == f"{space}A.B.C"  # malformed later, on both paths (decided in issue #21)


@pytest.fixture(scope="module")
def key_store(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    """A store whose keys came from a fetch (not pinned), so that its freshness moves with the clock."""
    document = jwks("rsa-1", "es256-1")

    def fetch(uri: str, timeout: float, retries: int) -> Any:

        return Fetched(json.dumps(document).encode(), 600.0, 0.001)

    store = KeyStore(
        "https://keys.example/jwks.json",
        log=Log("ERROR", Logs().write),
        fetch=fetch,
        clock=Clock(),
        spawn=lambda task: task(),
        timing=KeyTiming(cooldown=30.0),
    )
    store.start(NOW)
    return store


@settings(max_examples=500, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kid=st.sampled_from(["rsa-1", "es256-1", "unknown", None]), later=st.sampled_from([0.0, 100.0, 539.0, 541.0, 599.0]))
def test_the_inline_key_lookup_finds_only_what_key_for_returns(key_store: KeyStore, kid: str | None, later: float) -> None:
    now = NOW + later
    # Authorizer._verify's inline lookup, as written there: fresh keys and a kid, else Issuer.key_for.
    inline = key_store.keys.by_kid.get(kid) if now < key_store.refresh_after and kid is not None else None  # type: ignore[union-attr]
    if inline is not None:
        assert inline is key_store.key_for(kid, now)
    elif now < key_store.refresh_after:
        with pytest.raises(Rejected):  # the store refuses what the inline lookup did not find (unknown or missing kid)
            key_store.key_for(kid, now)


SCOPES = st.sampled_from(["chat:read chat:write", "chat:read", ""])
CALLS = st.lists(st.tuples(st.sampled_from(["decide", "verify"]), st.integers(0, 3)), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scopes=st.lists(SCOPES, min_size=4, max_size=4), calls=CALLS)
def test_a_cached_answer_is_the_answer_without_the_cache_in_decide_and_in_verify(
    tmp_path: Path, scopes: list[str], calls: list[tuple[str, int]]
) -> None:
    uri = write_jwks(tmp_path, "rsa-1")
    tokens = [mint("rsa-1", claims(sub=f"user-{index}", scope=scope or None, exp=NOW + 3600 + index)) for index, scope in enumerate(scopes)]
    cached = make_authorizer(uri, clock=Clock(), JWT_REQUIRED_SCOPES="chat:write")
    for method, index in calls:
        uncached = make_authorizer(uri, clock=Clock(), JWT_CACHE_SIZE="0", JWT_REQUIRED_SCOPES="chat:write")
        if method == "decide":
            assert outcome(cached, connect_event(tokens[index])) == outcome(uncached, connect_event(tokens[index]))
        else:
            assert verified(cached, tokens[index]) == verified(uncached, tokens[index])


def verified(authorizer: Any, token: str) -> tuple[str, Any]:
    try:
        return "claims", authorizer.verify(token)
    except Rejected as rejection:
        return "refused", rejection.reason


def decoded(decode: Any, segment: bytes) -> tuple[str, Any]:
    try:
        return "value", decode(segment)
    except Rejected as rejection:
        return "refused", rejection.reason


# JSON-ish text with what sends the fast path back to the general one: whitespace around the value,
# escapes (lone surrogates among them), non-objects, constants the strict reader refuses.
JSONISH = st.one_of(
    st.dictionaries(st.text(max_size=6), st.one_of(st.integers(), st.floats(allow_nan=False), st.text(max_size=6)), max_size=4).map(
        lambda value: json.dumps(value, ensure_ascii=False)
    ),
    st.text(alphabet='{}[]":, \t\nu\\0123456789abdfnNaI-', max_size=24),
    st.sampled_from(['{"a":"\\ud800"}', '{"a":"\\u00e9"}', ' {"a":1}', '{"a":1} ', "[1]", '"x"', '{"a":NaN}', '{"a":1e999}', "{}"]),
)


@settings(max_examples=3000)
@given(text=JSONISH, cut=st.integers(min_value=0, max_value=2), flip=st.booleans())
def test_the_one_frame_payload_decoder_answers_what_the_general_decoders_answer(text: str, cut: int, flip: bool) -> None:
    segment = base64.urlsafe_b64encode(text.encode("utf-8", "surrogatepass")).rstrip(b"=")
    segment = segment[: len(segment) - cut]  # lengths 4k+1 and non-canonical endings among them
    if flip and segment:
        segment = segment[:-1] + bytes((segment[-1] ^ 1,))
    assert decoded(decode_payload, segment) == decoded(_decode_payload, segment)


@settings(max_examples=2000)
@given(
    segment=st.binary(max_size=90).map(lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=")), cut=st.integers(0, 2), flip=st.booleans()
)
def test_the_one_frame_signature_decoder_answers_what_b64url_decode_answers(segment: bytes, cut: int, flip: bool) -> None:
    segment = segment[: len(segment) - cut]
    if flip and segment:
        segment = segment[:-1] + bytes((segment[-1] ^ 1,))
    try:
        expected: tuple[str, Any] = ("value", b64url_decode(segment))
    except Rejected as rejection:
        expected = ("refused", rejection.reason)
    except ValueError:
        expected = ("refused", "malformed")
    assert decoded(decode_signature, segment) == expected


@settings(max_examples=3000)
@given(size=st.sampled_from([32, 48]), scalars=st.data())
def test_the_der_table_builds_what_encode_dss_signature_builds(size: int, scalars: st.DataObject) -> None:
    heads = der_heads(size)
    assert heads is not None
    first = st.integers(min_value=1, max_value=255)  # the table's domain: both first bytes nonzero
    r = bytes([scalars.draw(first)]) + scalars.draw(st.binary(min_size=size - 1, max_size=size - 1))
    s = bytes([scalars.draw(first)]) + scalars.draw(st.binary(min_size=size - 1, max_size=size - 1))
    head, s_head = heads[(r[0] >> 7) | (s[0] >> 7) << 1]
    assert b"".join((head, r, s_head, s)) == encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))


def test_p521_signatures_take_encode_dss_signature_their_sequence_needs_a_long_form_length() -> None:
    assert der_heads(66) is None
