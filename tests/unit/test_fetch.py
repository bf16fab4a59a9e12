"""fetch.py's HTTP/1.1 client against real servers on 127.0.0.1: a scriptable raw TCP server for
the shapes a key source can send (lengths, chunks, drips, closes), and TLS with a throwaway CA."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fastauthz import fetch
from fastauthz.fetch import MAX_KEY_SET_BYTES, FetchError, fetch_document, split_url
from testkit.tls import make_certificates, server_context

Reply = Callable[[socket.socket, int], None]  # (connection, request number) -> writes a response


def response(body: bytes = b'{"keys": []}', status: str = "200 OK", **headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class RawServer:
    """Accepts connections on 127.0.0.1 and answers each request with `reply`; counts both."""

    def __init__(self, reply: Reply, tls: ssl.SSLContext | None = None) -> None:
        self.reply = reply
        self.connections = 0
        self.requests = 0
        listener = socket.create_server(("127.0.0.1", 0))
        self.listener = tls.wrap_socket(listener, server_side=True) if tls else listener
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, scheme: str = "http", host: str = "127.0.0.1") -> str:
        return f"{scheme}://{host}:{self.port}/.well-known/jwks.json"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except ssl.SSLError:
                continue  # a client that refused our certificate
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    try:
                        data = connection.recv(4096)
                    except OSError:
                        return
                    if not data:
                        return
                    buffer += data
                _, _, buffer = buffer.partition(b"\r\n\r\n")
                self.requests += 1
                try:
                    self.reply(connection, self.requests)
                except OSError:
                    return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(reply: Reply, tls: ssl.SSLContext | None = None) -> RawServer:
        servers.append(RawServer(reply, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()
    fetch.reset_connections()


def always(data: bytes) -> Reply:
    return lambda connection, number: connection.sendall(data)


def test_a_sized_body_and_its_max_age(serve: Callable[..., RawServer]) -> None:
    server = serve(always(response(b'{"keys": [1]}', Content_Length="13", Cache_Control="public, max-age=600")))
    fetched = fetch_document(server.url(), timeout=2)
    assert fetched.body == b'{"keys": [1]}'
    assert fetched.max_age == 600


def test_a_chunked_body(serve: Callable[..., RawServer]) -> None:
    chunked = b'5\r\n{"key\r\n7;ext=1\r\ns": []}\r\n0\r\nTrailer: x\r\n\r\n'
    server = serve(always(response(chunked, Transfer_Encoding="chunked")))
    assert fetch_document(server.url(), timeout=2).body == b'{"keys": []}'


def test_a_body_delimited_by_the_close(serve: Callable[..., RawServer]) -> None:
    def reply(connection: socket.socket, number: int) -> None:
        connection.sendall(response(b'{"keys": []}', Connection="close"))
        connection.shutdown(socket.SHUT_WR)

    assert fetch_document(serve(reply).url(), timeout=2).body == b'{"keys": []}'


def test_a_declared_oversized_body_is_refused_without_reading_it(serve: Callable[..., RawServer]) -> None:
    server = serve(always(response(b"", Content_Length=str(MAX_KEY_SET_BYTES + 1))))
    with pytest.raises(FetchError, match="bytes >"):
        fetch_document(server.url(), timeout=2)
    assert server.requests == 1  # not retried


def test_an_undeclared_oversized_body_is_cut_at_the_cap(serve: Callable[..., RawServer]) -> None:
    def reply(connection: socket.socket, number: int) -> None:
        connection.sendall(response(b"x" * (MAX_KEY_SET_BYTES + 10), Connection="close"))
        connection.shutdown(socket.SHUT_WR)

    with pytest.raises(FetchError, match="larger than"):
        fetch_document(serve(reply).url(), timeout=2)


def test_an_oversized_chunked_body_is_cut_at_the_cap(serve: Callable[..., RawServer]) -> None:
    chunk = b"%x\r\n" % (MAX_KEY_SET_BYTES // 2 + 1) + b"x" * (MAX_KEY_SET_BYTES // 2 + 1) + b"\r\n"
    server = serve(always(response(chunk * 3 + b"0\r\n\r\n", Transfer_Encoding="chunked")))
    with pytest.raises(FetchError, match="larger than"):
        fetch_document(server.url(), timeout=5)


def test_a_source_dripping_bytes_cannot_hold_the_caller_past_the_deadline(serve: Callable[..., RawServer]) -> None:
    stop = threading.Event()

    def drip(connection: socket.socket, number: int) -> None:
        connection.sendall(response(b"", Content_Length="100000"))
        while not stop.is_set():
            connection.sendall(b" ")
            time.sleep(0.02)

    server = serve(drip)
    try:
        with pytest.raises(FetchError, match=r"timeout|timed out"):
            fetch_document(server.url(), timeout=0.5, retries=0)
    finally:
        stop.set()


def test_redirects_are_not_followed(serve: Callable[..., RawServer]) -> None:
    server = serve(always(response(b"", "302 Found", Location="http://127.0.0.1:1/elsewhere", Content_Length="0")))
    with pytest.raises(FetchError, match="HTTP 302"):
        fetch_document(server.url(), timeout=2)
    assert server.requests == 1


def test_a_5xx_is_retried_and_a_4xx_is_not(serve: Callable[..., RawServer]) -> None:
    flaky = serve(
        lambda connection, number: connection.sendall(
            response(b"", "503 Service Unavailable", Content_Length="0") if number == 1 else response(Content_Length="12")
        )
    )
    assert fetch_document(flaky.url(), timeout=5).body == b'{"keys": []}'
    assert flaky.requests == 2
    missing = serve(always(response(b"", "404 Not Found", Content_Length="0")))
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_document(missing.url(), timeout=5)
    assert missing.requests == 1


def test_retries_stop_at_their_bound(serve: Callable[..., RawServer]) -> None:
    server = serve(always(response(b"", "500 Internal Server Error", Content_Length="0")))
    with pytest.raises(FetchError, match="HTTP 500"):
        fetch_document(server.url(), timeout=10, retries=2)
    assert server.requests == 3


def test_one_kept_alive_connection_serves_every_refresh(serve: Callable[..., RawServer]) -> None:
    server = serve(always(response(Content_Length="12")))
    for _ in range(3):
        fetch_document(server.url(), timeout=2)
    assert (server.connections, server.requests) == (1, 3)


def test_a_connection_the_server_closed_while_idle_is_replaced_at_once(serve: Callable[..., RawServer]) -> None:
    def reply_then_hang_up(connection: socket.socket, number: int) -> None:
        connection.sendall(response(Content_Length="12"))  # says nothing of closing...
        connection.shutdown(socket.SHUT_RDWR)  # ...and closes: the client finds out on its next request

    server = serve(reply_then_hang_up)
    fetch_document(server.url(), timeout=2)
    fetch_document(server.url(), timeout=2, retries=0)  # no retry budget needed: a stale connection is not a failure
    assert server.connections == 2


def test_a_refused_connection_is_a_retryable_fetch_error() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    with closed, pytest.raises(FetchError, match="cannot connect") as raised:
        fetch_document(f"http://127.0.0.1:{closed.getsockname()[1]}/jwks.json", timeout=1, retries=0)
    assert raised.value.retryable


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A server context with a throwaway CA that the client trusts through SSL_CERT_FILE."""
    monkeypatch.setenv("SSL_CERT_FILE", str(make_certificates(tmp_path)))
    monkeypatch.setattr(fetch, "_tls", None)
    return server_context(tmp_path)


