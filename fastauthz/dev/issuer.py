"""A development identity provider on 127.0.0.1: signing keys, a JWKS endpoint (and Google's x509
certificate map), token minting, key rotation and outages on command. Built on joserfc (tooling
only; the handler never imports it).

Endpoints:  GET  /.well-known/jwks.json          RFC 7517 key set (Cache-Control: max-age)
            GET  /.well-known/openid-configuration
            GET  /x509                            {kid: PEM certificate} for the RSA keys
            POST /control/rotate[?step=...]       publish a new key and retire the old one at once, or
                                                  in steps as IdPs do: publish (in the JWKS, not yet
                                                  signing), activate (signs), retire (old ones leave)
            POST /control/outage?down=1|0         answer 503 to key requests (an IdP outage)
With a state directory, keys persist in <dir>/issuer.json so `fastauthz token` in another process
mints with the keys the running issuer serves.
"""

from __future__ import annotations

import datetime
import http.server
import json
import os
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import orjson
from joserfc.jwk import KeySet, RSAKey

from .tokens import generate_key, sign

DEFAULT_PORT = 8766
STATE_FILE = "issuer.json"


def new_key(alg: str) -> Any:
    return generate_key(alg, kid=f"dev-{alg.lower()}-{uuid.uuid4().hex[:8]}", declare_alg=True)


def certificate_pem(key: Any) -> str:
    """A self-signed certificate for an RSA key, as in Google's securetoken x509 map."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fastauthz-dev-issuer")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key.private_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


class QuietHTTPServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server for which a client hanging up is normal: a load test's clients reset
    connections by the thousand, and socketserver would print a traceback for each."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class DevIssuer:
    """Keys and their endpoints. The newest key signs; `rotate()` publishes a new one and retires the old."""

    def __init__(
        self,
        audience: str = "fastauthz-local",
        alg: str = "RS256",
        host: str = "127.0.0.1",
        port: int = 0,
        max_age: int = 300,
        state_dir: str | Path | None = None,
    ) -> None:
        self.audience = audience
        self.alg = alg
        self.max_age = max_age
        self.state_path = Path(state_dir) / STATE_FILE if state_dir else None
        self.fetches = 0
        self.available = True
        self._lock = threading.RLock()
        self._state_mtime = 0  # of the state file as this issuer last wrote or read it
        self._certificates: dict[str, str] = {}
        self._server = QuietHTTPServer((host, port), self._handler_class())
        self._thread: threading.Thread | None = None
        self.keys: list[Any] = self._load_keys() or [new_key(alg)]
        self.signing_kid: str = str(self.keys[-1].kid)
        self._save()

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
    def x509_uri(self) -> str:
        return self.base_url + "/x509"

    @property
    def current(self) -> Any:
        """The signing key."""
        return next((k for k in self.keys if k.kid == self.signing_kid), self.keys[-1])

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return dict(KeySet(list(self.keys)).as_dict(private=False))

    def x509_map(self) -> dict[str, str]:
        with self._lock:
            keys = [k for k in self.keys if isinstance(k, RSAKey)]
        for key in keys:
            kid = str(key.kid)
            if kid not in self._certificates:
                self._certificates[kid] = certificate_pem(key)
        return {str(key.kid): self._certificates[str(key.kid)] for key in keys}

    def rotate(self, alg: str | None = None, keep_old: bool = False) -> str:
        """Publish a new signing key; unless keep_old, the previous one leaves the key set. Returns the new kid."""
        new = new_key(alg or self.alg)
        with self._lock:
            self.keys = ([*self.keys] if keep_old else []) + [new]
            self.signing_kid = str(new.kid)
            self._save()
        return str(new.kid)

    def rotate_step(self, step: str) -> str:
        """publish: a new key joins the JWKS (verifiers learn it before any token uses it);
        activate: the newest key signs; retire: every key but the signing one leaves."""
        with self._lock:
            if step == "publish":
                self.keys = [*self.keys, new_key(self.alg)]
            elif step == "activate":
                self.signing_kid = str(self.keys[-1].kid)
            elif step == "retire":
                self.keys = [k for k in self.keys if k.kid == self.signing_kid]
            else:
                raise ValueError(f"rotation step {step!r}: publish, activate or retire")
            self._save()
        return str(self.keys[-1].kid)

    def mint(
        self,
        sub: str = "dev-user",
        aud: str | list[str] | None = None,
        ttl: float = 300,
        alg: str | None = None,
        key: Any = None,
        now: float | None = None,
        claims: dict[str, Any] | None = None,
        **extra: Any,
    ) -> str:
        """A signed token. `ttl` may be negative (already expired). Extra claims come as keywords, or in
        `claims` for names that are not identifiers ("cognito:groups")."""
        signing_key = key or self.current
        algorithm = alg or signing_key.get("alg") or self.alg
        issued = int(time.time() if now is None else now)
        payload = {
            "iss": self.issuer,
            "sub": sub,
            "aud": self.audience if aud is None else aud,
            "iat": issued,
            "exp": int(issued + ttl),
            "jti": uuid.uuid4().hex,
            **(claims or {}),
            **extra,
        }
        return sign(signing_key, payload, alg=algorithm, typ="JWT")

    def environment(self) -> dict[str, str]:
        """The authorizer's environment for this issuer."""
        return {"JWT_ISSUER_JWKS_URI": self.jwks_uri, "JWT_ISSUER": self.issuer, "JWT_AUTHORIZED_AUDIENCES": self.audience}

    # -- state shared with other processes -------------------------------------------------------
    def _load_keys(self) -> list[Any]:
        if self.state_path is None or not self.state_path.exists():
            return []
        state = json.loads(self.state_path.read_text())
        return list(KeySet.import_key_set(state["keys"]).keys)

    def _save(self) -> None:
        """Write the state whole (a temporary file renamed over it: a reader never sees half of it), and
        remember its mtime, so that `_reload` takes only another process's rotations for one."""
        if self.state_path is None:
            return
        state = {
            "issuer": self.issuer,
            "audience": self.audience,
            "jwks_uri": self.jwks_uri,
            "signing_kid": getattr(self, "signing_kid", str(self.keys[-1].kid)),
            "keys": KeySet(list(self.keys)).as_dict(private=True),
        }
        self._state_mtime = write_state(self.state_path, state)

    def _reload(self) -> None:
        """Pick up a rotation made by another process (`fastauthz rotate`): the state file changed since
        this issuer last wrote or read it. (Comparing the keys instead raced with this issuer's own
        rotation steps: a JWKS request between a step and its save put the old keys back.)"""
        if self.state_path is None:
            return
        with self._lock:
            try:
                mtime = self.state_path.stat().st_mtime_ns
            except FileNotFoundError:
                return
            if mtime == self._state_mtime:
                return
            state = json.loads(self.state_path.read_text())
            keys = list(KeySet.import_key_set(state["keys"]).keys)
            self._state_mtime = mtime
            if keys:
                self.keys, self.signing_kid = keys, state.get("signing_kid") or str(keys[-1].kid)

    # -- server ----------------------------------------------------------------------------------
    def start(self) -> DevIssuer:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="dev-issuer", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

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
                path = urlparse(self.path).path
                if path == "/.well-known/openid-configuration":
                    self._send(200, orjson.dumps({"issuer": issuer.issuer, "jwks_uri": issuer.jwks_uri}))
                    return
                if path not in ("/.well-known/jwks.json", "/x509"):
                    self._send(404, b'{"error":"not found"}')
                    return
                issuer.fetches += 1
                if not issuer.available:
                    self._send(503, b'{"error":"unavailable"}')
                    return
                issuer._reload()
                document = issuer.jwks() if path == "/.well-known/jwks.json" else issuer.x509_map()
                self._send(200, orjson.dumps(document), {"Cache-Control": f"public, max-age={issuer.max_age}"})

            def do_POST(self) -> None:
                url = urlparse(self.path)
                if url.path == "/control/rotate":
                    step = parse_qs(url.query).get("step", ["all"])[0]
                    try:
                        kid = issuer.rotate() if step == "all" else issuer.rotate_step(step)
                    except ValueError as error:
                        self._send(400, orjson.dumps({"error": str(error)}))
                        return
                    self._send(200, orjson.dumps({"kid": kid, "signing_kid": issuer.signing_kid}))
                elif url.path == "/control/outage":
                    issuer.available = parse_qs(url.query).get("down", ["1"])[0] not in ("1", "true")
                    self._send(200, orjson.dumps({"available": issuer.available}))
                else:
                    self._send(404, b'{"error":"not found"}')

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


