"""Key lifecycle for one issuer: load, freshness, stale window, unknown-kid refetch with cooldown.

`key_for` is on the hot path and touches no lock and no network while the keys are fresh and the
kid is known; everything else goes through `_slow_key_for`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import KeySetError, KeysUnavailable, Rejected, truncate
from .fetch import FetchError, fetch_document
from .keys import KeySet, PreparedKey, load_key_set
from .logs import Log

DEFAULT_TTL = 3600.0  # when the source sends no Cache-Control max-age
MAX_REMEMBERED_UNKNOWN_KIDS = 1024
INFINITY = float("inf")


class KeyStore:
    """Keys of one issuer's source (`https://…` or `file://…`)."""

    def __init__(
        self,
        uri: str,
        *,
        log: Log,
        ttl: float | None = None,
        max_stale: float = 86400.0,
        cooldown: float = 30.0,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.time,
        on_keys_removed: Callable[[set[str | None]], None] | None = None,
    ) -> None:
        self.uri = uri
        self.pinned = uri.startswith("file://")  # shipped with the function: never expires
        self._log = log
        self._ttl = ttl
        self._max_stale = max_stale
        self._cooldown = cooldown
        self._timeout = timeout
        self._clock = clock
        self._on_keys_removed = on_keys_removed
        self.keys: KeySet | None = None
        self.fresh_until = -INFINITY
        self.stale_until = -INFINITY
        self._next_unknown_kid_fetch = -INFINITY
        self._unknown_kids: set[str | None] = set()
        self.fetch_count = 0

    # -- hot path ----------------------------------------------------------------------------
    def key_for(self, kid: str | None, now: float) -> PreparedKey:
        """The key for `kid`. Raises Rejected('unknown_kid') or KeysUnavailable."""
        keys = self.keys
        if keys is not None and now < self.fresh_until:
            key = keys.find(kid)
            if key is not None:
                return key
        return self._slow_key_for(kid, now)

    # -- cold path ---------------------------------------------------------------------------
    def _slow_key_for(self, kid: str | None, now: float) -> PreparedKey:
        if self.keys is None or now >= self.fresh_until:
            self.refresh(now)
        keys = self._servable(now)
        key = keys.find(kid)
        if key is not None:
            return key
        if kid is None:
            raise Rejected("missing_kid", "token has no kid and the key set has several keys")
        if self.pinned or kid in self._unknown_kids or now < self._next_unknown_kid_fetch:
            raise Rejected("unknown_kid", truncate(kid))
        # A kid we have not seen may be a key the issuer just published: refetch once, then cool down.
        self._next_unknown_kid_fetch = now + self._cooldown
        self.refresh(now)
        key = self._servable(now).find(kid)
        if key is None:
            if len(self._unknown_kids) >= MAX_REMEMBERED_UNKNOWN_KIDS:
                self._unknown_kids.clear()
            self._unknown_kids.add(kid)
            raise Rejected("unknown_kid", truncate(kid))
        return key

    def _servable(self, now: float) -> KeySet:
        if self.keys is None or now >= self.stale_until:
            self._log.error("keys unavailable: failing closed", reason="keys_unavailable", jwks_uri=self.uri)
            raise KeysUnavailable(f"fastauthz: no servable keys for {self.uri}")
        return self.keys

    def refresh(self, now: float | None = None) -> bool:
        """Fetch and install the key set. Returns False (and keeps the old set) on failure."""
        now = self._clock() if now is None else now
        self.fetch_count += 1
        try:
            fetched = fetch_document(self.uri, self._timeout)
            new_keys = load_key_set(fetched.body)
        except (FetchError, KeySetError) as error:
            self._log.error("key fetch failed", reason="fetch_failed", jwks_uri=self.uri, error=str(error),
                            serving_stale=self.keys is not None and now < self.stale_until)
            return False
        self.install(new_keys, now, fetched.max_age)
        self._log.info("keys fetched", jwks_uri=self.uri, keys=len(new_keys), duration_ms=round(fetched.duration * 1000, 1),
                       skipped=new_keys.skipped or None)
        return True

    def install(self, new_keys: KeySet, now: float, max_age: float | None = None) -> None:
        old_keys = self.keys
        self.keys = new_keys
        ttl = INFINITY if self.pinned else (self._ttl or max_age or DEFAULT_TTL)
        self.fresh_until = now + ttl
        self.stale_until = self.fresh_until + self._max_stale
        self._unknown_kids.clear()
        if old_keys is not None and self._on_keys_removed is not None:
            removed = {
                kid for kid, key in old_keys.by_kid.items()
                if (new := new_keys.by_kid.get(kid)) is None or new.material != key.material
            }
            if removed:
                self._on_keys_removed(removed)
