"""The one place that does I/O for keys: `file://` reads and HTTP(S) GETs. Cold path.

A small HTTP/1.1 client on `socket` and `ssl` rather than urllib3 or http.client: a key fetch is one
GET of a small JSON document, and the import is on the cold start's critical path whenever keys come
from a URL. Measured here after orjson's imports: urllib3 51 ms, http.client 18 ms (it pulls the
email package), socket + ssl 9 ms (socket alone, for plain-http loopback sources, 2 ms). What urllib3
gave is kept: a total deadline per fetch, bounded retries with jittered backoff for connection
errors and 5xx, a 1 MiB body cap (declared or streamed), no redirects, one kept-alive connection per
origin reused across refreshes, TLS verification with the system's CAs and hostname checking.
"""

from __future__ import annotations

import random
import time
from typing import Any

MAX_KEY_SET_BYTES = 1 << 20  # real key sets are a few KB; anything near this is not a key set
MAX_AGE_BOUNDS = (60.0, 86400.0)  # a provider's Cache-Control is believed within these
MAX_HEADER_LINE = 8192
MAX_HEADERS = 100
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


def fetch_document(uri: str, timeout: float, retries: int = 2) -> Fetched:
    """Fetch a key document within `timeout` seconds in all. Raises FetchError.

    Connection errors and 5xx are retried (at most `retries` times, jittered backoff) while the
    budget lasts: a caller waiting on keys never waits longer than the timeout.
    """
    started = time.monotonic()
    if uri.startswith("file://"):
        return Fetched(_read_file(uri[len("file://") :]), None, time.monotonic() - started)
    origin, target = split_url(uri)
    deadline = started + timeout
    attempt = 0
    while True:
        attempt += 1
        try:
            status, headers, body = _get(origin, target, deadline)
        except FetchError as error:
            failure = error
        else:
            if status == 200:
                return Fetched(body, parse_max_age(headers.get("cache-control")), time.monotonic() - started)
            failure = FetchError(f"HTTP {status}", retryable=status in _RETRY_STATUSES)
        backoff = _backoff(attempt)
        if not failure.retryable or attempt > retries or time.monotonic() + backoff >= deadline:
            raise failure
        time.sleep(backoff)


def _backoff(attempt: int) -> float:
    jitter = random.random()  # noqa: S311 (jitter, not crypto)
    return 0.05 * 2.0**attempt * (0.5 + jitter)


def _read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            body = handle.read(MAX_KEY_SET_BYTES + 1)
    except OSError as error:
        raise FetchError(f"cannot read {path}: {error.strerror}") from None
    if len(body) > MAX_KEY_SET_BYTES:
        raise FetchError(f"{path} is larger than {MAX_KEY_SET_BYTES} bytes")
    return body


# -- HTTP/1.1 ------------------------------------------------------------------------------------

Origin = tuple[str, str, int]  # (scheme, host, port)


def split_url(uri: str) -> tuple[Origin, str]:
    """((scheme, host, port), request target) of an http(s) URL. Raises FetchError."""
    scheme, separator, rest = uri.partition("://")
    scheme = scheme.lower()
    if not separator or scheme not in ("http", "https"):
        raise FetchError(f"not an http(s) URL: {uri[:80]}")
    authority, slash, path = rest.partition("/")
    authority, _, _ = authority.partition("#")
    target = "/" + path.partition("#")[0] if slash else "/"
    if "@" in authority:
        raise FetchError("credentials in a key URL are not supported")
    if authority.startswith("["):  # an IPv6 literal
        host, _, port_text = authority[1:].partition("]")
        port_text = port_text[1:] if port_text.startswith(":") else ""
    else:
        host, _, port_text = authority.partition(":")
    if not host or (port_text and not port_text.isdigit()):
        raise FetchError(f"bad host in URL: {uri[:80]}")
    port = int(port_text) if port_text else (443 if scheme == "https" else 80)
    return (scheme, host, port), target


_idle: dict[Origin, _Connection] = {}  # origin -> a kept-alive connection; taken out while in use
_tls: Any = None


def reset_connections() -> None:
    """Drop kept-alive connections (after a SnapStart restore they point at dead sockets)."""
    while _idle:
        _idle.popitem()[1].close()


def _get(origin: Origin, target: str, deadline: float) -> tuple[int, dict[str, str], bytes]:
    reused = _idle.pop(origin, None)
    if reused is not None:
        try:
            return reused.get(target, deadline)
        except _StaleConnection:
            pass  # the server closed it while idle: one fresh connection, not a retry
    return _Connection(origin, deadline).get(target, deadline)


class _StaleConnection(Exception):
    """A reused connection was closed by the server before it sent anything."""


