"""Key lifecycle against a real HTTP server on 127.0.0.1, with an injectable clock instead of sleeps."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fastauthz.errors import KeysUnavailable, Rejected
from fastauthz.keystore import DEFAULT_TTL, KeyStore, KeyTiming
from fastauthz.logs import Log
from testkit.authorizers import Clock, Logs
from testkit.keys import jwks
from testkit.server import KeyServer
from testkit.tokens import NOW


class Manual:
    """A spawner that holds background tasks until the test runs them."""

    def __init__(self) -> None:
        self.tasks: list[Callable[[], None]] = []

    def __call__(self, task: Callable[[], None]) -> None:
        self.tasks.append(task)

    def run(self) -> int:
        tasks, self.tasks = self.tasks, []
        for task in tasks:
            task()
        return len(tasks)


class Store(KeyStore):
    """The KeyStore under test, with what it reported through on_keys_removed kept beside it."""

    removed: list[set[str | None]]


def store(
    server: KeyServer, clock: Clock, logs: Logs | None = None, spawn: Callable[[Callable[[], None]], None] | None = None, **options: Any
) -> Store:
    removed: list[set[str | None]] = []
    timing = {"cooldown": 30.0, "timeout": 1.0, **{name: options.pop(name) for name in KeyTiming.__slots__ if name in options}}
    keystore = Store(
        server.url,
        log=Log("DEBUG", (logs if logs is not None else Logs()).write),
        clock=clock,
        spawn=spawn if spawn is not None else Manual(),
        on_keys_removed=removed.append,
        timing=KeyTiming(**timing),
        **options,
    )
    keystore.removed = removed
    return keystore


def spawned(keystore: KeyStore) -> Manual:
    """The background tasks a store() holds until the test runs them."""
    assert isinstance(keystore._spawn, Manual)
    return keystore._spawn


def started(server: KeyServer, clock: Clock, **options: Any) -> Store:
    """A store whose cold-start fetch has completed."""
    keystore = store(server, clock, **options)
    keystore.start(clock())
    spawned(keystore).run()
    assert keystore.key_for("rsa-1", clock()) is not None
    return keystore


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def served(key_server: KeyServer) -> KeyServer:
    key_server.serve(jwks("rsa-1", "es256-1"), headers={"Cache-Control": "max-age=600"})
    return key_server


def reason(callable_: Callable[[], object]) -> str:
    with pytest.raises(Rejected) as caught:
        callable_()
    return caught.value.reason


# -- cold start ------------------------------------------------------------------------------------
def test_cold_start_fetch_runs_in_the_background_and_the_first_token_waits_for_it(served: KeyServer, clock: Clock) -> None:
    served.delay = 0.5
    keystore = store(served, clock, spawn=_real_spawn)
    keystore.start(clock())
    flight = keystore._flight
    assert flight is not None and not flight.done.is_set()  # start() returned while the fetch is under way
    assert keystore.key_for("rsa-1", clock()).kid == "rsa-1"  # the first token waits for it
    assert served.requests == 1


def _real_spawn(task: Callable[[], None]) -> None:
    threading.Thread(target=task, daemon=True).start()


def test_cold_start_with_the_source_down_fails_closed_fast_then_recovers_when_it_is_up(served: KeyServer, clock: Clock) -> None:
    served.serve(b"down", status=503)
    keystore = store(served, clock, cooldown=10)
    keystore.start(clock())
    spawned(keystore).run()
    with pytest.raises(KeysUnavailable):
        keystore.key_for("rsa-1", clock())
    requests = served.requests
    with pytest.raises(KeysUnavailable):  # within the retry window: no fetch, so nothing to wait for
        keystore.key_for("rsa-1", clock())
    assert served.requests == requests and keystore._flight is None
    served.serve(jwks("rsa-1"))
    clock.advance(11)
    assert keystore.key_for("rsa-1", clock()).kid == "rsa-1"


def test_a_snapshot_is_served_at_once_and_revalidated_in_the_background_from_the_first_lookup(
    served: KeyServer, clock: Clock, tmp_path: Path
) -> None:
    snapshot = tmp_path / "snapshot.json"
    snapshot.write_text(json.dumps(jwks("rsa-1")))
    served.serve(jwks("rsa-1", "rsa-2"))
    keystore = store(served, clock, snapshot=f"file://{snapshot}")
    keystore.start(clock())
    assert served.requests == 0 and not spawned(keystore).tasks  # nothing competes with the cold start
    assert keystore.key_for("rsa-1", clock()).kid == "rsa-1"  # no network on the cold path
    assert spawned(keystore).run() == 1  # the revalidation, scheduled by that lookup
    assert keystore.key_for("rsa-2", clock()).kid == "rsa-2"
    assert served.requests == 1


def test_a_file_source_is_pinned_never_refetched_and_unknown_kids_fail_at_once(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks("rsa-1")))
    keystore = KeyStore(f"file://{path}", log=Log("INFO", Logs().write), clock=clock)
    keystore.start(clock())
    clock.advance(10 * 86400)
    assert keystore.key_for("rsa-1", clock()).kid == "rsa-1"
    assert reason(lambda: keystore.key_for("other", clock())) == "unknown_kid"
    assert keystore.fetch_count == 1


# -- freshness ---------------------------------------------------------------------------------------
def test_ttl_comes_from_cache_control_clamped_else_the_default_else_the_setting(served: KeyServer, clock: Clock) -> None:
    assert started(served, clock).expires == NOW + 600
    served.serve(jwks("rsa-1"), headers={"Cache-Control": "public, max-age=5"})
    assert started(served, clock).expires == NOW + 60  # clamped up
    served.serve(jwks("rsa-1"), headers={"Cache-Control": "max-age=31536000"})
    assert started(served, clock).expires == NOW + 86400  # clamped down
    served.serve(jwks("rsa-1"))
    assert started(served, clock).expires == NOW + DEFAULT_TTL
    assert started(served, clock, ttl=120).expires == NOW + 120


def test_refresh_ahead_answers_from_cache_and_schedules_exactly_one_background_refresh(served: KeyServer, clock: Clock) -> None:
    keystore = started(served, clock)
    clock.advance(550)  # past 90% of 600 s
    served.serve(jwks("rsa-1", "rsa-2"), headers={"Cache-Control": "max-age=600"})
    for _ in range(5):
        assert keystore.key_for("rsa-1", clock()).kid == "rsa-1"
    assert len(spawned(keystore).tasks) == 1 and served.requests == 1  # nothing waited, one refresh queued
    spawned(keystore).run()
    assert keystore.key_for("rsa-2", clock()).kid == "rsa-2"
    assert keystore.expires == clock() + 600


def test_the_invocation_that_triggers_a_refresh_does_not_wait_for_a_slow_source(served: KeyServer, clock: Clock) -> None:
    keystore = started(served, clock, spawn=Manual())
    keystore._spawn = _real_spawn
    served.delay = 0.5
    clock.advance(599)
    assert keystore.key_for("rsa-1", clock()).kid == "rsa-1"
    flight = keystore._flight
    assert flight is not None and not flight.done.is_set()  # answered while the refresh is still under way


# -- rotation and unknown kids ------------------------------------------------------------------------
def test_rotation_a_removed_key_stops_validating_at_the_fetch_that_removed_it(served: KeyServer, clock: Clock) -> None:
    keystore = started(served, clock)
    served.serve(jwks("rsa-2", "es256-1"))
    assert keystore.key_for("rsa-2", clock()).kid == "rsa-2"  # unknown kid: one refetch
    assert reason(lambda: keystore.key_for("rsa-1", clock())) == "unknown_kid"
    assert keystore.removed == [{"rsa-1"}]


def test_a_key_replaced_under_the_same_kid_counts_as_removed(served: KeyServer, clock: Clock) -> None:
    keystore = started(served, clock)
    replacement = jwks("rsa-2")["keys"][0] | {"kid": "rsa-1"}
    served.serve({"keys": [replacement, jwks("es256-1")["keys"][0], jwks("es384-1")["keys"][0]]})
    keystore.key_for("es384-1", clock())
    assert keystore.removed == [{"rsa-1"}]


def test_unknown_kid_refetches_once_then_cools_down(served: KeyServer, clock: Clock) -> None:
    keystore = started(served, clock, cooldown=30)
    for i in range(50):
        assert reason(functools.partial(keystore.key_for, f"random-{i}", clock())) == "unknown_kid"
    assert served.requests == 2
    clock.advance(31)
    assert reason(lambda: keystore.key_for("random-0", clock())) == "unknown_kid"  # remembered: no fetch
    assert reason(lambda: keystore.key_for("fresh-kid", clock())) == "unknown_kid"
    assert served.requests == 3


def test_a_flood_of_random_kids_costs_at_most_one_fetch_per_cooldown(served: KeyServer, clock: Clock) -> None:
    keystore = started(served, clock, cooldown=30)
    for i in range(3000):
        clock.advance(0.1)  # 300 s of flood
        with pytest.raises(Rejected):
            keystore.key_for(f"flood-{i}", clock())
    assert served.requests - 1 <= 300 / 30 + 1


def test_concurrent_callers_with_a_new_kid_share_one_fetch(served: KeyServer, clock: Clock) -> None:
    keystore = started(served, clock)
    served.serve(jwks("rsa-1", "rsa-2"))
    served.delay = 0.3
    results, barrier = [], threading.Barrier(8)

    def call() -> None:
        barrier.wait()
        try:
            results.append(keystore.key_for("rsa-2", clock()).kid)
        except Rejected as rejection:
            results.append(rejection.reason)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert served.requests == 2  # the cold-start fetch and one shared refetch
    assert results.count("rsa-2") >= 1 and set(results) <= {"rsa-2", "unknown_kid"}


# -- failures ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "headers"),
    [
        (b"internal error", 500, {}),
        (b"<html>not json</html>", 200, {"Content-Type": "text/html"}),
        (b'{"keys": {"kid": "x"}}', 200, {}),
        (b'{"keys": []}', 200, {}),
        (b"x" * (20 * 1024 * 1024), 200, {}),
        (b"null", 200, {}),
    ],
)
def test_a_bad_answer_never_replaces_a_good_key_set(
    served: KeyServer, clock: Clock, body: bytes, status: int, headers: dict[str, str]
) -> None:
    keystore = started(served, clock, cooldown=0)
    served.serve(body, status=status, headers=headers)
    assert reason(lambda: keystore.key_for("new-kid", clock())) == "unknown_kid"
    assert keystore.key_for("rsa-1", clock()).kid == "rsa-1"
    assert keystore.key_for("es256-1", clock()).kid == "es256-1"


def test_5xx_is_retried_a_bounded_number_of_times(served: KeyServer, clock: Clock) -> None:
    keystore = started(served, clock, cooldown=0)
    served.serve(b"busy", status=503)
    before = served.requests
    keystore.refresh(clock())
    assert served.requests - before == 3  # one attempt and two retries


def test_connection_refused_keeps_serving_the_last_good_set(served: KeyServer, clock: Clock) -> None:
    keystore = started(served, clock, cooldown=0)
    served.close()
    clock.advance(700)  # expired, inside the stale window
    assert keystore.key_for("rsa-1", clock()).kid == "rsa-1"


def test_a_source_slower_than_the_timeout_fails_within_the_timeout(served: KeyServer, clock: Clock) -> None:
    keystore = started(served, clock, cooldown=0, timeout=0.3)
    served.delay = 5.0
    began = time.perf_counter()
    assert not keystore.refresh(clock())
    assert time.perf_counter() - began < 3.0  # gave up at the timeout, not when the 5 s answer came
    assert keystore.key_for("rsa-1", clock()).kid == "rsa-1"


def test_an_outage_longer_than_the_stale_window_fails_closed_loudly_then_recovers(served: KeyServer, clock: Clock) -> None:
    logs = Logs()
    keystore = store(served, clock, logs=logs, cooldown=5, max_stale=3600)
    keystore.start(clock())
    spawned(keystore).run()
    keystore.key_for("rsa-1", clock())
    served.serve(b"down", status=503)
    clock.advance(600 + 3599)  # expired, one second left in the stale window
    assert keystore.key_for("rsa-1", clock()).kid == "rsa-1"
    spawned(keystore).run()  # the background revalidation fails
    clock.advance(2)
    with pytest.raises(KeysUnavailable):
        keystore.key_for("rsa-1", clock())
    assert any(line.get("reason") == "keys_unavailable" and line["level"] == "ERROR" for line in logs)
    served.serve(jwks("rsa-1"))
    clock.advance(6)
    assert keystore.key_for("rsa-1", clock()).kid == "rsa-1"


def test_each_fetch_is_logged_with_outcome_duration_and_key_count(served: KeyServer, clock: Clock) -> None:
    logs = Logs()
    keystore = store(served, clock, logs=logs)
    keystore.start(clock())
    spawned(keystore).run()
    keystore.key_for("rsa-1", clock())
    line = next(line for line in logs if line["message"] == "keys fetched")
    assert line["outcome"] == "ok" and line["keys"] == 2 and "duration_ms" in line


def test_after_a_snapstart_restore_keys_are_revalidated(served: KeyServer, clock: Clock) -> None:
    keystore = started(served, clock)
    keystore.after_restore()
    keystore.key_for("rsa-1", clock())
    assert len(spawned(keystore).tasks) == 1
