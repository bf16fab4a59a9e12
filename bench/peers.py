"""Peers, each used the way its documentation recommends, configured to fastauthz's policy
(issuer, audience, expiry required, one algorithm). Each returns verify(token) -> claims, raising
on any refusal. `None` when the library cannot do that algorithm."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Callable
from typing import Any

from bench.cases import AUDIENCE, ISSUER, Case

Verify = Callable[[str], Any]


class JwksServer:
    """A JWKS on 127.0.0.1 for the clients that fetch keys themselves (PyJWKClient)."""

    def __init__(self, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"


def pyjwt_key(case: Case) -> Verify | None:
    import jwt

    key = jwt.PyJWK(case.jwks()["keys"][0]).key

    def verify(token: str) -> Any:
        return jwt.decode(token, key, algorithms=[case.alg], audience=AUDIENCE, issuer=ISSUER,
                          options={"require": ["exp", "iss", "aud", "sub"]})

    return verify


def pyjwt_jwks_client(case: Case, server: JwksServer) -> Verify | None:
    import jwt

    client = jwt.PyJWKClient(server.url)

    def verify(token: str) -> Any:
        signing_key = client.get_signing_key_from_jwt(token)
        return jwt.decode(token, signing_key.key, algorithms=[case.alg], audience=AUDIENCE, issuer=ISSUER,
                          options={"require": ["exp", "iss", "aud", "sub"]})

    return verify


def joserfc_keyset(case: Case) -> Verify | None:
    from joserfc import jwt
    from joserfc.jwk import KeySet

    key_set = KeySet.import_key_set(case.jwks())
    registry = jwt.JWTClaimsRegistry(iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": AUDIENCE},
                                     exp={"essential": True}, sub={"essential": True})

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
    options = {"iss": {"essential": True, "value": ISSUER}, "aud": {"essential": True, "value": AUDIENCE},
               "exp": {"essential": True}, "sub": {"essential": True}}

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
    head, _, signature = token.rpartition(".")
    tampered = f"{head}.{signature[:-6]}{'AAAAAA' if signature[-6:] != 'AAAAAA' else 'BAAAAA'}"
    try:
        verify(token)
    except Exception:
        return False
    try:
        verify(tampered)
    except Exception:
        return True
    return False
