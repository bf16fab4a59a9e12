from __future__ import annotations

import datetime
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from fastauthz.errors import KeySetError
from fastauthz.keys import KeySet, PreparedKey, load_key_set, prepare_jwk
from testkit.keys import jwks, key
from testkit.tokens import mint, parse_token


def found(key_set: KeySet, kid: str) -> PreparedKey:
    key = key_set.find(kid)
    assert key is not None, kid
    return key


def verify(token: str, key_set: KeySet) -> None:
    parsed = parse_token(token, 8192)
    found = key_set.find(parsed.kid)
    assert found is not None
    found.verifiers[parsed.alg](parsed.signature, parsed.signing_input)


@pytest.mark.parametrize("name", ["rsa-1", "es256-1", "es384-1", "es512-1", "ed25519-1", "ed448-1"])
def test_each_key_type_verifies_a_token_signed_by_its_private_key(name: str) -> None:
    key_set = load_key_set(jwks(name))
    verify(mint(name), key_set)


def test_rsa_keys_verify_every_rs_and_ps_variant() -> None:
    key_set = load_key_set(jwks("rsa-1"))
    for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"):
        verify(mint("rsa-1", alg=alg), key_set)


def test_a_key_offers_only_the_algorithms_its_type_fits() -> None:
    assert set(found(load_key_set(jwks("es256-1")), "es256-1").verifiers) == {"ES256"}
    assert set(found(load_key_set(jwks("ed25519-1")), "ed25519-1").verifiers) == {"EdDSA", "Ed25519"}
    assert "ES256" not in found(load_key_set(jwks("rsa-1")), "rsa-1").verifiers


def test_a_jwk_alg_pins_the_key_to_that_algorithm() -> None:
    document = jwks("rsa-1")
    document["keys"][0]["alg"] = "PS256"
    assert set(found(load_key_set(document), "rsa-1").verifiers) == {"PS256"}


def test_a_jwk_alg_that_does_not_fit_the_key_type_makes_the_key_unusable() -> None:
    jwk = jwks("es256-1")["keys"][0] | {"alg": "RS256"}
    with pytest.raises(ValueError):
        prepare_jwk(jwk)


@pytest.mark.parametrize("change", [{"use": "enc"}, {"key_ops": ["encrypt"]}, {"kty": "oct"}, {"kid": 7}, {"n": "!!"}])
def test_unusable_keys_are_skipped_and_reported(change: dict[str, Any]) -> None:
    document = jwks("rsa-1", "es256-1")
    document["keys"][0].update(change)
    key_set = load_key_set(document)
    assert len(key_set) == 1 and key_set.find("es256-1") is not None
    assert len(key_set.skipped) == 1


def test_rsa_keys_under_2048_bits_are_skipped() -> None:
    with pytest.raises(KeySetError, match="1024 bits"):
        load_key_set(jwks("rsa1024-1"))


def test_a_set_with_no_usable_key_is_an_error_not_an_empty_set() -> None:
    with pytest.raises(KeySetError):
        load_key_set({"keys": []})


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"keys": {}}', b'{"a": "b"}', b"null"])
def test_documents_that_are_neither_jwks_nor_certificate_map_are_refused(body: bytes) -> None:
    with pytest.raises(KeySetError):
        load_key_set(body)


def test_private_key_material_in_a_public_set_is_refused() -> None:
    private = key("rsa-1").as_dict(private=True)
    with pytest.raises(KeySetError):
        load_key_set({"keys": [private]})


def _certificate_pem(private_key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system.gserviceaccount.com")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(private_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_google_x509_certificate_map_is_recognised_by_its_content() -> None:
    private = key("rsa-1").private_key
    key_set = load_key_set({"rsa-1": _certificate_pem(private), "other": _certificate_pem(rsa.generate_private_key(65537, 2048))})
    assert len(key_set) == 2
    verify(mint("rsa-1"), key_set)


def test_a_token_without_kid_uses_the_only_key_of_a_one_key_set() -> None:
    assert load_key_set(jwks("rsa-1")).find(None) is not None
    assert load_key_set(jwks("rsa-1", "es256-1")).find(None) is None


@pytest.mark.parametrize(("name", "size"), [("es256-1", 32), ("es384-1", 48), ("es512-1", 66)])
def test_ecdsa_signatures_verify_whatever_their_scalars_first_bytes(name: str, size: int) -> None:
    # The verifier builds the DER by table when both scalars' first bytes are nonzero, and through
    # encode_dss_signature otherwise: real signatures of each shape, and each one tampered.
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    private = key(name).private_key
    alg = {32: "ES256", 48: "ES384", 66: "ES512"}[size]
    digest = {32: hashes.SHA256(), 48: hashes.SHA384(), 66: hashes.SHA512()}[size]
    verify_with = found(load_key_set(jwks(name)), name).verifiers[alg]
    wanted = {"zero r", "zero s", "high r", "high s", "plain"}
    seen: dict[str, tuple[bytes, bytes]] = {}
    for index in range(40_000):
        data = f"message {index}".encode()
        r, s = decode_dss_signature(private.sign(data, ec.ECDSA(digest)))
        signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        shape = (
            "zero r"
            if signature[0] == 0
            else "zero s"
            if signature[size] == 0
            else "high r"
            if signature[0] & 0x80
            else "high s"
            if signature[size] & 0x80
            else "plain"
        )
        seen.setdefault(shape, (signature, data))
        if wanted <= seen.keys() or (size == 66 and {"zero r", "zero s", "plain"} <= seen.keys()):
            break
    assert {"zero r", "zero s", "plain"} <= seen.keys()  # P-521 scalars never have their top bit set
    for signature, data in seen.values():
        verify_with(signature, data)
        with pytest.raises(InvalidSignature):
            verify_with(signature, data + b"!")
        with pytest.raises(InvalidSignature):
            verify_with(signature[:-1] + bytes((signature[-1] ^ 1,)), data)
