"""Shared benchmark material: keys, tokens, AWS-shaped events, an authorizer on file:// keys, and
the floor: raw `cryptography` verify of the same tokens, with signature and signing input decoded
beforehand (for ECDSA the JWS r||s to DER conversion stays in the floor: cryptography cannot
verify a JWS signature without it)."""

from __future__ import annotations

import io
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from joserfc.jwk import KeySet

from bench.workload import floor as floor_run
from fastauthz.authorizer import Authorizer
from fastauthz.config import load_settings
from fastauthz.dev.tokens import generate_key, sign
from testkit.events import connect_event

ISSUER = "https://issuer.bench"
AUDIENCE = "bench-client"
ALGORITHMS: dict[str, tuple[str, int | None]] = {
    # name: (alg, RSA key size)
    "RS256-2048": ("RS256", 2048),
    "RS256-4096": ("RS256", 4096),
    "PS256": ("PS256", 2048),
    "ES256": ("ES256", None),
    "ES384": ("ES384", None),
    "EdDSA": ("EdDSA", None),
}


class Case:
    """One algorithm: a key, `count` distinct valid tokens, their events, and the floor verifier."""

    def __init__(self, name: str, count: int = 500, now: float | None = None) -> None:
        self.name = name
        self.alg, size = ALGORITHMS[name]
        self.key = generate_key(self.alg, kid=f"bench-{name.lower()}", size=size)
        self.now = int(time.time() if now is None else now)
        self.tokens = [self.mint(sub=f"user-{i}") for i in range(count)]
        self.events = [connect_event(token) for token in self.tokens]

    def mint(self, **claims: Any) -> str:
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "user",
            "iat": self.now,
            "exp": self.now + 3600,
            "scope": "chat:read chat:write",
            "email": "user@example.com",
            **claims,
        }
        return sign(self.key, payload, alg=self.alg, typ="JWT")

    def jwks(self) -> dict[str, Any]:
        return dict(KeySet([self.key]).as_dict(private=False))

    def environment(self, **env: str) -> dict[str, str]:
        """The function's environment variables: this case's key set shipped as a file."""
        directory = Path(tempfile.mkdtemp(prefix="fastauthz-bench-"))
        path = directory / "jwks.json"
        path.write_text(json.dumps(self.jwks()))
        return {
            "JWT_ISSUER_JWKS_URI": f"file://{path}",
            "JWT_ISSUER": ISSUER,
            "JWT_AUTHORIZED_AUDIENCES": AUDIENCE,
            "FASTAUTHZ_METRICS": "false",
            **env,
        }

    def authorizer(self, **env: str) -> Authorizer:
        return Authorizer(load_settings(self.environment(**env)), write=io.StringIO().write)

    def floor(self) -> Callable[[int], None]:
        """verify(sig, data) straight on a cryptography key object: nothing else (bench/workload's floor)."""
        return floor_run(self.alg, self.jwks()["keys"][0], self.tokens)
