"""Every production twin, tied: where the hot path keeps a fast copy of general code, the two give
the same answer for any input hypothesis finds.

- the `Authorization: Bearer <token>` fast path and the general extractor (extract.py);
- the inline key lookup in Authorizer._verify and KeyStore.key_for;
- the verified-token cache's answer in decide() and in verify(), and the answer without the cache.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastauthz.errors import Rejected
from fastauthz.extract import build_extractor
from fastauthz.fetch import Fetched
from fastauthz.keystore import KeyStore, KeyTiming
from fastauthz.logs import Log
from testkit.authorizers import Clock, Logs, make_authorizer, outcome
from testkit.events import connect_event
from testkit.keys import jwks, write_jwks
from testkit.tokens import NOW, claims, mint

# Characters that matter around a bearer token: ASCII and Unicode whitespace, the scheme's letters.
AROUND = st.text(alphabet=" \t\x0b\x0c\r\n\xa0\u2003\u3000Bearer", max_size=12)
TOKENISH = st.text(alphabet="AB.\x0b\t -_", min_size=0, max_size=8)


def answer(extract: Any, event: dict[str, Any]) -> tuple[str, str]:
    try:
        return "token", extract(event)
    except Rejected as rejection:
        return "refused", rejection.reason


@settings(max_examples=2000)
@given(prefix=AROUND, token=TOKENISH, suffix=AROUND, scheme=st.sampled_from(["Bearer ", "bearer ", "Bearer", "", "Bearer\t"]))
def test_the_header_fast_path_answers_what_the_general_extractor_answers(prefix: str, token: str, suffix: str, scheme: str) -> None:
    fast = build_extractor(("header", "query"), "authorization", "")  # header first: the fast path
    general = build_extractor(("query", "header"), "authorization", "")  # the same sources, no fast path
    event = connect_event()
    event["headers"]["Authorization"] = prefix + scheme + token + suffix
    event["multiValueHeaders"]["Authorization"] = [event["headers"]["Authorization"]]
    assert answer(fast, event) == answer(general, event)


def test_unicode_whitespace_after_the_scheme_is_part_of_the_token_on_both_paths() -> None:
    fast = build_extractor(("header",), "authorization", "")
    for space in ("\x0b", "\x0c", "\xa0"):
        event = connect_event()
        event["headers"]["Authorization"] = f"Bearer {space}A.B.C"
        assert fast(event) == f"{space}A.B.C"  # malformed later, on both paths (decided in issue #21)


@pytest.fixture(scope="module")
def key_store(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    """A store whose keys came from a fetch (not pinned), so that its freshness moves with the clock."""
    document = jwks("rsa-1", "es256-1")

    def fetch(uri: str, timeout: float, retries: int) -> Any:

        return Fetched(json.dumps(document).encode(), 600.0, 0.001)

    store = KeyStore(
        "https://keys.example/jwks.json",
        log=Log("ERROR", Logs().write),
        fetch=fetch,
        clock=Clock(),
        spawn=lambda task: task(),
        timing=KeyTiming(cooldown=30.0),
    )
    store.start(NOW)
    return store


@settings(max_examples=500, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kid=st.sampled_from(["rsa-1", "es256-1", "unknown", None]), later=st.sampled_from([0.0, 100.0, 539.0, 541.0, 599.0]))
def test_the_inline_key_lookup_finds_only_what_key_for_returns(key_store: KeyStore, kid: str | None, later: float) -> None:
    now = NOW + later
    # Authorizer._verify's inline lookup, as written there: fresh keys and a kid, else Issuer.key_for.
    inline = key_store.keys.by_kid.get(kid) if now < key_store.refresh_after and kid is not None else None  # type: ignore[union-attr]
    if inline is not None:
        assert inline is key_store.key_for(kid, now)
    elif now < key_store.refresh_after:
        with pytest.raises(Rejected):  # the store refuses what the inline lookup did not find (unknown or missing kid)
            key_store.key_for(kid, now)


SCOPES = st.sampled_from(["chat:read chat:write", "chat:read", ""])
CALLS = st.lists(st.tuples(st.sampled_from(["decide", "verify"]), st.integers(0, 3)), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scopes=st.lists(SCOPES, min_size=4, max_size=4), calls=CALLS)
def test_a_cached_answer_is_the_answer_without_the_cache_in_decide_and_in_verify(
    tmp_path: Path, scopes: list[str], calls: list[tuple[str, int]]
) -> None:
    uri = write_jwks(tmp_path, "rsa-1")
    tokens = [mint("rsa-1", claims(sub=f"user-{index}", scope=scope or None, exp=NOW + 3600 + index)) for index, scope in enumerate(scopes)]
    cached = make_authorizer(uri, clock=Clock(), JWT_REQUIRED_SCOPES="chat:write")
    for method, index in calls:
        uncached = make_authorizer(uri, clock=Clock(), JWT_CACHE_SIZE="0", JWT_REQUIRED_SCOPES="chat:write")
        if method == "decide":
            assert outcome(cached, connect_event(tokens[index])) == outcome(uncached, connect_event(tokens[index]))
        else:
            assert verified(cached, tokens[index]) == verified(uncached, tokens[index])


def verified(authorizer: Any, token: str) -> tuple[str, Any]:
    try:
        return "claims", authorizer.verify(token)
    except Rejected as rejection:
        return "refused", rejection.reason
