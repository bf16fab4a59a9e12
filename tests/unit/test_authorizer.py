from __future__ import annotations

import time
from pathlib import Path

import pytest

from fastauthz.authorizer import Authorizer
from testkit.authorizers import Clock, Logs, make_authorizer, outcome
from testkit.events import connect_event
from testkit.keys import jwks, write_jwks
from testkit.server import KeyServer
from testkit.tokens import NOW, claims, mint


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def logs() -> Logs:
    return Logs()


@pytest.fixture
def authorizer(tmp_path: Path, clock: Clock, logs: Logs) -> Authorizer:
    return make_authorizer(write_jwks(tmp_path, "rsa-1"), clock=clock, logs=logs, JWT_LEEWAY_SECONDS="0")


def test_a_repeated_token_is_served_from_the_cache_with_the_same_response(authorizer: Authorizer) -> None:
    event = connect_event(mint("rsa-1"))
    first = authorizer.handle(event)
    assert authorizer.handle(connect_event(mint("rsa-1"))) == first
    assert authorizer.metrics.counts["CacheHit"] >= 1


def test_a_cached_token_on_another_api_gets_a_policy_for_that_api(authorizer: Authorizer) -> None:
    token = mint("rsa-1")
    authorizer.handle(connect_event(token))
    other = connect_event(token)
    other["methodArn"] = other["methodArn"].replace("abcdef1234", "zzz999")
    resource = authorizer.handle(other)["policyDocument"]["Statement"][0]["Resource"][0]
    assert "zzz999/production/*" in resource


def test_an_expired_token_replayed_is_refused_from_the_negative_cache(authorizer: Authorizer, logs: Logs) -> None:
    event = connect_event(mint("rsa-1", claims(exp=NOW - 100)))
    assert outcome(authorizer, event) == ("unauthorized", "expired")
    assert outcome(authorizer, event) == ("unauthorized", "expired")
    assert logs[-1]["detail"] == "replayed"


def test_a_token_not_yet_valid_is_not_remembered_and_is_accepted_once_valid(authorizer: Authorizer, clock: Clock) -> None:
    event = connect_event(mint("rsa-1", claims(nbf=NOW + 30)))
    assert outcome(authorizer, event) == ("unauthorized", "not_yet_valid")
    clock.advance(31)
    assert outcome(authorizer, event)[0] == "allow"


def test_an_unexpected_error_on_odd_input_is_still_a_clean_unauthorized_logged_as_internal_error(
    authorizer: Authorizer,
    logs: Logs,
) -> None:
    event = connect_event()
    event["headers"] = ["Authorization", "Bearer x"]
    assert outcome(authorizer, event)[0] == "unauthorized"
    assert logs[-1]["level"] == "ERROR" and logs[-1]["reason"] == "internal_error"


def test_refusal_log_line_names_reason_issuer_kid_unverified_sub_fingerprint_and_connection(authorizer: Authorizer, logs: Logs) -> None:
    token = mint("rsa-1", claims(aud="elsewhere", sub="mallory"))
    outcome(authorizer, connect_event(token))
    line = logs[-1]
    assert line["reason"] == "bad_audience" and line["message"] == "unauthorized" and line["level"] == "INFO"
    assert line["issuer"] == "https://issuer.test" and line["kid"] == "rsa-1" and line["sub_unverified"] == "mallory"
    assert len(line["token"]) == 12 and line["connection_id"] == "FDmBIeapIAMCIQg="


def test_allows_are_logged_only_at_debug(tmp_path: Path, logs: Logs) -> None:
    quiet = make_authorizer(write_jwks(tmp_path, "rsa-1"), logs=logs)
    quiet.handle(connect_event(mint("rsa-1")))
    assert not [line for line in logs if line["message"] == "allowed"]
    verbose_logs = Logs()
    verbose = make_authorizer(write_jwks(tmp_path, "rsa-1"), logs=verbose_logs, LOG_LEVEL="DEBUG")
    verbose.handle(connect_event(mint("rsa-1")))
    assert verbose_logs[-1]["message"] == "allowed"


def test_rotation_mid_traffic_drops_cached_tokens_signed_by_the_removed_key(key_server: KeyServer) -> None:
    key_server.serve(jwks("rsa-1"))
    clock = Clock()
    rotating = make_authorizer(key_server.url, clock=clock, logs=Logs())
    old_token = mint("rsa-1")
    assert outcome(rotating, connect_event(old_token))[0] == "allow"
    assert outcome(rotating, connect_event(old_token))[0] == "allow"  # cached
    key_server.serve(jwks("rsa-2"))
    assert outcome(rotating, connect_event(mint("rsa-2")))[0] == "allow"  # new kid: refetch, rsa-1 leaves
    assert outcome(rotating, connect_event(old_token)) == ("unauthorized", "unknown_kid")
    assert key_server.requests == 2


