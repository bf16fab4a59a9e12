"""A real key server on 127.0.0.1, over HTTP or (with a directory for a throwaway CA) HTTPS: tests
change what it answers as they go, benchmarks serve their fixtures from it."""

from __future__ import annotations

import http.server
import json
import threading
import time
from pathlib import Path
from typing import Any

from testkit.tls import make_certificates, server_context


def _as_body(document: Any) -> bytes:
    return document if isinstance(document, bytes) else json.dumps(document).encode()


HOLD_SECONDS = 10.0


class KeyServer:
    """Answers GET with `body`/`status`/`headers` (or, at a path given to serve_at, that document),
    after `delay` seconds; counts requests. With `tls_directory`, serves HTTPS with a certificate from
    a CA made there for this server (`ca_file` trusts it)."""

    def __init__(
        self, body: Any = b"{}", status: int = 200, headers: dict[str, str] | None = None, tls_directory: Path | None = None
    ) -> None:
        self.body = _as_body(body)
        self.status = status
        self.headers = headers or {"Content-Type": "application/json"}
        self.delay = 0.0
        # hold(): requests wait (up to HOLD_SECONDS) until release(); `arrived` is set when one waits.
        self.holding: threading.Event | None = None
        self.arrived = threading.Event()
        self.requests = 0
        self.paths: dict[str, bytes] = {}
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle on, the second waits for the client's
            # delayed ACK (~40 ms), a stall no production key endpoint has.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                owner.requests += 1
                if owner.delay:
                    time.sleep(owner.delay)
                holding = owner.holding
                if holding is not None:
                    owner.arrived.set()
                    holding.wait(HOLD_SECONDS)
                at_path = owner.paths.get(self.path.split("?")[0])
                body = at_path if at_path is not None else owner.body
                try:
                    self.send_response(200 if at_path is not None else owner.status)
                    for name, value in owner.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        self.ca_file: Path | None = None
        if tls_directory is not None:
            self.ca_file = make_certificates(tls_directory)
            self.server.socket = server_context(tls_directory).wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        # A short poll interval: shutdown() waits for it (0.5 s by default, per server).
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.base}/.well-known/jwks.json"

    def serve_at(self, path: str, document: Any) -> None:
        """Answer GET `path` with `document` (200), whatever serve() says for other paths."""
        self.paths[path] = _as_body(document)

    def serve(self, document: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self.body = _as_body(document)
        self.status = status
        self.headers = {"Content-Type": "application/json", **(headers or {})}

    def hold(self) -> None:
        """Requests from now on wait for release(): a key server that is slow for as long as a test needs."""
        self.arrived.clear()
        self.holding = threading.Event()

    def release(self) -> None:
        if self.holding is not None:
            self.holding.set()
        self.holding = None

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
