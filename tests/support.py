"""Test support: keys generated at test time, tokens minted with joserfc (the oracle), forged tokens
built by hand, AWS-shaped events, and a real HTTP key server on 127.0.0.1."""

from __future__ import annotations

import copy
import http.server
import json
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, OctKey, OKPKey, RSAKey

from fastauthz.authorizer import Authorizer
from fastauthz.config import load_settings
from fastauthz.dev.b64 import b64url, b64url_decode

EVENTS = Path(__file__).parent / "events"
ISSUER = "https://issuer.test"
AUDIENCE = "client-abc"
NOW = 1_800_000_000  # a fixed clock for unit tests: 2027-01-15


# -- keys ----------------------------------------------------------------------------------------
@cache
def key(name: str) -> Any:
    """Named test keys, generated once per session. kid = name."""
    params = {"kid": name, "use": "sig"}
    kind = name.split("-")[0]
    if kind == "rsa":
        return RSAKey.generate_key(2048, parameters=params)
    if kind == "rsa4096":
        return RSAKey.generate_key(4096, parameters=params)
    if kind == "rsa1024":
        return _small_rsa(params)  # joserfc refuses to generate keys this small
    if kind == "es256":
        return ECKey.generate_key("P-256", parameters=params)
    if kind == "es384":
        return ECKey.generate_key("P-384", parameters=params)
    if kind == "es512":
        return ECKey.generate_key("P-521", parameters=params)
    if kind == "ed25519":
        return OKPKey.generate_key("Ed25519", parameters=params)
    if kind == "ed448":
        return OKPKey.generate_key("Ed448", parameters=params)
    raise ValueError(name)


def _small_rsa(params: dict[str, str]) -> Any:
    from cryptography.hazmat.primitives.asymmetric import rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return RSAKey.import_key(private, parameters=params)


ALG_FOR_KEY = {"rsa": "RS256", "rsa4096": "RS256", "es256": "ES256", "es384": "ES384", "es512": "ES512",
               "ed25519": "EdDSA", "ed448": "EdDSA"}


def jwks(*names: str) -> dict[str, Any]:
    return KeySet([key(n) for n in names]).as_dict(private=False)


def write_jwks(directory: Path, *names: str, document: Any = None) -> str:
    path = directory / "jwks.json"
    path.write_text(json.dumps(document if document is not None else jwks(*names)))
    return f"file://{path}"


# -- tokens --------------------------------------------------------------------------------------
def claims(**overrides: Any) -> dict[str, Any]:
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "iat": NOW - 10, "exp": NOW + 3600,
            "scope": "chat:read chat:write", "email": "ada@example.com"}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def mint(key_name: str = "rsa-1", payload: dict[str, Any] | None = None, alg: str | None = None, **header: Any) -> str:
    """A correctly signed token (joserfc does the signing)."""
    k = key_name if not isinstance(key_name, str) else key(key_name)
    kid = getattr(k, "kid", None)
    alg = alg or ALG_FOR_KEY[str(kid).split("-")[0]]
    hdr = {"alg": alg, **({"kid": kid} if kid else {}), **header}
    hdr = {k2: v for k2, v in hdr.items() if v is not None}
    return jwt.encode(hdr, claims() if payload is None else payload, k, algorithms=[alg])


def mint_hmac(secret: str, payload: dict[str, Any] | None = None, alg: str = "HS256") -> str:
    return jwt.encode({"alg": alg}, claims() if payload is None else payload, OctKey.import_key(secret), algorithms=[alg])


def forge(header: Any, payload: Any, signature: bytes = b"") -> str:
    """A token built by hand: any header, payload and signature bytes."""
    def segment(part: Any) -> str:
        return b64url(part if isinstance(part, bytes) else json.dumps(part).encode())

    return f"{segment(header)}.{segment(payload)}.{b64url(signature)}"


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    h, p, s = token.split(".")
    return json.loads(b64url_decode(h)), json.loads(b64url_decode(p)), b64url_decode(s)


