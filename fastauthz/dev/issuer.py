"""A development identity provider on 127.0.0.1: signing keys, a JWKS endpoint, token minting,
key rotation on command. Built on joserfc (tooling only; the handler never imports it)."""

from __future__ import annotations

import http.server
import threading
import time
import uuid
from typing import Any

import orjson
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OKPKey, RSAKey

ALGORITHM_KEYS: dict[str, tuple[str, Any]] = {
    "RS256": ("RSA", 2048), "RS384": ("RSA", 2048), "RS512": ("RSA", 2048),
    "PS256": ("RSA", 2048), "PS384": ("RSA", 2048), "PS512": ("RSA", 2048),
    "ES256": ("EC", "P-256"), "ES384": ("EC", "P-384"), "ES512": ("EC", "P-521"),
    "EdDSA": ("OKP", "Ed25519"), "Ed25519": ("OKP", "Ed25519"), "Ed448": ("OKP", "Ed448"),
}


def generate_key(alg: str, kid: str | None = None) -> Any:
    kind, size = ALGORITHM_KEYS[alg]
    parameters: Any = {"kid": kid or f"dev-{alg.lower()}-{uuid.uuid4().hex[:8]}", "use": "sig", "alg": alg}
    if kind == "RSA":
        return RSAKey.generate_key(int(size), parameters=parameters)
    if kind == "EC":
        return ECKey.generate_key(str(size), parameters=parameters)
    return OKPKey.generate_key(size, parameters=parameters)


class DevIssuer:
    """Keys and a JWKS endpoint. `current` signs; `rotate()` publishes a new key and retires the old."""

    def __init__(self, audience: str = "fastauthz-demo", alg: str = "RS256", host: str = "127.0.0.1", port: int = 0,
                 max_age: int = 300) -> None:
        self.audience = audience
        self.alg = alg
        self.max_age = max_age
        self.keys: list[Any] = [generate_key(alg)]
        self.fetches = 0
        self.available = True  # False: the JWKS endpoint answers 503 (an IdP outage)
        self._lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- identity --------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def jwks_uri(self) -> str:
        return self.base_url + "/.well-known/jwks.json"

    @property
    def current(self) -> Any:
        return self.keys[-1]

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return dict(KeySet(list(self.keys)).as_dict(private=False))

    def rotate(self, alg: str | None = None, keep_old: bool = False) -> str:
        """Publish a new signing key; unless keep_old, the previous one leaves the key set. Returns the new kid."""
        new = generate_key(alg or self.alg)
        with self._lock:
            self.keys = ([*self.keys] if keep_old else []) + [new]
        return str(new.kid)

    def mint(self, sub: str = "dev-user", aud: str | list[str] | None = None, ttl: float = 300, alg: str | None = None,
             key: Any = None, now: float | None = None, **extra: Any) -> str:
        """A signed token. ttl may be negative (already expired)."""
        signing_key = key or self.current
        algorithm = alg or signing_key.get("alg") or self.alg
        issued = int(time.time() if now is None else now)
        payload = {"iss": self.issuer, "sub": sub, "aud": self.audience if aud is None else aud,
                   "iat": issued, "exp": int(issued + ttl), "jti": uuid.uuid4().hex, **extra}
        header = {"alg": algorithm, "kid": signing_key.kid, "typ": "JWT"}
        return jwt.encode(header, payload, signing_key, algorithms=[algorithm])

    def environment(self) -> dict[str, str]:
        """The handler's environment for this issuer."""
        return {"JWT_ISSUER_JWKS_URI": self.jwks_uri, "JWT_ISSUER": self.issuer, "JWT_AUTHORIZED_AUDIENCES": self.audience}

    # -- server ----------------------------------------------------------------------------------
    def start(self) -> DevIssuer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="dev-issuer", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> DevIssuer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; without TCP_NODELAY the second waits ~40 ms
            # for the client's delayed ACK (Nagle), which would look like a slow key source.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/.well-known/jwks.json":
                    self._send(404, b'{"error":"not found"}')
                    return
                issuer.fetches += 1
                if not issuer.available:
                    self._send(503, b'{"error":"unavailable"}')
                    return
                self._send(200, orjson.dumps(issuer.jwks()), {"Cache-Control": f"public, max-age={issuer.max_age}"})

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler
