"""Known answers from the RFCs (tests/vectors/rfc_jws.json), through fastauthz's own parser and keys.

Every other test token is minted by joserfc, which is also the differential oracle: a misreading both
shared would go unseen. These signatures were computed by the RFCs' authors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fastauthz.claims import ClaimRules, check_claims
from fastauthz.config import load_settings
from fastauthz.dev.tokens import b64url_decode
from fastauthz.errors import Rejected
from fastauthz.keys import PreparedKey, hmac_key, load_key_set
from fastauthz.token import HeaderCache, decode_payload, decode_signature, split_token

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "rfc_jws.json").read_text())["vectors"]
ISSUED_FOR = 1300819380 - 60  # RFC 7515's example expires at 1300819380 (2011): a clock pinned before it


def key_of(vector: dict[str, Any]) -> PreparedKey:
    jwk = vector["key"]
    if jwk["kty"] == "oct":
        return hmac_key(b64url_decode(jwk["k"]))
    found = load_key_set({"keys": [jwk]}).find(jwk.get("kid"))
    assert found is not None
    return found


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["source"])
def test_the_rfcs_signature_verifies_through_our_parser_and_key(vector: dict[str, Any]) -> None:
    raw, header_segment, payload_segment, signature_segment = split_token(vector["token"], 8192)
    _, alg, kid = HeaderCache(frozenset({vector["alg"]})).parse(header_segment)
    assert alg == vector["alg"] and kid == vector["key"].get("kid")
    verify = key_of(vector).verifiers[alg]
    signing_input = raw[: len(header_segment) + 1 + len(payload_segment)]
    verify(decode_signature(signature_segment), signing_input)  # raises if the RFC's signature does not hold


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["source"])
def test_any_changed_bit_breaks_it(vector: dict[str, Any]) -> None:
    raw, header_segment, payload_segment, signature_segment = split_token(vector["token"], 8192)
    signature = bytearray(decode_signature(signature_segment))
    signature[len(signature) // 2] ^= 0x01
    verify = key_of(vector).verifiers[vector["alg"]]
    with pytest.raises(Exception):
        verify(bytes(signature), raw[: len(header_segment) + 1 + len(payload_segment)])
    with pytest.raises(Exception):
        verify(decode_signature(signature_segment), raw[: len(header_segment) + len(payload_segment)] + b"x")


@pytest.mark.parametrize("vector", [v for v in VECTORS if v["claims"] is not None], ids=lambda v: v["source"])
def test_rfc7515_claims_decode_and_check_on_a_pinned_clock(vector: dict[str, Any]) -> None:
    _, _, payload_segment, _ = split_token(vector["token"], 8192)
    claims = decode_payload(payload_segment)
    assert claims == vector["claims"]
    settings = load_settings({"JWT_ISSUER": "joe", "JWT_ISSUER_JWKS_URI": "file:///unused.json", "JWT_VERIFY_AUDIENCE": "false"})
    rules = ClaimRules(settings.issuers[0], verify_expiration=True, leeway=0)
    with pytest.raises(Rejected) as refused:  # the example has no `sub`, which fastauthz requires
        check_claims(claims, rules, ISSUED_FOR)
    assert refused.value.reason == "missing_sub"
    with pytest.raises(Rejected) as expired:
        check_claims(claims, rules, 1300819380)  # RFC 7519 4.1.4: at exp it has expired
    assert expired.value.reason == "expired"


@pytest.mark.parametrize("vector", [v for v in VECTORS if v["claims"] is None], ids=lambda v: v["source"])
def test_rfc7520s_text_payload_is_not_a_claims_set(vector: dict[str, Any]) -> None:
    _, _, payload_segment, _ = split_token(vector["token"], 8192)
    with pytest.raises(Rejected) as refused:
        decode_payload(payload_segment)
    assert refused.value.reason == "malformed"