def test_keys_unavailable_is_a_distinct_error_and_counted(key_server: KeyServer) -> None:
    from fastauthz.errors import KeysUnavailable

    key_server.serve(b"down", status=503)
    logs = Logs()
    broken = make_authorizer(key_server.url, logs=logs, JWT_JWKS_TIMEOUT_SECONDS="0.5")
    with pytest.raises(KeysUnavailable):
        broken.handle(connect_event(mint("rsa-1")))
    assert any(line.get("reason") == "keys_unavailable" for line in logs)


def test_snapstart_restore_hook_revalidates_keys_drops_connections_and_reseeds(key_server: KeyServer) -> None:
    import snapshot_restore_py

    key_server.serve(jwks("rsa-1"))
    clock = Clock()
    before = len(snapshot_restore_py.get_after_restore())
    restored = make_authorizer(key_server.url, clock=clock, logs=Logs())
    assert outcome(restored, connect_event(mint("rsa-1")))[0] == "allow"
    hooks = snapshot_restore_py.get_after_restore()[before:]
    assert len(hooks) == 1
    requests = key_server.requests
    for entry in hooks:  # what the Lambda runtime does after restoring a snapshot
        function, args, kwargs = entry if isinstance(entry, tuple) else (entry, (), {})
        function(*args, **kwargs)
    keystore = next(iter(restored.issuers.values())).keystore
    assert keystore is not None and keystore.refresh_after == float("-inf")
    assert outcome(restored, connect_event(mint("rsa-1", claims(sub="after-restore"))))[0] == "allow"
    deadline = time.monotonic() + 5
    while key_server.requests == requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert key_server.requests == requests + 1  # revalidated in the background


def test_a_cached_allow_does_not_outlive_the_key_sets_stale_window(key_server: KeyServer) -> None:
    """During a key-source outage longer than TTL + JWT_JWKS_MAX_STALE_SECONDS every call fails
    closed, a token verified before the outage included: the cache does not extend the keys' life."""
    from fastauthz.errors import KeysUnavailable

    key_server.serve(jwks("rsa-1"), headers={"Cache-Control": "max-age=600"})
    clock = Clock()
    authorizer = make_authorizer(key_server.url, clock=clock, JWT_JWKS_MAX_STALE_SECONDS="3600", JWT_JWKS_TIMEOUT_SECONDS="0.5")
    token = mint("rsa-1", claims(exp=NOW + 7 * 86400))  # valid for a week
    assert outcome(authorizer, connect_event(token))[0] == "allow"
    key_server.serve(b"down", status=503)
    clock.advance(600 + 3600 - 1)  # still inside the stale window: served from the cache
    assert outcome(authorizer, connect_event(token))[0] == "allow"
    clock.advance(2)  # past it: keys unavailable, and so is the cached decision
    with pytest.raises(KeysUnavailable):
        authorizer.handle(connect_event(mint("rsa-1", claims(sub="fresh", exp=NOW + 7 * 86400))))
    with pytest.raises(KeysUnavailable):
        authorizer.handle(connect_event(token))


def test_a_403_logs_the_fields_a_401_logs_fresh_or_cached(tmp_path: Path, clock: Clock) -> None:
    """`fastauthz inspect` finds a user's 403 by the token fingerprint as it finds a 401."""
    from fastauthz.logs import fingerprint

    logs = Logs()
    scoped = make_authorizer(write_jwks(tmp_path, "rsa-1"), clock=clock, logs=logs, JWT_REQUIRED_SCOPES="chat:admin")
    refused = connect_event(mint("rsa-1", claims(exp=NOW - 100)))
    assert outcome(scoped, refused) == ("unauthorized", "expired")
    unauthorized = logs[-1]
    token = mint("rsa-1")
    for _ in range(2):  # the first verifies, the second is a cache hit: both log the Deny
        assert outcome(scoped, connect_event(token))[0] == "deny"
        denied = logs[-1]
        assert denied["message"] == "denied" and denied["reason"] == "insufficient_scope"
        assert denied["token"] == fingerprint(token)
        assert denied["connection_id"] == unauthorized["connection_id"]
        assert denied["kid"] == "rsa-1" and denied["issuer"] == unauthorized["issuer"] and denied["sub"]
        assert set(unauthorized) - {"detail", "sub_unverified"} <= set(denied)


def test_a_handler_of_ones_own_learns_the_reason_from_decide_raising(authorizer: Authorizer, logs: Logs, clock: Clock) -> None:
    from fastauthz.errors import Rejected

    expired = connect_event(mint("rsa-1", claims(exp=NOW - 60)))
    assert authorizer.decide(expired) is None  # the Lambda contract: None, the handler raises Unauthorized
    with pytest.raises(Rejected) as refused:
        authorizer.decide(expired, raising=True)
    assert refused.value.reason == "expired"
    assert logs.reasons()[-2:] == ["expired", "expired"]  # the same log line either way
    assert authorizer.metrics.counts["Rejected.expired"] == 2
    assert authorizer.decide(connect_event(mint("rsa-1")), raising=True) is not None
