"""Peers, each used the way its documentation recommends, configured to fastauthz's policy
(issuer, audience, expiry required, one algorithm). Each returns verify(token) -> claims, raising
on any refusal. `None` when the library cannot do that algorithm."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.cases import AUDIENCE, ISSUER, Case
from testkit.forgery import tamper
from testkit.server import KeyServer

Verify = Callable[[str], Any]


def pyjwt_key(case: Case) -> Verify | None:
    import jwt

    key = jwt.PyJWK(case.jwks()["keys"][0]).key

    def verify(token: str) -> Any:
        return jwt.decode(
            token, key, algorithms=[case.alg], audience=AUDIENCE, issuer=ISSUER, options={"require": ["exp", "iss", "aud", "sub"]}
        )

    return verify


def pyjwt_jwks_client(case: Case, server: KeyServer) -> Verify | None:
    import jwt

    client = jwt.PyJWKClient(server.url)

    def verify(token: str) -> Any:
        signing_key = client.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            signing_key.key,
            algorithms=[case.alg],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )

    return verify


def joserfc_keyset(case: Case) -> Verify | None:
    from joserfc import jwt
    from joserfc.jwk import KeySet

    key_set = KeySet.import_key_set({"keys": case.jwks()["keys"]})
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": AUDIENCE},
        exp={"essential": True},
        sub={"essential": True},
    )

    def verify(token: str) -> Any:
        decoded = jwt.decode(token, key_set, algorithms=[case.alg])
        registry.validate(decoded.claims)
        return decoded.claims

    return verify


def python_jose(case: Case) -> Verify | None:
    if case.alg == "EdDSA" or case.alg.startswith("PS"):
        return None  # python-jose has neither EdDSA nor PS* keys from a JWKS
    from jose import jwt

    jwks = case.jwks()

    def verify(token: str) -> Any:
        return jwt.decode(token, jwks, algorithms=[case.alg], audience=AUDIENCE, issuer=ISSUER)

    return verify


def authlib_jose(case: Case) -> Verify | None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from authlib.jose import JsonWebKey, JsonWebToken

    key_set = JsonWebKey.import_key_set(case.jwks())
    token_decoder = JsonWebToken([case.alg])
    options = {
        "iss": {"essential": True, "value": ISSUER},
        "aud": {"essential": True, "value": AUDIENCE},
        "exp": {"essential": True},
        "sub": {"essential": True},
    }

    def verify(token: str) -> Any:
        claims = token_decoder.decode(token, key_set, claims_options=options)
        claims.validate()
        return claims

    return verify


PEERS: dict[str, Callable[..., Verify | None]] = {
    "PyJWT (key object)": pyjwt_key,
    "PyJWT (PyJWKClient)": pyjwt_jwks_client,
    "joserfc (KeySet + claims registry)": joserfc_keyset,
    "python-jose": python_jose,
    "authlib.jose": authlib_jose,
}


def accepts_and_refuses(verify: Verify, case: Case) -> bool:
    """Correctness before timing: the valid token passes, a tampered one does not."""
    token = case.tokens[0]
    tampered = tamper(token)
    try:
        verify(token)
    except Exception:
        return False
    try:
        verify(tampered)
    except Exception:
        return True
    return False