# -- events --------------------------------------------------------------------------------------
@cache
def _event_template(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def connect_event(token: str | None = None, where: str = "header", name: str = "connect_authorizer_request") -> dict[str, Any]:
    """The held $connect authorizer event with the token placed where a client would put it."""
    event = copy.deepcopy(_event_template(name))
    if token is None:
        return event
    if where == "header":
        event["headers"]["Authorization"] = f"Bearer {token}"
        event["multiValueHeaders"]["Authorization"] = [f"Bearer {token}"]
    elif where == "query":
        event["queryStringParameters"] = {"authorization": token}
        event["multiValueQueryStringParameters"] = {"authorization": [token]}
    elif where == "protocol":
        event["headers"]["Sec-WebSocket-Protocol"] = f"bearer, {token}"
        event["multiValueHeaders"]["Sec-WebSocket-Protocol"] = [f"bearer, {token}"]
    elif where == "cookie":
        event["headers"]["Cookie"] = f"theme=dark; session={token}"
        event["multiValueHeaders"]["Cookie"] = [f"theme=dark; session={token}"]
    else:
        raise ValueError(where)
    return event


# -- authorizers ---------------------------------------------------------------------------------
class Clock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self, now: float = NOW) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def base_env(jwks_uri: str, **overrides: str) -> dict[str, str]:
    env = {"JWT_ISSUER_JWKS_URI": jwks_uri, "JWT_ISSUER": ISSUER, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE,
           "FASTAUTHZ_METRICS": "false"}
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


class Logs(list[dict[str, Any]]):
    """Collects the authorizer's JSON log lines."""

    def write(self, line: str) -> None:
        self.append(json.loads(line))

    def reasons(self) -> list[str]:
        return [r.get("reason") for r in self if "reason" in r]

    def text(self) -> str:
        return "\n".join(json.dumps(r) for r in self)


def make_authorizer(jwks_uri: str, clock: Callable[[], float] | None = None, logs: Logs | None = None, **env: str) -> Authorizer:
    settings = load_settings(base_env(jwks_uri, **env))
    return Authorizer(settings, clock=clock or Clock(), write=(logs if logs is not None else Logs()).write)


def outcome(authorizer: Authorizer, event: dict[str, Any]) -> tuple[str, Any]:
    """('allow'|'deny', result) or ('unauthorized', reason) or ('error', exception)."""
    logs = authorizer.log._write
    try:
        result = authorizer.handle(event)
    except Exception as error:
        if str(error) == "Unauthorized" and type(error) is Exception:
            owner = getattr(logs, "__self__", None)
            reason = owner.reasons()[-1] if isinstance(owner, Logs) and owner.reasons() else None
            return "unauthorized", reason
        return "error", error
    effect = result["policyDocument"]["Statement"][0]["Effect"]
    return effect.lower(), result


# -- a real key server on 127.0.0.1 ------------------------------------------------------------
class KeyServer:
    """Serves whatever `body`/`status`/`headers` say (or, at a path given to serve_at, that
    document), after `delay` seconds; counts requests."""

    def __init__(self, body: Any = b"{}", status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.body: bytes = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.status = status
        self.headers = headers or {"Content-Type": "application/json"}
        self.delay = 0.0
        self.requests = 0
        self.paths: dict[str, bytes] = {}
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else the body waits ~40 ms for a delayed ACK

            def do_GET(self) -> None:
                owner.requests += 1
                if owner.delay:
                    time.sleep(owner.delay)
                at_path = owner.paths.get(self.path.split("?")[0])
                body = at_path if at_path is not None else owner.body
                try:
                    self.send_response(200 if at_path is not None else owner.status)
                    for name, value in owner.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A short poll interval: shutdown() waits for it (0.5 s by default, per server).
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.base}/.well-known/jwks.json"

    def serve_at(self, path: str, document: Any) -> None:
        """Answer GET `path` with `document` (200), whatever serve() says for other paths."""
        self.paths[path] = document if isinstance(document, bytes) else json.dumps(document).encode()

    def serve(self, document: Any, status: int = 200, **headers: str) -> None:
        self.body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.status = status
        self.headers = {"Content-Type": "application/json", **headers}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def policy_allows(result: dict[str, Any], method_arn: str) -> bool:
    """What API Gateway does with the policy (the local stage's evaluation: explicit Deny wins)."""
    from fastauthz.dev.apigw import policy_allows as evaluate

    return evaluate(result["policyDocument"], method_arn)


def sign_rs256(key_name: str, header: dict[str, Any], payload: dict[str, Any] | bytes) -> str:
    """A correctly RS256-signed token with any header (joserfc refuses headers it does not know)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(body)}"
    signature = key(key_name).private_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"
