"""One test per attack class or advisory, each asserting the exact reason code."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from fastauthz.authorizer import Authorizer
from fastauthz.dev.tokens import b64url, generate_key, sign
from testkit.authorizers import Clock, Logs, make_authorizer, outcome
from testkit.events import connect_event
from testkit.forgery import forge, parts
from testkit.keys import key, write_jwks
from testkit.server import KeyServer
from testkit.tokens import NOW, claims, mint, sign_rs256


@pytest.fixture
def logs() -> Logs:
    return Logs()


@pytest.fixture
def authorizer(tmp_path: Path, logs: Logs) -> Authorizer:
    return make_authorizer(write_jwks(tmp_path, "rsa-1", "es256-1", "ed25519-1"), logs=logs)


def refused(authorizer: Authorizer, token: str, where: str = "header") -> str:
    verdict, reason = outcome(authorizer, connect_event(token, where))
    assert verdict == "unauthorized", (verdict, reason)
    return str(reason)


def resign_hs256(secret: bytes, header: dict[str, Any], payload: dict[str, Any]) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_refused(authorizer: Authorizer, alg: str) -> None:
    assert refused(authorizer, forge({"alg": alg, "kid": "rsa-1"}, claims())) == "alg_not_allowed"


def test_hs256_rs256_key_confusion_with_the_public_key_as_secret_is_refused(authorizer: Authorizer) -> None:
    public_pem = key("rsa-1").public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    token = resign_hs256(public_pem, {"alg": "HS256", "kid": "rsa-1"}, claims())
    assert refused(authorizer, token) == "alg_not_allowed"


def test_key_confusion_is_refused_even_when_hmac_is_enabled_with_a_real_secret(tmp_path: Path) -> None:
    enabled = make_authorizer(write_jwks(tmp_path, "rsa-1"), logs=Logs(), JWT_HMAC_SECRET="k" * 32)
    public_pem = key("rsa-1").public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert refused(enabled, resign_hs256(public_pem, {"alg": "HS256", "kid": "rsa-1"}, claims())) == "bad_signature"


@pytest.mark.parametrize("value", ["zero", "order"])
def test_ecdsa_psychic_signature_cve_2022_21449_is_refused(authorizer: Authorizer, value: str) -> None:
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256 group order
    number = 0 if value == "zero" else order
    signature = number.to_bytes(32, "big") * 2
    assert refused(authorizer, forge({"alg": "ES256", "kid": "es256-1"}, claims(), signature)) == "bad_signature"


def test_embedded_jwk_cve_2018_0114_is_never_used(authorizer: Authorizer) -> None:
    attacker = generate_key("RS256", kid="rsa-1")  # the victim's kid, the attacker's key
    token = sign(attacker, claims(), jwk=attacker.as_dict(private=False))
    assert refused(authorizer, token) == "bad_signature"


@pytest.mark.parametrize("parameter", ["jku", "x5u"])
def test_jku_and_x5u_headers_are_never_fetched(authorizer: Authorizer, parameter: str) -> None:
    attacker = generate_key("RS256", kid="rsa-1")  # the victim's kid, the attacker's key
    server = KeyServer({"keys": [attacker.as_dict(private=False)]})
    try:
        token = sign(attacker, claims(), **{parameter: server.url})
        assert refused(authorizer, token) == "bad_signature"
        assert server.requests == 0
    finally:
        server.close()


def test_x5c_certificate_chain_in_the_header_is_never_used(authorizer: Authorizer) -> None:
    attacker = generate_key("RS256", kid="rsa-1")  # the victim's kid, the attacker's key
    token = sign(attacker, claims(), x5c=["MIIB..."])
    assert refused(authorizer, token) == "bad_signature"


@pytest.mark.parametrize("kid", ["../../../../dev/null", "' OR '1'='1", "rsa-1\x00", "rsa-1 ", "RSA-1", "*", "file:///etc/passwd"])
def test_kid_path_traversal_and_injection_find_no_key(authorizer: Authorizer, kid: str) -> None:
    assert refused(authorizer, mint("rsa-1", kid=kid)) == "unknown_kid"


def test_stripped_signature_is_refused(authorizer: Authorizer) -> None:
    token = mint("rsa-1")
    assert refused(authorizer, token.rsplit(".", 1)[0] + ".") == "bad_signature"


def test_signature_from_another_token_is_refused(authorizer: Authorizer) -> None:
    mine, other = mint("rsa-1"), mint("rsa-1", claims(sub="admin"))
    assert refused(authorizer, other.rsplit(".", 1)[0] + "." + mine.rsplit(".", 1)[1]) == "bad_signature"


def test_payload_swap_between_two_valid_tokens_is_refused(authorizer: Authorizer) -> None:
    victim, attacker = mint("rsa-1", claims(sub="victim")), mint("rsa-1", claims(sub="attacker"))
    h, _, s = attacker.split(".")
    assert refused(authorizer, f"{h}.{victim.split('.')[1]}.{s}") == "bad_signature"


def test_token_signed_by_another_of_our_keys_under_a_different_kid_is_refused(authorizer: Authorizer) -> None:
    token = mint("ed25519-1", kid="es256-1", alg="EdDSA")
    assert refused(authorizer, token) == "alg_key_mismatch"
    es_token = mint("es256-1")
    header, payload, signature = parts(es_token)
    assert refused(authorizer, forge(dict(header, kid="rsa-1", alg="RS256"), payload, signature)) == "bad_signature"


def test_crit_header_is_refused(authorizer: Authorizer) -> None:
    header = {"alg": "RS256", "kid": "rsa-1", "crit": ["http://example.com/ext"], "http://example.com/ext": True}
    assert refused(authorizer, sign_rs256("rsa-1", header, claims())) == "unsupported_crit"


def test_b64_false_unencoded_payload_is_refused(authorizer: Authorizer) -> None:
    header = {"alg": "RS256", "kid": "rsa-1", "b64": False, "crit": ["b64"]}
    assert refused(authorizer, sign_rs256("rsa-1", header, claims())) == "unsupported_crit"
    assert refused(authorizer, sign_rs256("rsa-1", {"alg": "RS256", "kid": "rsa-1", "b64": False}, claims())) == "unsupported_crit"


def test_oversized_header_value_is_refused_before_decoding(authorizer: Authorizer) -> None:
    assert refused(authorizer, "eyJ" + "A" * 1_000_000 + ".e30.") == "token_too_large"


def test_deeply_nested_payload_is_refused_cleanly(tmp_path: Path) -> None:
    roomy = make_authorizer(write_jwks(tmp_path, "rsa-1"), logs=Logs(), JWT_MAX_TOKEN_BYTES="65536")
    nested = b'{"a":' * 5000 + b"1" + b"}" * 5000
    assert refused(roomy, b64url(b'{"alg":"RS256"}') + "." + b64url(nested) + ".") == "malformed"


def test_nan_in_the_payload_is_refused(authorizer: Authorizer) -> None:
    assert refused(authorizer, b64url(b'{"alg":"RS256","kid":"rsa-1"}') + "." + b64url(b'{"exp":NaN}') + ".") == "malformed"


@pytest.mark.parametrize(
    ("claim", "value", "reason"),
    [
        ("exp", True, "bad_claim_type"),
        ("exp", "9999999999", "bad_claim_type"),
        ("exp", None, "missing_exp"),
        ("aud", 42, "bad_claim_type"),
        ("aud", {"aud": "client-abc"}, "bad_claim_type"),
        ("nbf", "0", "bad_claim_type"),
    ],
)
def test_wrong_claim_types_are_refused_even_with_a_valid_signature(authorizer: Authorizer, claim: str, value: object, reason: str) -> None:
    assert refused(authorizer, mint("rsa-1", claims(**{claim: value}))) == reason


@pytest.mark.parametrize("kid", [7, ["rsa-1"], {"kid": "rsa-1"}])
def test_kid_of_the_wrong_type_is_malformed(authorizer: Authorizer, kid: object) -> None:
    header, payload, signature = parts(mint("rsa-1"))
    assert refused(authorizer, forge(dict(header, kid=kid), payload, signature)) == "malformed"


def test_encrypted_jwe_tokens_are_refused(authorizer: Authorizer) -> None:
    assert refused(authorizer, "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d") == "malformed"


def test_homoglyph_issuer_is_refused(authorizer: Authorizer) -> None:
    assert refused(authorizer, mint("rsa-1", claims(iss="https://issuer.tеst"))) == "bad_issuer"


def test_replayed_forgery_is_refused_from_the_negative_cache_without_crypto(authorizer: Authorizer) -> None:
    forged = mint("rsa-1")[:-4] + "AAAA"
    assert refused(authorizer, forged) == "bad_signature"
    verifies = authorizer.metrics.verify_ticket
    assert refused(authorizer, forged) == "bad_signature"
    assert authorizer.metrics.verify_ticket == verifies  # no signature check the second time


def test_a_cached_token_is_not_served_past_its_exp(tmp_path: Path) -> None:
    clock = Clock()
    cached = make_authorizer(write_jwks(tmp_path, "rsa-1"), clock=clock, logs=Logs(), JWT_LEEWAY_SECONDS="0")
    token = mint("rsa-1", claims(exp=NOW + 60))
    assert outcome(cached, connect_event(token))[0] == "allow"
    clock.advance(60)
    assert refused(cached, token) == "expired"


def test_token_in_a_query_string_with_url_special_characters_is_refused_cleanly(authorizer: Authorizer) -> None:
    assert refused(authorizer, mint("rsa-1") + "%00", "query") == "malformed"


def test_no_token_anywhere_is_missing_token(authorizer: Authorizer) -> None:
    assert outcome(authorizer, connect_event())[1] == "missing_token"


def test_logs_never_contain_the_token_or_its_signature(authorizer: Authorizer, logs: Logs) -> None:
    token = mint("rsa-1", claims(aud="wrong"))
    refused(authorizer, token)
    text = logs.text()
    assert token not in text and token.split(".")[2] not in text and token.split(".")[1] not in text
