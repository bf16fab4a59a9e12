"""Tokens for the load test, by kind, and the decision each kind must get.

Sources:
  mint:<state dir>   mint with a running dev issuer's keys (`fastauthz dev` / `fastauthz issuer`); follows rotations
  file:<path>        one token per line, optionally prefixed by its kind (`expired <token>`); plain lines are `valid`
  command:<cmd>      run once; its stdout is read like a file (for a real IdP: a script that logs test users in)
Kinds: valid (distinct tokens: no cache help), repeated (one token: a reconnect storm), expired,
bad_signature, unknown_kid (a fresh random kid each time: a kid flood), none.
"""

from __future__ import annotations

import json
import random
import shlex
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from fastauthz.dev.issuer import signing_key_of
from fastauthz.dev.tokens import generate_key, sign
from testkit.forgery import parts, tamper

KINDS = ("valid", "repeated", "expired", "bad_signature", "unknown_kid", "none")
EXPECTED = {"valid": 101, "repeated": 101, "expired": 401, "bad_signature": 401, "unknown_kid": 401, "none": 401}


def expected_status(kind: str, refuse_with: str = "unauthorized") -> int:
    """What API Gateway must answer for a token kind: a refusal is a 401, or a 403 when the
    authorizer runs with FASTAUTHZ_REFUSE_WITH=deny."""
    status = EXPECTED[kind]
    return 403 if status == 401 and refuse_with == "deny" else status


DEFAULT_MIX = "valid=50,repeated=30,expired=5,bad_signature=5,unknown_kid=5,none=5"


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        kind, _, weight = part.partition("=")
        kind = kind.strip()
        if kind not in KINDS:
            raise ValueError(f"unknown token kind {kind!r}; use {', '.join(KINDS)}")
        mix[kind] = float(weight or 1)
    if not mix or sum(mix.values()) <= 0:
        raise ValueError("the token mix needs a positive weight")
    return mix


class TokenSupply:
    """Thread- and greenlet-safe enough for locust: every call returns a fresh token of its kind."""

    def __init__(self, source: str, mix: dict[str, float], ttl: float = 600) -> None:
        self.source = source
        self.kinds = list(mix)
        self.weights = [mix[k] for k in self.kinds]
        self.ttl = ttl
        self._lock = threading.Lock()
        self._pool: dict[str, list[str]] = {kind: [] for kind in KINDS}
        self._repeated: str | None = None
        self._state_dir: Path | None = None
        self._state_mtime = 0.0
        self._next_check = 0.0
        self._state: dict[str, Any] = {}
        self._rogue: Any = None
        if source.startswith("mint:"):
            self._state_dir = Path(source[len("mint:") :])
            self._reload()
        elif source.startswith("file:"):
            self._read_lines(Path(source[len("file:") :]).read_text().splitlines())
        elif source.startswith("command:"):
            output = subprocess.run(shlex.split(source[len("command:") :]), capture_output=True, text=True, check=True).stdout
            self._read_lines(output.splitlines())
        else:
            raise ValueError(f"token source {source!r}: use mint:<dir>, file:<path> or command:<cmd>")

    # -- sources ---------------------------------------------------------------------------------
    def _read_lines(self, lines: list[str]) -> None:
        for line in lines:
            parts = line.split()
            if not parts:
                continue
            kind, token = (parts[0], parts[1]) if len(parts) > 1 else ("valid", parts[0])
            if kind not in KINDS:
                raise ValueError(f"token file: unknown kind {kind!r}")
            self._pool[kind].append(token)
        if not self._pool["valid"]:
            raise ValueError("the token source gave no valid token")

    def _reload(self) -> None:
        assert self._state_dir is not None
        if time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + 0.2  # rotations are picked up within 0.2 s
        path = self._state_dir / "issuer.json"
        mtime = path.stat().st_mtime
        if mtime != self._state_mtime:
            state = json.loads(path.read_text())
            state["key"] = signing_key_of(state)
            if self._state and state["key"].kid != self._state["key"].kid:
                self._repeated = None  # a reconnecting client gets a token from the new key
            self._state, self._state_mtime = state, mtime

    def _mint(self, ttl: float, key: Any = None, kid: str | None = None) -> str:
        now = int(time.time())
        signing_key = key or self._state["key"]
        payload = {
            "iss": self._state["issuer"],
            "aud": self._state["audience"],
            "sub": f"load-{uuid.uuid4().hex[:12]}",
            "iat": now,
            "exp": int(now + ttl),
            "scope": "chat",
        }
        return sign(signing_key, payload, kid=kid or signing_key.kid, typ="JWT")

    def _rogue_key(self) -> Any:
        if self._rogue is None:
            self._rogue = generate_key("ES256", declare_alg=True)
        return self._rogue

    # -- tokens ----------------------------------------------------------------------------------
    def pick_kind(self) -> str:
        return random.choices(self.kinds, self.weights)[0]  # noqa: S311 (load mix, not crypto)

    def token(self, kind: str) -> str | None:
        if kind == "none":
            return None
        with self._lock:
            if self._state_dir is not None:
                self._reload()
                return self._minted(kind)
            return self._from_pool(kind)

    def short_lived(self, ttl: float) -> str:
        """A valid token that expires in `ttl` seconds (the lifetime test), minted with the issuer's key."""
        with self._lock:
            if self._state_dir is None:
                raise ValueError("short-lived tokens need --tokens mint:<issuer state dir>")
            self._reload()
            return self._mint(ttl)

    def _minted(self, kind: str) -> str:
        if kind == "valid":
            return self._mint(self.ttl)
        if kind == "repeated":
            if self._repeated is None or self._claims_expire_soon(self._repeated):
                self._repeated = self._mint(self.ttl)
            return self._repeated
        if kind == "expired":
            return self._mint(-60)
        if kind == "bad_signature":
            return tamper(self._mint(self.ttl))
        return self._mint(self.ttl, key=self._rogue_key(), kid=f"flood-{uuid.uuid4().hex}")  # unknown_kid

    def _from_pool(self, kind: str) -> str:
        valid = self._pool["valid"]
        if kind in ("valid", "repeated") or not self._pool[kind]:
            if kind == "repeated":
                return valid[0]
            if kind == "valid":
                return random.choice(valid)  # noqa: S311
            if kind == "bad_signature":
                return tamper(random.choice(valid))  # noqa: S311
            if kind == "unknown_kid":
                return self._foreign_kid(random.choice(valid))  # noqa: S311
            raise ValueError(f"the token source has no {kind} tokens (add lines '{kind} <token>')")
        return random.choice(self._pool[kind])  # noqa: S311

    def _foreign_kid(self, valid: str) -> str:
        """Same issuer and audience as a real token, signed by a key the IdP never published."""
        claims = parts(valid)[1]
        claims["sub"] = f"load-{uuid.uuid4().hex[:12]}"
        return sign(self._rogue_key(), claims, kid=f"flood-{uuid.uuid4().hex}")

    @staticmethod
    def _claims_expire_soon(token: str) -> bool:
        return float(parts(token)[1].get("exp", 0)) < time.time() + 30
