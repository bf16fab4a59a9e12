"""Making tokens, for every tool that needs one: the dev issuer and `fastauthz token`, the tests, the
benchmarks' fixtures and the load test. joserfc generates the keys and signs (the handler never
imports this module, nor joserfc). `tamper` is here because the load test ships it; breaking tokens
otherwise (forge, parts) is testkit/forgery.py's job.

base64url here is lenient on the way in (padding optional) and unpadded on the way out; the handler's
own decoder (fastauthz.token.b64url_decode) is strict, and tests pin it against this one.
"""

from __future__ import annotations

import base64
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey

# alg -> (key type, size or curve) of a key generated for it
ALGORITHM_KEYS: dict[str, tuple[str, Any]] = {
    "RS256": ("RSA", 2048),
    "RS384": ("RSA", 2048),
    "RS512": ("RSA", 2048),
    "PS256": ("RSA", 2048),
    "PS384": ("RSA", 2048),
    "PS512": ("RSA", 2048),
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", "Ed25519"),
    "Ed25519": ("OKP", "Ed25519"),
    "Ed448": ("OKP", "Ed448"),
}
# A key without an `alg` member signs with its family's algorithm (ECDSA: its curve's).
_DEFAULT_ALG = {"RSA": "RS256", "P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "OKP": "EdDSA"}


def generate_key(alg: str, kid: str | None = None, size: int | None = None, declare_alg: bool = False) -> Any:
    """A private key fit for `alg` (RSA: 2048 bits unless `size`), with `use: sig`, the kid given and,
    if `declare_alg`, the JWK's optional `alg` member."""
    kind, default = ALGORITHM_KEYS[alg]
    members: Any = {"use": "sig", **({"kid": kid} if kid else {}), **({"alg": alg} if declare_alg else {})}
    if kind == "RSA":
        return RSAKey.generate_key(size or int(default), parameters=members)
    if kind == "EC":
        return ECKey.generate_key(default, parameters=members)
    return OKPKey.generate_key(default, parameters=members)


def signing_alg(key: Any) -> str:
    """The key's own `alg`, else its family's."""
    declared = key.get("alg")
    if declared:
        return str(declared)
    return _DEFAULT_ALG[key.get("crv") if key.key_type == "EC" else key.key_type]


def sign(key: Any, payload: dict[str, Any], alg: str | None = None, **header: Any) -> str:
    """A correctly signed compact JWS. The header is `alg`, the key's `kid` and `header`; a member
    given as None is left out (`kid=None` signs without one)."""
    alg = alg or signing_alg(key)
    members = {"alg": alg, "kid": getattr(key, "kid", None), **header}
    return str(jwt.encode({k: v for k, v in members.items() if v is not None}, payload, key, algorithms=[alg]))


def tamper(token: str) -> str:
    """Same header and payload, a signature that does not verify (still canonical base64url)."""
    head, _, signature = token.rpartition(".")
    return f"{head}.{signature[:-8]}{'A' * 8 if signature[-8:] != 'A' * 8 else 'B' + 'A' * 7}"


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
