"""Key lifecycle for one issuer, built for Lambda. `key_for` is the hot path; the rest is cold.

Timeline of a fetched key set (times from the fetch):
    0 ........ refresh_after ........ expires ................ stale_until
    serve      serve + one background refresh   serve stale (+ refresh)   wait for a fetch, else fail closed
`refresh_after` is 90% of the TTL, so a busy function refreshes before its keys expire and no
invocation waits. Only two things make a call wait (at most JWT_JWKS_TIMEOUT_SECONDS): an unknown
kid (one single-flight refetch, then a cooldown) and having no servable keys.

Threads: a fetch may run on a background worker, but only an invoking thread changes the store
(installs a fetched set, purges caches): the worker hands its result over, and one invoking thread
takes it. Callers on several threads (Authorizer.verify in a threaded server) share one fetch. In Lambda the worker runs
only while some invocation is in progress (the sandbox is frozen in between), which is why nothing
may depend on it finishing between invocations.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

from .errors import KeySetError, KeysUnavailable, Rejected, truncate
from .fetch import Fetched, FetchError, fetch_document
from .keys import KeySet, PreparedKey, load_key_set
from .logs import Log
from .settings import default

DEFAULT_TTL = 3600.0  # when the source sends no Cache-Control max-age (and none is configured)
REFRESH_AHEAD = 0.9  # start refreshing at this fraction of the TTL
MAX_REMEMBERED_UNKNOWN_KIDS = 1024
INFINITY = float("inf")
_NO_LOCK = nullcontext()


class _Flight:
    """One fetch in progress; callers that need its result wait on `done`."""

    __slots__ = ("done", "error", "number", "result", "uri")

    def __init__(self, done: Any) -> None:
        self.done = done
        self.number = 0
        self.uri = ""  # the key URL this fetch found by OIDC discovery
        self.result: tuple[KeySet, float | None, float] | None = None
        self.error: str | None = None


Fetch = Callable[[str, float, int], Fetched]  # (URL, timeout in seconds, retries) -> the document; raises FetchError


class KeyTiming:
    """How long keys are trusted and how hard their source is pressed, in seconds. The defaults are
    the settings table's (JWT_JWKS_*); `ttl` None: the source's Cache-Control, else DEFAULT_TTL."""

    __slots__ = ("cooldown", "max_stale", "retries", "timeout", "ttl")

    def __init__(
        self,
        ttl: float | None = default("JWT_JWKS_TTL_SECONDS"),
        max_stale: float = default("JWT_JWKS_MAX_STALE_SECONDS"),
        cooldown: float = default("JWT_JWKS_COOLDOWN_SECONDS"),
        timeout: float = default("JWT_JWKS_TIMEOUT_SECONDS"),
        retries: int = 2,
    ) -> None:
        self.ttl = ttl
        self.max_stale = max_stale
        self.cooldown = cooldown
        self.timeout = timeout
        self.retries = retries


class KeyStore:
    """Keys of one issuer's source (`https://…` or `file://…`), optionally seeded from a snapshot.

    Its collaborators are passed in, as aws-jwt-verify's SimpleJwksCache takes its fetcher: `fetch`
    (fetch.fetch_document: tests hand in their own), `spawn` (the background worker), `clock`,
    `on_keys_removed` (the authorizer purges its caches) and `log` and `metrics`."""

    def __init__(
        self,
        uri: str,
        *,
        log: Log,
        metrics: Any = None,
        timing: KeyTiming | None = None,
        fetch: Fetch = fetch_document,
        clock: Callable[[], float] = time.time,
        spawn: Callable[[Callable[[], None]], None] | None = None,
        on_keys_removed: Callable[[set[str | None]], None] | None = None,
        snapshot: str = "",
        discover_from: str = "",
    ) -> None:
        self.uri = uri  # empty until OIDC discovery from `discover_from` (an issuer) has found it
        self.discover_from = discover_from
        self.pinned = uri.startswith("file://")  # shipped with the function: never expires, never refetched
        self.snapshot = snapshot
        self._log = log
        self._metrics = metrics
        timing = timing if timing is not None else KeyTiming()
        self._ttl = timing.ttl
        self._max_stale = timing.max_stale
        self._cooldown = timing.cooldown
        self._timeout = timing.timeout
        self._retries = timing.retries
        self._fetch = fetch
        self._clock = clock
        self._on_keys_removed = on_keys_removed
        self._spawn = spawn
        self.keys: KeySet | None = None
        self.fetched_at = -INFINITY
        self.refresh_after = -INFINITY
        self.expires = -INFINITY
        self.stale_until = -INFINITY
        self.retry_after = -INFINITY  # after a failed fetch, no new one before this
        self._next_unknown_kid_fetch = -INFINITY
        self._unknown_kids: set[str | None] = set()
        self._flight: _Flight | None = None
        self._lock: Any = None  # a _thread lock, created on first fetch: file:// never loads one
        self.fetch_count = 0
        self.installed_fetch = 0  # the number of the fetch whose key set is installed

    @property
    def source(self) -> str:
        """Where the keys come from, for log lines: the key URL, or the discovery still to find it."""
        return self.uri or f"OIDC discovery of {self.discover_from}"

    # -- hot path ----------------------------------------------------------------------------
    def key_for(self, kid: str | None, now: float) -> PreparedKey:
        """The key for `kid`. Raises Rejected('unknown_kid' | 'missing_kid') or KeysUnavailable."""
        keys = self.keys
        if keys is not None and now < self.refresh_after:
            key = keys.find(kid)
            if key is not None:
                return key
        return self._slow_key_for(kid, now)

    # -- cold start ----------------------------------------------------------------------------
    def start(self, now: float) -> None:
        """Cold start: keys from a file or snapshot are usable at once; a URL fetch starts in the
        background so its round trip overlaps the rest of initialisation."""
        if self.pinned:
            self._fetch_now(now)
            if self.keys is None:
                self._log.error("pinned key set unusable", reason="keys_unavailable", jwks_uri=self.uri)
            return
        if self.snapshot:
            try:
                snapshot_keys = load_key_set(self._fetch(self.snapshot, self._timeout, 0).body)
            except (FetchError, KeySetError) as error:
                self._log.warn("key snapshot unusable, fetching instead", snapshot=self.snapshot, error=str(error))
            else:
                # Servable now, revalidated against the URL in the background from the first key
                # lookup on (refresh_after is past): starting it here put the worker's socket and ssl
                # imports (~9 ms, holding the GIL) in the way of the first Allow (bench/coldstart.py).
                self.install(snapshot_keys, now, max_age=None)
                self.refresh_after = -INFINITY
                self._log.info("keys loaded from snapshot", snapshot=self.snapshot, keys=len(snapshot_keys))
                return
        self._begin_fetch(now, wait=False)

    # -- cold path -----------------------------------------------------------------------------
    def _slow_key_for(self, kid: str | None, now: float) -> PreparedKey:
        self._take_fetched(now)
        if self.keys is None or now >= self.stale_until:
            if now < self.retry_after and self._flight is None:
                raise self._unavailable(now)  # failed moments ago: do not make every caller wait
            self._begin_fetch(now, wait=True)
        elif now >= self.refresh_after and not self.pinned and now >= self.retry_after:
            self._begin_fetch(now, wait=False)  # stale-while-revalidate: answer from what we have
        keys = self.keys
        if keys is None or now >= self.stale_until:
            raise self._unavailable(now)
        if now >= self.expires and self._metrics is not None:
            self._metrics.counts["StaleKeysServed"] = self._metrics.counts.get("StaleKeysServed", 0) + 1
        key = keys.find(kid)
        if key is not None:
            return key
        if kid is None:
            raise Rejected("missing_kid", "token has no kid and the key set has several keys")
        if self.pinned or kid in self._unknown_kids:
            raise Rejected("unknown_kid", truncate(kid))
        refetched = True
        if now >= self._next_unknown_kid_fetch:
            # A kid we have not seen may be a key the issuer just published: one refetch, then cool down.
            self._next_unknown_kid_fetch = now + self._cooldown
            self._begin_fetch(now, wait=True)
        elif self._flight is not None:
            self._begin_fetch(now, wait=True)  # a fetch is under way (another thread's refetch): share it
        else:
            refetched = False  # cooling down
        keys = self.keys  # installed meanwhile by this call, or by another thread
        key = keys.find(kid) if keys is not None else None
        if key is not None:
            return key
        if refetched:
            if len(self._unknown_kids) >= MAX_REMEMBERED_UNKNOWN_KIDS:
                self._unknown_kids.clear()
            self._unknown_kids.add(kid)
        raise Rejected("unknown_kid", truncate(kid))

    def ready(self, kid: str | None, now: float) -> bool:
        """Whether key_for(kid, now) answers without waiting for a fetch (Authorizer.averify)."""
        keys = self.keys
        if keys is None or now >= self.stale_until:
            return False
        if kid is None or keys.find(kid) is not None:
            return True  # found, or missing_kid; stale keys start a background refresh, they do not wait
        return self.pinned or kid in self._unknown_kids or (now < self._next_unknown_kid_fetch and self._flight is None)

    def _unavailable(self, now: float) -> KeysUnavailable:
        age = round(now - self.fetched_at) if self.keys is not None else None
        self._log.error("keys unavailable: failing closed", reason="keys_unavailable", jwks_uri=self.source, keys_age_s=age)
        return KeysUnavailable(f"fastauthz: no servable keys for {self.source}")

    def _begin_fetch(self, now: float, wait: bool) -> None:
        """Start a fetch unless one is in flight (single flight); with `wait`, take its result."""
        if self._lock is None:
            from _thread import allocate_lock

            self._lock = allocate_lock()
        with self._lock:
            flight = self._flight
            owner = flight is None
            if owner:
                flight = self._flight = _Flight(_Signal())
        assert flight is not None
        if owner:
            if wait:
                self._run(flight)  # the caller waits anyway: no thread hop
            else:
                (self._spawn or _spawn_daemon)(lambda: self._run(flight))
        if wait:
            flight.done.wait(self._timeout + 1.0)  # joining a background fetch: bounded like our own
            self._take_fetched(now)

    def _run(self, flight: _Flight) -> None:
        """The fetch itself (possibly on the worker): produces a result, changes nothing else."""
        self.fetch_count += 1
        flight.number = self.fetch_count
        try:
            uri = self.uri
            if not uri:  # issuer-only setup: discovery is part of the first fetch, its answer kept like keys
                from .providers import discover_jwks_uri

                uri = flight.uri = discover_jwks_uri(self.discover_from, self._timeout, self._retries, self._fetch)
            fetched = self._fetch(uri, self._timeout, self._retries)
            flight.result = (load_key_set(fetched.body), fetched.max_age, fetched.duration)
        except (FetchError, KeySetError) as error:
            flight.error = str(error)
        except Exception as error:  # never let a worker die silently
            flight.error = f"{type(error).__name__}: {error}"
        finally:
            flight.done.set()

    def _take_fetched(self, now: float) -> None:
        """On the invoking thread: install what a finished fetch produced, or record its failure.
        Several threads may finish waiting for one fetch (a threaded server): one of them takes it."""
        flight = self._flight
        if flight is None or not flight.done.is_set():
            return
        with self._lock or _NO_LOCK:  # no lock: a fetch on this thread (file://, refresh())
            if self._flight is not flight:
                return  # another thread took it
            self._flight = None
        if flight.uri and not self.uri:
            self.uri = flight.uri
            self._log.info("key URL discovered", issuer=self.discover_from, jwks_uri=self.uri)
        if flight.result is not None:
            keys, max_age, duration = flight.result
            self.install(keys, now, max_age)
            self.installed_fetch = flight.number
            self._log.info(
                "keys fetched",
                jwks_uri=self.uri,
                outcome="ok",
                keys=len(keys),
                duration_ms=round(duration * 1000, 1),
                ttl_s=None if self.pinned else round(self.expires - now),
                **({"skipped": keys.skipped} if keys.skipped else {}),
            )
            if self._metrics is not None:
                self._metrics.counts["KeyFetch"] = self._metrics.counts.get("KeyFetch", 0) + 1
        else:
            self.retry_after = now + max(self._cooldown, 1.0)
            serving = self.keys is not None and now < self.stale_until
            self._log.error(
                "key fetch failed",
                reason="fetch_failed",
                jwks_uri=self.source,
                outcome="failed",
                error=flight.error,
                serving_stale=serving,
                keys_age_s=round(now - self.fetched_at) if self.keys is not None else None,
            )
            if self._metrics is not None:
                self._metrics.counts["KeyFetchFailed"] = self._metrics.counts.get("KeyFetchFailed", 0) + 1

    def _fetch_now(self, now: float) -> bool:
        flight = _Flight(_Done())
        self._flight = flight
        self._run(flight)
        self._take_fetched(now)
        return flight.result is not None

    def refresh(self, now: float | None = None) -> bool:
        """Fetch and install now, on this thread (tooling, tests). False if the fetch failed."""
        return self._fetch_now(self._clock() if now is None else now)

    def install(self, new_keys: KeySet, now: float, max_age: float | None = None) -> None:
        old_keys = self.keys
        ttl = INFINITY if self.pinned else (self._ttl or max_age or DEFAULT_TTL)
        self.keys = new_keys
        self.fetched_at = now
        self.expires = now + ttl
        self.refresh_after = now + ttl * REFRESH_AHEAD
        self.stale_until = self.expires + self._max_stale
        self.retry_after = -INFINITY
        self._unknown_kids.clear()
        if old_keys is not None and self._on_keys_removed is not None:
            removed = {
                kid for kid, key in old_keys.by_kid.items() if (new := new_keys.by_kid.get(kid)) is None or new.material != key.material
            }
            if removed:
                self._on_keys_removed(removed)

    def after_restore(self) -> None:
        """SnapStart: the snapshot's keys are of unknown age; revalidate them at the next call."""
        self.refresh_after = -INFINITY
        self.retry_after = -INFINITY
        self._next_unknown_kid_fetch = -INFINITY
        self._unknown_kids.clear()
        self._flight = None


