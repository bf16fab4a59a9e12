from __future__ import annotations

import pytest

from fastauthz.dev.tokens import b64url
from fastauthz.errors import Rejected
from fastauthz.token import HeaderCache, b64url_decode, decode_signature
from testkit.forgery import forge, parts
from testkit.tokens import mint, parse_token


def reason_of(token: str, max_bytes: int = 8192) -> str:
    with pytest.raises(Rejected) as caught:
        parse_token(token, max_bytes)
    return caught.value.reason


def test_a_minted_token_parses_into_header_payload_signing_input_and_signature() -> None:
    token = mint("rsa-1")
    parsed = parse_token(token, 8192)
    header, payload, signature = parts(token)
    assert parsed.header == header and parsed.payload == payload and parsed.signature == signature
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode()
    assert parsed.alg == "RS256" and parsed.kid == "rsa-1"


def test_size_cap_is_checked_before_any_decoding() -> None:
    assert reason_of("x" * 9000) == "token_too_large"
    assert reason_of(mint("rsa-1"), max_bytes=300) == "token_too_large"


@pytest.mark.parametrize("token", ["", "abc", "a.b", "a.b.c.d", "a.b.c.d.e", "..", "é.b.c"])
def test_anything_but_three_base64url_segments_is_malformed(token: str) -> None:
    assert reason_of(token) == "malformed"


def test_padding_and_standard_base64_characters_are_refused() -> None:
    token = mint("rsa-1")
    h, p, s = token.split(".")
    assert reason_of(f"{h}=.{p}.{s}") == "malformed"
    assert reason_of(f"{h}.{p}+.{s}") == "malformed"
    with pytest.raises(Rejected) as caught:
        decode_signature(f"{s[:-4]}/{s[-3:]}".encode())  # the signature is decoded after the cheap checks
    assert caught.value.reason == "malformed"


def test_non_canonical_last_character_is_refused_so_a_flipped_bit_cannot_hide() -> None:
    header = b64url(b'{"alg":"RS256"}')  # 15 bytes -> 20 chars, canonical
    payload = b64url(b'{"a":1}')  # 7 bytes -> 10 chars: last char carries 4 unused bits
    assert len(payload) % 4 == 2
    parse_token(f"{header}.{payload}.", 8192)
    tweaked = payload[:-1] + chr(ord(payload[-1]) + 1)
    assert b64url_decode(payload.encode()) == b'{"a":1}'
    assert reason_of(f"{header}.{tweaked}.") == "malformed"


@pytest.mark.parametrize("header", [b"[1]", b'"alg"', b"null", b"{", b'{"alg":"RS256",}'])
def test_header_that_is_not_a_json_object_is_malformed(header: bytes) -> None:
    assert reason_of(f"{b64url(header)}.{b64url(b'{}')}.") == "malformed"


def test_payload_that_is_not_a_json_object_is_malformed() -> None:
    assert reason_of(forge({"alg": "RS256"}, [1, 2])) == "malformed"


@pytest.mark.parametrize("alg", [None, 1, ["RS256"], {"x": 1}])
def test_alg_must_be_a_string(alg: object) -> None:
    assert reason_of(forge({"alg": alg}, {})) == "malformed"


@pytest.mark.parametrize("kid", [1, ["a"], {"a": 1}, "k" * 257])
def test_kid_must_be_a_short_string(kid: object) -> None:
    assert reason_of(forge({"alg": "RS256", "kid": kid}, {})) == "malformed"


def test_any_crit_header_is_refused_because_none_is_understood() -> None:
    assert reason_of(forge({"alg": "RS256", "crit": ["exp"], "exp": 1}, {})) == "unsupported_crit"
    assert reason_of(forge({"alg": "RS256", "crit": []}, {})) == "unsupported_crit"


def test_unencoded_payload_option_b64_is_refused() -> None:
    assert reason_of(forge({"alg": "RS256", "b64": False}, {})) == "unsupported_crit"


def test_nan_and_infinite_numbers_are_not_json() -> None:
    header = b64url(b'{"alg":"RS256"}')
    for payload in (b'{"exp":NaN}', b'{"exp":1e400}', b'{"exp":Infinity}'):
        assert reason_of(header + "." + b64url(payload) + ".") == "malformed"


def test_deeply_nested_payload_is_malformed_not_a_crash() -> None:
    header = b64url(b'{"alg":"RS256"}')
    nested = b'{"a":' * 2000 + b"1" + b"}" * 2000
    assert reason_of(f"{header}.{b64url(nested)}.", max_bytes=65536) == "malformed"


def test_an_alg_outside_the_allow_list_is_refused_before_the_payload_is_decoded() -> None:
    token = b64url(b'{"alg":"none"}') + ".!!not-even-base64!!."
    with pytest.raises(Rejected) as caught:
        parse_token(token, 8192, frozenset({"RS256"}))
    assert caught.value.reason == "alg_not_allowed"
    assert reason_of(token) == "malformed"  # without an allow-list the payload is decoded (and fails)


def test_the_header_cache_remembers_checked_headers_by_their_exact_segment() -> None:
    cache = HeaderCache(frozenset({"RS256"}))
    header, _, _ = parts(mint("rsa-1"))
    segment = mint("rsa-1").split(".")[0].encode()
    assert cache.parse(segment) == (header, "RS256", "rsa-1")
    assert cache.entries[segment] == (header, "RS256", "rsa-1")


def test_the_header_cache_remembers_refusals_and_raises_them_again() -> None:
    cache = HeaderCache(frozenset({"RS256"}))
    for segment, reason in (
        (b64url(b'{"alg":"none"}').encode(), "alg_not_allowed"),
        (b"e30=", "malformed"),
        (b64url(b'{"alg":"RS256","crit":["x"]}').encode(), "unsupported_crit"),
    ):
        for _ in range(2):
            with pytest.raises(Rejected) as caught:
                cache.parse(segment)
            assert caught.value.reason == reason
        assert cache.refused[segment][0] == reason and segment not in cache.entries


def test_the_header_cache_is_bounded_however_many_distinct_headers_arrive() -> None:
    cache = HeaderCache(frozenset({"RS256"}), size=8)
    for index in range(100):
        cache.parse(b64url(b'{"alg":"RS256","kid":"k%d"}' % index).encode())
        with pytest.raises(Rejected):
            cache.parse(b64url(b'{"alg":"none","kid":"k%d"}' % index).encode())
    assert len(cache.entries) <= 8 and len(cache.refused) <= 8
