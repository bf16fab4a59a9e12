"""Tokens for the load test, by kind, and the decision each kind must get.

Sources:
  mint:<dir>       mint with the keys in <dir>/issuer.json: a running dev issuer's state (`fastauthz dev`,
                   follows its rotations) or a load-test issuer's key (`fastauthz loadtest-key`), whose
                   public keys the deployed authorizer trusts beside the real IdP's (README, Load test)
  file:<path>      one token per line, optionally prefixed by its kind (`expired <token>`); plain lines are
                   `valid`; re-read when the file changes
  command:<cmd>    its stdout is read like a file, and the command is run again before the tokens it gave
                   expire (for a real IdP: a script that logs test users in)
Kinds: valid (distinct tokens: no cache help), repeated (one token: a reconnect storm), expired,
bad_signature, unknown_kid (a fresh random kid each time: a kid flood), none.

Every kind the mix asks for is checked before the run (`check`): a kind the source cannot provide is a
`TokenSupplyError` then, not a failure in the middle of the run.
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

from ..dev.issuer import STATE_FILE, signing_key_of
from ..dev.tokens import b64url_decode, generate_key, sign, tamper
from ..settings import EXPIRED_BY

KINDS = ("valid", "repeated", "expired", "bad_signature", "unknown_kid", "none")
EXPECTED = {"valid": 101, "repeated": 101, "expired": 401, "bad_signature": 401, "unknown_kid": 401, "none": 401}
DEFAULT_MIX = "valid=50,repeated=30,expired=5,bad_signature=5,unknown_kid=5,none=5"
# A file or command token this close to its exp is no longer handed out as valid (a connect takes a
# while, and the authorizer may run a few seconds ahead); a command is run again this long before.
EXPIRY_MARGIN = 30.0
REFRESH_AHEAD = 120.0
MINTED_TTL = 600.0


class TokenSupplyError(ValueError):
    """The source cannot give a kind of token the mix asks for (or cannot be read at all)."""


def expected_status(kind: str, refuse_with: str = "unauthorized") -> int:
    """What API Gateway must answer for a token kind: a refusal is a 401, or a 403 when the
    authorizer runs with FASTAUTHZ_REFUSE_WITH=deny."""
    status = EXPECTED[kind]
    return 403 if status == 401 and refuse_with == "deny" else status


def parse_mix(text: str) -> dict[str, float]:
    mix: dict[str, float] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        kind, _, weight = part.partition("=")
        kind = kind.strip()
        if kind not in KINDS:
            raise TokenSupplyError(f"--mix: unknown token kind {kind!r}; use {', '.join(KINDS)}")
        try:
            mix[kind] = float(weight or 1)
        except ValueError:
            raise TokenSupplyError(f"--mix: {kind}={weight!r} is not a number") from None
    if not mix or sum(mix.values()) <= 0 or min(mix.values()) < 0:
        raise TokenSupplyError("--mix needs positive weights, e.g. valid=90,expired=10")
    return mix


def claims_of(token: str) -> dict[str, Any]:
    """The payload, decoded without any check ({} when it is not a JWT's)."""
    try:
        claims = json.loads(b64url_decode(token.split(".")[1]))
    except (IndexError, ValueError):  # binascii.Error and UnicodeDecodeError are ValueErrors
        return {}
    return claims if isinstance(claims, dict) else {}


def _exp(token: str) -> float:
    exp = claims_of(token).get("exp")
    return float(exp) if isinstance(exp, int | float) else float("inf")


class TokenSupply:
    """Thread- and greenlet-safe enough for locust: every call returns a token of its kind."""

    def __init__(self, source: str, mix: dict[str, float], ttl: float = MINTED_TTL) -> None:
        self.source = source
        self.kinds = list(mix)
        self.weights = [mix[k] for k in self.kinds]
        self.ttl = ttl
        self._lock = threading.Lock()
        self._pool: dict[str, list[str]] = {kind: [] for kind in KINDS}
        self._next_valid = 0
        self._repeated: str | None = None
        self._state_dir: Path | None = None
        self._state_mtime = 0.0
        self._next_check = 0.0
        self._state: dict[str, Any] = {}
        self._rogue: Any = None
        self._file: Path | None = None
        self._command: list[str] | None = None
        self._refreshing = False
        self.skipped_expired = 0
        if source.startswith("mint:"):
            self._state_dir = Path(source[len("mint:") :] or ".fastauthz")
            if not (self._state_dir / STATE_FILE).is_file():
                raise TokenSupplyError(
                    f"--tokens {source}: no {STATE_FILE} in {self._state_dir}/ (start `fastauthz dev` there, "
                    "or make a load-test issuer with `fastauthz loadtest-key --out DIR`)"
                )
            self._reload()
        elif source.startswith("file:"):
            self._file = Path(source[len("file:") :])
            self._read_file()
        elif source.startswith("command:"):
            self._command = shlex.split(source[len("command:") :])
            if not self._command:
                raise TokenSupplyError("--tokens command: needs a command")
            self._read_lines(self._run_command())
        else:
            raise TokenSupplyError(f"--tokens {source!r}: use mint:<dir>, file:<path> or command:<cmd>")

    # -- what the source holds -------------------------------------------------------------------
    def check(self, mix: dict[str, float]) -> None:
        """Refuse, before the run, a mix asking for a kind this source cannot give."""
        if self._state_dir is not None:
            return  # minting makes every kind
        if not self._pool["valid"]:
            raise TokenSupplyError(f"--tokens {self.source}: no valid token (lines '<token>' or 'valid <token>', not yet expired)")
        if mix.get("expired") and not self._pool["expired"]:
            raise TokenSupplyError(
                f"--mix asks for expired tokens but --tokens {self.source} gave no 'expired <token>' lines: "
                "add some, or drop expired from --mix"
            )

    def describe(self) -> str:
        """One line on what the source holds (how many distinct valid tokens: beyond them, cache hits)."""
        if self._state_dir is not None:
            return (
                f"tokens: minted with {self._state_dir}/{STATE_FILE} (issuer {self._state.get('issuer')}), "
                f"a distinct token per valid connect, valid for {self.ttl:.0f} s"
            )
        valid = self._pool["valid"]
        distinct = len(set(valid))
        soonest = min((_exp(t) for t in valid), default=float("inf"))
        expiry = "" if soonest == float("inf") else f"; the first expires in {max(0.0, soonest - time.time()) / 60:.0f} min"
        refresh = ", run again before they expire" if self._command else ""
        others = ", ".join(f"{len(self._pool[k])} {k}" for k in KINDS if k != "valid" and self._pool[k])
        return (
            f"tokens: {self.source} holds {distinct} distinct valid token{'s' * (distinct != 1)}{expiry}{refresh}"
            f"{'; ' + others if others else ''}; valid connects beyond {distinct} reuse them (the authorizer's cache answers)"
            + (f"; {self.skipped_expired} expired lines labelled valid skipped" if self.skipped_expired else "")
        )

    # -- sources ---------------------------------------------------------------------------------
    def _run_command(self) -> list[str]:
        assert self._command is not None
        try:
            ran = subprocess.run(self._command, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise TokenSupplyError(f"--tokens command: {error}") from None
        if ran.returncode != 0:
            tail = (ran.stderr.strip().splitlines() or ["no output on stderr"])[-1]
            raise TokenSupplyError(f"--tokens command: exited with {ran.returncode}: {tail}")
        return ran.stdout.splitlines()

    def _read_file(self) -> None:
        assert self._file is not None
        try:
            self._state_mtime = self._file.stat().st_mtime
            lines = self._file.read_text().splitlines()
        except OSError as error:
            raise TokenSupplyError(f"--tokens file: {error}") from None
        self._read_lines(lines)

    def _read_lines(self, lines: list[str]) -> None:
        pool: dict[str, list[str]] = {kind: [] for kind in KINDS}
        skipped = 0
        for number, line in enumerate(lines, 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            kind, token = (fields[0], fields[1]) if len(fields) > 1 else ("valid", fields[0])
            if kind not in KINDS or kind == "none":
                raise TokenSupplyError(f"--tokens {self.source}: line {number}: unknown kind {kind!r} (use {', '.join(KINDS[:-1])})")
            if kind in ("valid", "repeated") and _exp(token) < time.time() + EXPIRY_MARGIN:
                skipped += 1
                continue
            pool[kind].append(token)
        pool["valid"] += pool.pop("repeated")
        pool["repeated"] = []
        self._pool, self.skipped_expired, self._next_valid = pool, skipped, 0
        self._repeated = None

    def _reload(self) -> None:
        assert self._state_dir is not None
        if time.monotonic() < self._next_check:
            return
        self._next_check = time.monotonic() + 0.2  # rotations are picked up within 0.2 s
        path = self._state_dir / STATE_FILE
        mtime = path.stat().st_mtime
        if mtime != self._state_mtime:
            state = json.loads(path.read_text())
            state["key"] = signing_key_of(state)
            if self._state and state["key"].kid != self._state["key"].kid:
                self._repeated = None  # a reconnecting client gets a token from the new key
            self._state, self._state_mtime = state, mtime

    def _refresh_pool(self) -> None:
        """Keep file and command tokens current: re-read a changed file; run the command again, in the
        background, once its first valid token is within REFRESH_AHEAD of expiring."""
        if self._file is not None:
            if time.monotonic() >= self._next_check:
                self._next_check = time.monotonic() + 1.0
                try:
                    changed = self._file.stat().st_mtime != self._state_mtime
                except OSError:
                    changed = False
                if changed:
                    self._read_file()
        elif self._command is not None and not self._refreshing:
            soonest = min((_exp(t) for t in self._pool["valid"]), default=0.0)
            if soonest < time.time() + REFRESH_AHEAD:
                self._refreshing = True
                threading.Thread(target=self._rerun, daemon=True).start()
        self._pool["valid"] = [t for t in self._pool["valid"] if _exp(t) >= time.time() + EXPIRY_MARGIN]

    def _rerun(self) -> None:
        try:
            lines = self._run_command()
            with self._lock:
                self._read_lines(lines)
        except TokenSupplyError:
            pass  # the old tokens stay until they expire; then `valid` raises, counted as a token-supply failure
        finally:
            self._refreshing = False

    def _mint(self, ttl: float, key: Any = None, kid: str | None = None, age: float = 0.0) -> str:
        now = int(time.time() - age)
        signing_key = key or self._state["key"]
        payload = {
            "iss": self._state["issuer"],
            "aud": self._state["audience"],
            "sub": f"load-{uuid.uuid4().hex[:12]}",
            "iat": now,
            "exp": int(now + ttl),
        }
        scope = self._state.get("scope", "chat")  # the dev issuer's tokens carry the dev stage's scope
        if scope:
            payload["scope"] = scope
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
            self._refresh_pool()
            return self._from_pool(kind)

    def short_lived(self, ttl: float) -> str:
        """A valid token that expires in `ttl` seconds (the lifetime test), minted with the issuer's key."""
        with self._lock:
            if self._state_dir is None:
                raise TokenSupplyError("short-lived tokens need --tokens mint:<dir>")
            self._reload()
            return self._mint(ttl)

    def _minted(self, kind: str) -> str:
        if kind == "valid":
            return self._mint(self.ttl)
        if kind == "repeated":
            if self._repeated is None or _exp(self._repeated) < time.time() + EXPIRY_MARGIN:
                self._repeated = self._mint(self.ttl)
            return self._repeated
        if kind == "expired":
            return self._mint(60, age=60 + EXPIRED_BY)  # issued, then expired past any leeway
        if kind == "bad_signature":
            return tamper(self._mint(self.ttl))
        return self._mint(self.ttl, key=self._rogue_key(), kid=f"flood-{uuid.uuid4().hex}")  # unknown_kid

    def _next_valid_token(self) -> str:
        """The valid tokens in turn, so that each is used as rarely as the pool allows."""
        valid = self._pool["valid"]
        if not valid:
            raise TokenSupplyError(f"--tokens {self.source}: every valid token has expired")
        self._next_valid = (self._next_valid + 1) % len(valid)
        return valid[self._next_valid]

    def _from_pool(self, kind: str) -> str:
        if kind == "valid":
            return self._next_valid_token()
        if kind == "repeated":
            if self._repeated is None or _exp(self._repeated) < time.time() + EXPIRY_MARGIN:
                self._repeated = self._next_valid_token()
            return self._repeated
        if kind == "bad_signature":
            return tamper(self._next_valid_token())
        if kind == "unknown_kid":
            return self._foreign_kid(self._next_valid_token())
        if not self._pool[kind]:
            raise TokenSupplyError(f"--tokens {self.source} has no {kind} tokens (add lines '{kind} <token>')")
        return random.choice(self._pool[kind])  # noqa: S311

    def _foreign_kid(self, valid: str) -> str:
        """Same issuer and audience as a real token, signed by a key the IdP never published."""
        claims = claims_of(valid)
        claims["sub"] = f"load-{uuid.uuid4().hex[:12]}"
        return sign(self._rogue_key(), claims, kid=f"flood-{uuid.uuid4().hex}")
