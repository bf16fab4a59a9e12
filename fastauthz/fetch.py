"""The one place that does I/O for keys: `file://` reads and HTTP(S) GETs through urllib3.

Cold path. urllib3 (and with it ssl, ~80 ms) is imported on the first HTTP fetch only, so a
function whose keys ship as `file://` never loads it.
"""

from __future__ import annotations

import random
import time
from typing import Any

MAX_KEY_SET_BYTES = 1 << 20  # real key sets are a few KB; anything near this is not a key set
MAX_AGE_BOUNDS = (60.0, 86400.0)  # a provider's Cache-Control is believed within these
_RETRY_STATUSES = frozenset({500, 502, 503, 504})


class FetchError(Exception):
    """The key source did not deliver a document (network, status, size)."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class Fetched:
    __slots__ = ("body", "duration", "max_age")

    def __init__(self, body: bytes, max_age: float | None, duration: float) -> None:
        self.body = body
        self.max_age = max_age
        self.duration = duration


_pool: Any = None


def _pool_manager() -> Any:
    global _pool
    if _pool is None:
        import urllib3

        _pool = urllib3.PoolManager(num_pools=4, maxsize=2, headers={"User-Agent": "fastauthz", "Accept": "application/json"})
    return _pool


def reset_connections() -> None:
    """Drop pooled connections (after a SnapStart restore they point at dead sockets)."""
    if _pool is not None:
        _pool.clear()


def parse_max_age(cache_control: str | None) -> float | None:
    """`max-age` from a Cache-Control header, clamped to MAX_AGE_BOUNDS; None when absent."""
    if not cache_control:
        return None
    for directive in cache_control.lower().split(","):
        name, _, value = directive.strip().partition("=")
        if name == "no-store" or name == "no-cache":
            return MAX_AGE_BOUNDS[0]
        if name == "max-age":
            try:
                seconds = float(value.strip().strip('"'))
            except ValueError:
                return None
            return min(max(seconds, MAX_AGE_BOUNDS[0]), MAX_AGE_BOUNDS[1])
    return None


def _backoff(attempt: int) -> float:
    jitter = random.random()  # noqa: S311 (jitter, not crypto)
    return 0.05 * 2.0**attempt * (0.5 + jitter)


def fetch_document(uri: str, timeout: float, retries: int = 2) -> Fetched:
    """Fetch a key document within `timeout` seconds in all. Raises FetchError.

    Connection errors and 5xx are retried (at most `retries` times, jittered backoff) while the
    budget lasts: a caller waiting on keys never waits longer than the timeout.
    """
    started = time.monotonic()
    if uri.startswith("file://"):
        return Fetched(_read_file(uri[len("file://"):]), None, time.monotonic() - started)
    import urllib3

    started = time.monotonic()  # the first fetch's urllib3 import is not the source's latency
    deadline = started + timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            return _get(uri, max(deadline - time.monotonic(), 0.01), started)
        except FetchError as error:
            failure = error
        except urllib3.exceptions.HTTPError as error:
            failure = FetchError(f"{type(error).__name__}: {error}", retryable=True)
        backoff = _backoff(attempt)
        if not failure.retryable or attempt > retries or time.monotonic() + backoff >= deadline:
            raise failure
        time.sleep(backoff)


def _get(uri: str, timeout: float, started: float) -> Fetched:
    import urllib3

    deadline = time.monotonic() + timeout
    response = _pool_manager().request(
        "GET", uri, preload_content=False, redirect=False, retries=False,
        timeout=urllib3.Timeout(total=timeout),
    )
    try:
        if response.status != 200:
            raise FetchError(f"HTTP {response.status}", retryable=response.status in _RETRY_STATUSES)
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > MAX_KEY_SET_BYTES:
            raise FetchError(f"body of {declared} bytes > {MAX_KEY_SET_BYTES}")
        body = b""
        for chunk in response.stream(65536):
            body += chunk
            if time.monotonic() > deadline:  # a source dripping bytes must not hold a caller
                raise FetchError("body not received within the timeout", retryable=True)
            if len(body) > MAX_KEY_SET_BYTES:
                raise FetchError(f"body larger than {MAX_KEY_SET_BYTES} bytes")
    except BaseException:
        response.close()  # never return a half-read connection to the pool
        raise
    response.release_conn()
    return Fetched(body, parse_max_age(response.headers.get("Cache-Control")), time.monotonic() - started)


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            body = handle.read(MAX_KEY_SET_BYTES + 1)
    except OSError as error:
        raise FetchError(f"cannot read {path}: {error.strerror}") from None
    if len(body) > MAX_KEY_SET_BYTES:
        raise FetchError(f"{path} is larger than {MAX_KEY_SET_BYTES} bytes")
    return body
