"""The local stage's management API (API Gateway's `@connections`): POST sends to a connection, DELETE
closes it, GET describes it; a 410 as API Gateway spells it, so that SDKs raise GoneException."""

from __future__ import annotations

import http.server
import threading
import urllib.parse
from typing import Any, Protocol

import orjson

from .issuer import QuietHTTPServer


class Connections(Protocol):
    """What the management API acts on: the stage's open connections."""

    def post_to_connection(self, connection_id: str, data: bytes) -> int: ...

    def delete_connection(self, connection_id: str) -> int: ...

    def get_connection(self, connection_id: str) -> dict[str, Any] | None: ...


def serve_management(connections: Connections, host: str, port: int, stage_name: str) -> http.server.ThreadingHTTPServer:
    """The management API of `stage_name` on host:port, served on a thread of its own."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _connection_id(self) -> str | None:
            prefix = f"/{stage_name}/@connections/"
            if not self.path.startswith(prefix):
                return None
            # Connection ids hold '+', '/' and '=': clients percent-encode them in the path (boto3 does).
            return urllib.parse.unquote(self.path[len(prefix) :].partition("?")[0])

        def _answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            if status == 410:  # as API Gateway spells it, so that SDKs raise GoneException
                self.send_header("x-amzn-ErrorType", "GoneException")
                body = b'{"message":null}'
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            data = self.rfile.read(length)
            connection_id = self._connection_id()
            self._answer(connections.post_to_connection(connection_id, data) if connection_id is not None else 404)

        def do_DELETE(self) -> None:
            connection_id = self._connection_id()
            self._answer(connections.delete_connection(connection_id) if connection_id is not None else 404)

        def do_GET(self) -> None:
            connection_id = self._connection_id()
            info = connections.get_connection(connection_id) if connection_id is not None else None
            self._answer(200, orjson.dumps(info)) if info is not None else self._answer(410 if connection_id else 404)

        def log_message(self, *args: Any) -> None:
            pass

    server = QuietHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return server