class _Signal:
    """threading.Event's set / is_set / wait, on one `_thread` lock: the threading module's import
    (0.9 ms) and queue's (0.7 ms) sat on the cold start of every URL and snapshot key source
    (bench/coldstart.py). Set once, by the fetch that owns it; any number of waiters."""

    __slots__ = ("_flag", "_lock")

    def __init__(self) -> None:
        from _thread import allocate_lock

        self._flag = False
        self._lock = allocate_lock()
        self._lock.acquire()  # held until set(): waiters block on it

    def set(self) -> None:
        self._flag = True
        self._lock.release()

    def is_set(self) -> bool:
        return self._flag

    def wait(self, timeout: float | None = None) -> bool:
        if not self._flag and self._lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            self._lock.release()  # let the next waiter through
        return self._flag


class _Done:
    """An already-set event, for fetches run inline."""

    def set(self) -> None:
        pass

    def is_set(self) -> bool:
        return True

    def wait(self, timeout: float | None = None) -> bool:
        return True


_tasks: Any = None


def _spawn_daemon(task: Callable[[], None]) -> None:
    """Run `task` on the process's one background worker. Handing it over costs ~1 µs; starting a
    thread per refresh would cost the triggering invocation ~90 µs (measured here)."""
    global _tasks
    if _tasks is None:
        from _queue import SimpleQueue  # queue.SimpleQueue itself, without queue.py's imports
        from _thread import start_new_thread  # a daemon thread: it never holds up the process's exit

        _tasks = SimpleQueue()
        start_new_thread(_work, (_tasks,))
    _tasks.put(task)


def _work(tasks: Any) -> None:
    while True:
        task = tasks.get()
        try:
            task()
        except Exception:  # noqa: S112 (tasks report their own failures; the worker must survive)
            continue