def test_https_with_a_trusted_certificate(serve: Callable[..., RawServer], tls: ssl.SSLContext) -> None:
    server = serve(always(response(Content_Length="12")), tls)
    assert fetch_document(server.url("https"), timeout=5).body == b'{"keys": []}'
    fetch_document(server.url("https"), timeout=5)
    assert server.connections == 1


def test_https_refuses_a_certificate_for_another_host(serve: Callable[..., RawServer], tls: ssl.SSLContext) -> None:
    server = serve(always(response(Content_Length="12")), tls)  # the certificate names 127.0.0.1 only
    with pytest.raises(FetchError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|doesn.t match"):
        fetch_document(server.url("https", host="localhost"), timeout=5, retries=0)


def test_https_refuses_an_untrusted_certificate(
    serve: Callable[..., RawServer], tls: ssl.SSLContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("SSL_CERT_FILE", str(make_certificates(other)))  # a CA that did not sign the server's certificate
    monkeypatch.setattr(fetch, "_tls", None)
    server = serve(always(response(Content_Length="12")), tls)
    with pytest.raises(FetchError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        fetch_document(server.url("https"), timeout=5, retries=0)


@pytest.mark.parametrize(
    ("url", "origin", "target"),
    [
        ("https://example.com/.well-known/jwks.json", ("https", "example.com", 443), "/.well-known/jwks.json"),
        ("http://127.0.0.1:8080/keys?x=1#frag", ("http", "127.0.0.1", 8080), "/keys?x=1"),
        ("https://[::1]:8443/k", ("https", "::1", 8443), "/k"),
        ("HTTPS://Example.com", ("https", "Example.com", 443), "/"),
    ],
)
def test_split_url(url: str, origin: tuple[str, str, int], target: str) -> None:
    assert split_url(url) == (origin, target)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/k", "https://user:pw@example.com/k", "https://:443/k", "https://host:x/k", "example.com"]
)
def test_split_url_refuses(url: str) -> None:
    with pytest.raises(FetchError):
        split_url(url)
