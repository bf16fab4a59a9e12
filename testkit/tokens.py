"""The tests' issuer, audience and fixed clock; claims and correctly signed tokens (joserfc, the
oracle, signs through fastauthz.dev.tokens)."""

from __future__ import annotations

import json
import time
from typing import Any, NamedTuple

from joserfc.jwk import OctKey

from fastauthz.dev.tokens import b64url, sign
from fastauthz.token import HeaderCache, decode_payload, decode_signature, split_token

from .keys import key

ISSUER = "https://issuer.test"
AUDIENCE = "client-abc"
NOW = 1_800_000_000  # a fixed clock for unit tests: 2027-01-15
LIVE = int(time.time())  # the real clock at the session's start, for tests through fastauthz.handler (its own clock)


def claims(**overrides: Any) -> dict[str, Any]:
    """Claims the test issuer would issue at NOW; an override of None leaves the claim out."""
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "iat": NOW - 10,
        "exp": NOW + 3600,
        "scope": "chat:read chat:write",
        "email": "ada@example.com",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def live_claims(**overrides: Any) -> dict[str, Any]:
    """claims() issued now, valid for ten minutes on the real clock."""
    return claims(**{"iat": LIVE - 10, "exp": LIVE + 600, **overrides})


def mint(key_name: str = "rsa-1", payload: dict[str, Any] | None = None, alg: str | None = None, **header: Any) -> str:
    """A token signed by the named key (claims() unless `payload`); header members as `sign` takes them."""
    return sign(key(key_name), claims() if payload is None else payload, alg=alg, **header)


def mint_hmac(secret: str, payload: dict[str, Any] | None = None, alg: str = "HS256") -> str:
    return sign(OctKey.import_key(secret), claims() if payload is None else payload, alg=alg)


def sign_rs256(key_name: str, header: dict[str, Any], payload: dict[str, Any] | bytes) -> str:
    """A correctly RS256-signed token with any header at all (joserfc refuses headers it does not know)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(body)}"
    signature = key(key_name).private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


class UnverifiedToken(NamedTuple):
    """A token not yet checked, as the authorizer's steps leave it (tests' view of them)."""

    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature_segment: bytes

    @property
    def signature(self) -> bytes:
        return decode_signature(self.signature_segment)

    @property
    def alg(self) -> str:
        return self.header["alg"]  # type: ignore[no-any-return]

    @property
    def kid(self) -> str | None:
        return self.header.get("kid")


def parse_token(token: str, max_bytes: int, algorithms: frozenset[str] | None = None) -> UnverifiedToken:
    """The authorizer's parsing steps chained (fastauthz.token: split_token, HeaderCache on a miss,
    decode_payload): header and payload decoded, the signature left encoded. Raises Rejected."""
    raw, header_segment, payload_segment, signature_segment = split_token(token, max_bytes)
    header = HeaderCache(algorithms).parse(header_segment)[0]
    payload = decode_payload(payload_segment)
    return UnverifiedToken(header, payload, raw[: len(header_segment) + 1 + len(payload_segment)], signature_segment)