def load_state(state_dir: str | Path) -> dict[str, Any]:
    """What a running `fastauthz issuer` saved: issuer URL, audience and private keys."""
    path = Path(state_dir) / STATE_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: start `fastauthz issuer --state {state_dir}` first")
    state: dict[str, Any] = json.loads(path.read_text())
    return state


def write_state(path: Path, state: dict[str, Any]) -> int:
    """Write an issuer's state (its private keys) readable by its owner only, whole: a temporary file
    renamed over the old one, so that a reader never sees half of it. Returns the file's mtime (ns)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    written = path.with_name(f".{path.name}.{os.getpid()}")
    descriptor = os.open(written, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(state, handle, indent=1)
    os.replace(written, path)
    return path.stat().st_mtime_ns


def signing_key_of(state: dict[str, Any]) -> Any:
    """The key a saved issuer state signs with (the newest, unless a rotation step holds it back)."""
    keys = KeySet.import_key_set(state["keys"]).keys
    return next((k for k in keys if k.kid == state.get("signing_kid")), keys[-1])


def mint_from_state(state_dir: str | Path, **options: Any) -> str:
    """Mint with the keys of a running issuer (another process), as `fastauthz token` does."""
    state = load_state(state_dir)
    signing_key = signing_key_of(state)
    issued = int(options.pop("now", None) or time.time())  # `now`: when it was issued (an expired token's past)
    ttl = float(options.pop("ttl", 300))
    alg = str(options.pop("alg", None) or signing_key.get("alg") or "RS256")
    payload = {
        "iss": state["issuer"],
        "sub": options.pop("sub", "dev-user"),
        "aud": options.pop("aud", None) or state["audience"],
        "iat": issued,
        "exp": int(issued + ttl),
        "jti": uuid.uuid4().hex,
        **options,
    }
    return sign(signing_key, payload, alg=alg, typ="JWT")
