"""fastauthz.dev.tokens: the one place tooling, tests, benchmarks and the load test make and break tokens."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from fastauthz import token as strict
from fastauthz.dev.tokens import ALGORITHM_KEYS, b64url, b64url_decode, generate_key, sign, signing_alg
from testkit.forgery import forge, parts, tamper


@pytest.mark.parametrize("alg", sorted(ALGORITHM_KEYS))
def test_a_generated_key_signs_what_joserfc_verifies(alg: str) -> None:
    key = generate_key(alg, kid=f"k-{alg}")
    token = sign(key, {"sub": "ada"}, alg=None if alg in ("Ed25519", "Ed448") else alg)
    header, claims, _ = parts(token)
    assert header["kid"] == f"k-{alg}" and claims == {"sub": "ada"}
    assert jwt.decode(token, KeySet([key]), algorithms=[header["alg"]]).claims == {"sub": "ada"}


@pytest.mark.parametrize(
    ("alg", "expected"),
    [("RS256", "RS256"), ("PS256", "RS256"), ("ES256", "ES256"), ("ES384", "ES384"), ("ES512", "ES512"), ("EdDSA", "EdDSA")],
)
def test_a_key_without_alg_signs_with_its_familys(alg: str, expected: str) -> None:
    assert signing_alg(generate_key(alg)) == expected
    assert signing_alg(generate_key(alg, declare_alg=True)) == alg


def test_header_members_given_as_none_are_left_out() -> None:
    header, _, _ = parts(sign(generate_key("ES256", kid="k"), {}, kid=None, typ="JWT"))
    assert header == {"alg": "ES256", "typ": "JWT"}


def test_tampering_keeps_the_signature_canonical_and_the_length() -> None:
    for token in ("a.b.QUJDREVGR0hJSktMTU5PUA", "a.b.AAAAAAAAAAAA"):
        tampered = tamper(token)
        assert tampered != token and len(tampered) == len(token) and tampered.rsplit(".", 1)[0] == "a.b"
        assert b64url(b64url_decode(tampered.rsplit(".", 1)[1])) == tampered.rsplit(".", 1)[1]


def test_a_tampered_token_no_longer_verifies() -> None:
    key = generate_key("ES256", kid="k")
    with pytest.raises(BadSignatureError):
        jwt.decode(tamper(sign(key, {"sub": "ada"})), KeySet([key]), algorithms=["ES256"])


def test_forge_and_parts_round_trip() -> None:
    token = forge({"alg": "none"}, {"sub": "x"}, b"\x00\xff")
    assert parts(token) == ({"alg": "none"}, {"sub": "x"}, b"\x00\xff")
    assert forge(b"raw", b"bytes").split(".")[:2] == [b64url(b"raw"), b64url(b"bytes")]


@given(st.binary(max_size=200))
def test_the_lenient_and_the_strict_decoders_agree_on_unpadded_base64url(data: bytes) -> None:
    encoded = b64url(data)
    assert "=" not in encoded
    assert b64url_decode(encoded) == data == strict.b64url_decode(encoded.encode())
    assert b64url_decode(encoded + "=" * (-len(encoded) % 4)) == data  # tooling also takes padding