class _Connection:
    __slots__ = ("fresh", "origin", "reader", "sock")

    def __init__(self, origin: Origin, deadline: float) -> None:
        import socket

        scheme, host, port = origin
        self.origin = origin
        self.fresh = True
        try:
            sock = socket.create_connection((host, port), timeout=_remaining(deadline))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                sock = _tls_context().wrap_socket(sock, server_hostname=host)
        except OSError as error:  # ssl.SSLError, socket.timeout and refusals are all OSError
            raise FetchError(f"cannot connect to {host}:{port}: {_describe(error)}", retryable=True) from None
        self.sock = sock
        self.reader = sock.makefile("rb")

    def get(self, target: str, deadline: float) -> tuple[int, dict[str, str], bytes]:
        scheme, host, port = self.origin
        default_port = 443 if scheme == "https" else 80
        authority = f"[{host}]" if ":" in host else host
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {authority}{'' if port == default_port else f':{port}'}\r\n"
            "User-Agent: fastauthz\r\nAccept: application/json\r\nAccept-Encoding: identity\r\n\r\n"
        )
        reusable = answered = False
        try:
            self.sock.settimeout(_remaining(deadline))
            self.sock.sendall(request.encode("ascii"))
            status, headers = self._head(deadline)
            answered = True
            body = b"" if status in (204, 304) else self._body(headers, deadline)
            delimited = "content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower()
            reusable = delimited and headers.get("connection", "").lower() != "close"
            return status, headers, body
        except OSError as error:
            if not answered and not self.fresh:
                raise _StaleConnection from None  # reset or closed while idle
            raise FetchError(f"{host}:{port}: {_describe(error)}", retryable=True) from None
        finally:
            self.fresh = False
            if reusable:
                _idle[self.origin] = self
            else:
                self.close()

    def _line(self, deadline: float) -> bytes:
        self.sock.settimeout(_remaining(deadline))
        line: bytes = self.reader.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE:
            raise FetchError("response header line too long")
        return line

    def _head(self, deadline: float) -> tuple[int, dict[str, str]]:
        line = self._line(deadline)
        if not line:
            if not self.fresh:
                raise _StaleConnection
            raise FetchError("connection closed before a response", retryable=True)
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise FetchError("not an HTTP/1.x response")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = self._line(deadline)
            if line in (b"\r\n", b"\n", b""):
                if status in (100, 103):  # interim responses: the real one follows
                    return self._head(deadline)
                return status, headers
            name, colon, value = line.decode("latin-1").partition(":")
            if not colon:
                raise FetchError("malformed response header")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        raise FetchError("too many response headers")

    def _body(self, headers: dict[str, str], deadline: float) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._chunked(deadline)
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise FetchError("bad Content-Length")
            if int(declared) > MAX_KEY_SET_BYTES:
                raise FetchError(f"body of {declared} bytes > {MAX_KEY_SET_BYTES}")
            body = self._read(int(declared), deadline)
            if len(body) < int(declared):
                raise FetchError("body shorter than its Content-Length", retryable=True)
            return body
        body = self._read(MAX_KEY_SET_BYTES + 1, deadline)  # until the server closes
        if len(body) > MAX_KEY_SET_BYTES:
            raise FetchError(f"body larger than {MAX_KEY_SET_BYTES} bytes")
        return body

    def _chunked(self, deadline: float) -> bytes:
        body = b""
        while True:
            size_text = self._line(deadline).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise FetchError("bad chunk size") from None
            if size == 0:
                while self._line(deadline) not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return body
            if len(body) + size > MAX_KEY_SET_BYTES:
                raise FetchError(f"body larger than {MAX_KEY_SET_BYTES} bytes")
            chunk = self._read(size, deadline)
            if len(chunk) < size:
                raise FetchError("connection closed inside a chunk", retryable=True)
            body += chunk
            self._line(deadline)  # the CRLF after the chunk

    def _read(self, size: int, deadline: float) -> bytes:
        """Up to `size` bytes, 64 KiB at a time, each within what is left of the deadline: a source
        dripping bytes cannot hold a caller past it."""
        body = b""
        while len(body) < size:
            self.sock.settimeout(_remaining(deadline))
            chunk = self.reader.read1(min(size - len(body), 65536))
            if not chunk:
                break
            body += chunk
        return body

    def close(self) -> None:
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise FetchError("no response within the timeout", retryable=True)
    return left


def _tls_context() -> Any:
    """One client context per process: system CAs (SSL_CERT_FILE / SSL_CERT_DIR honoured), hostname
    checked, TLS 1.2 at least. Loaded through load_verify_locations, which releases the GIL while
    OpenSSL parses the CA bundle (20 ms here), so the handler's own imports can go on meanwhile."""
    global _tls
    if _tls is None:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies certificates and hostnames
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        paths = ssl.get_default_verify_paths()
        if paths.cafile or paths.capath:
            context.load_verify_locations(cafile=paths.cafile, capath=paths.capath)
        else:
            context.load_default_certs()
        _tls = context
    return _tls


def _describe(error: OSError) -> str:
    return f"{type(error).__name__}: {error.strerror or error}"
