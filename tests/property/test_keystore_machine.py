"""The key store as a state machine: rotate, fail, recover, advance the clock, look up known and
unknown kids, in any order. Its source is in memory (KeyStore takes its fetch as a collaborator), so
that hypothesis can run thousands of steps without a socket; tests/unit/test_keystore.py runs the
same store against a real HTTP server on 127.0.0.1.

Invariants: keys are never served past their stale bound, a removed key never validates after the
fetch that removed it, and unknown kids cause at most one refetch per cooldown.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from fastauthz.errors import KeysUnavailable, Rejected
from fastauthz.fetch import Fetched, FetchError
from fastauthz.keystore import KeyStore, KeyTiming
from fastauthz.logs import Log
from testkit.authorizers import Clock, Logs
from testkit.keys import jwks

URL = "https://keys.example/.well-known/jwks.json"


class Source:
    """A key source in memory: the document it serves now (with Cache-Control max-age TTL), or an outage."""

    def __init__(self) -> None:
        self.document: dict[str, Any] | None = None
        self.requests = 0

    def serve(self, document: dict[str, Any] | None) -> None:
        self.document = document

    def fetch(self, uri: str, timeout: float, retries: int) -> Fetched:
        assert uri == URL
        self.requests += 1
        if self.document is None:
            raise FetchError("HTTP 503", retryable=True)
        return Fetched(json.dumps(self.document).encode(), TTL, 0.001)


# -- the state machine ---------------------------------------------------------------------------------
TTL, STALE, COOLDOWN = 100.0, 300.0, 20.0


class KeyStoreMachine(RuleBasedStateMachine):
    """rotate / fail / recover / advance the clock / look up known and unknown kids."""

    def __init__(self) -> None:
        super().__init__()
        self.source = Source()
        self.generation = 0
        self.serving = ["rsa-1"]
        self.source.serve(self._document())
        self.clock = Clock()
        self.store = KeyStore(
            URL,
            log=Log("ERROR", Logs().write),
            clock=self.clock,
            spawn=lambda task: task(),
            fetch=self.source.fetch,
            timing=KeyTiming(ttl=TTL, max_stale=STALE, cooldown=COOLDOWN, timeout=1.0, retries=0),
        )
        self.store.start(self.clock())
        self.last_good_fetch: float | None = None
        self.removed_after_fetch: dict[str, int] = {}  # kid -> fetch count when the server dropped it
        self.unknown_fetch_times: list[float] = []
        self._observe()

    def _document(self) -> dict[str, Any]:
        keys = []
        for name in self.serving:
            jwk = dict(jwks("rsa-1")["keys"][0]) if name.startswith("rsa") else dict(jwks("es256-1")["keys"][0])
            jwk["kid"] = name
            keys.append(jwk)
        return {"keys": keys}

    def _observe(self) -> None:
        if self.store.keys is not None:
            self.last_good_fetch = self.store.fetched_at

    @rule()
    def rotate(self) -> None:
        self.generation += 1
        removed = self.serving.pop(0) if len(self.serving) > 1 or self.generation % 2 else None
        self.serving.append(f"rsa-gen{self.generation}")
        if removed:
            self.removed_after_fetch[removed] = self.store.fetch_count
        self.source.serve(self._document())

    @rule()
    def fail(self) -> None:
        self.source.serve(None)

    @rule()
    def recover(self) -> None:
        self.source.serve(self._document())

    @rule(seconds=st.sampled_from([1.0, 10.0, TTL * 0.95, TTL * 1.5, STALE * 0.8, TTL + STALE + 1]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(pick=st.integers(min_value=0, max_value=10))
    def look_up_a_kid(self, pick: int) -> None:
        names = [*self.serving, *self.removed_after_fetch, "never-seen"]
        kid = names[pick % len(names)]
        cooldown_mark = self.store._next_unknown_kid_fetch
        try:
            key = self.store.key_for(kid, self.clock())
        except (Rejected, KeysUnavailable):
            key = None
        self._observe()
        if self.store._next_unknown_kid_fetch != cooldown_mark:  # this lookup made an unknown-kid refetch
            self.unknown_fetch_times.append(self.clock())
        if key is not None:
            now = self.clock()
            assert self.last_good_fetch is not None and now < self.last_good_fetch + TTL + STALE, "served past the stale bound"
            if kid in self.removed_after_fetch:
                assert self.store.installed_fetch <= self.removed_after_fetch[kid], (
                    "a removed key validated after the fetch that removed it"
                )

    @invariant()
    def at_most_one_unknown_kid_refetch_per_cooldown(self) -> None:
        times = self.unknown_fetch_times
        assert all(later - earlier >= COOLDOWN for earlier, later in itertools.pairwise(times))


TestKeyStoreMachine = KeyStoreMachine.TestCase
TestKeyStoreMachine.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
