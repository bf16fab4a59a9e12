"""A local API Gateway WebSocket stage on 127.0.0.1 (the `websockets` library does the protocol).

`$connect`: identity sources enforced (401 without invoking), the REQUEST authorizer invoked in a
Lambda-like execution environment and its answer judged as API Gateway does (401 / 403 / 500), then
the optional `$connect` integration, which alone may choose the Sec-WebSocket-Protocol to echo.
Messages are routed by `$request.body.action` to named routes or `$default` (a route's reply reaches
the client only when the route is two-way, as with a route response); `$disconnect` is
invoked on close; `POST /@connections/{id}` on the management port sends to a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import http.server
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from .apigw import Connect, api_id, identity_sources_present, judge_authorizer, parse_identity_sources
from .runtime import FunctionSpec, LambdaFunction

STATUS_TEXT = {401: "Unauthorized", 403: "Forbidden", 500: "Internal Server Error"}


class StageConfig:
    def __init__(
        self,
        *,
        authorizer: FunctionSpec | None = None,
        identity_sources: list[str] | None = None,
        connect: FunctionSpec | None = None,
        routes: dict[str, FunctionSpec] | None = None,
        two_way: Iterable[str] = (),
        disconnect: FunctionSpec | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        management_port: int = 0,
        stage: str = "local",
        api: str | None = None,
        region: str = "us-east-1",
        account: str = "123456789012",
        concurrency: int = 4,
        recycle_after: int = 0,
        log: Callable[[str], Any] | None = None,
        log_dir: Path | None = None,
        say: Callable[[str], Any] | None = None,
        max_lifetime: float = 7200.0,
        idle_timeout: float = 600.0,
    ) -> None:
        self.authorizer = authorizer
        self.identity_sources = parse_identity_sources(identity_sources or [])
        self.connect = connect
        self.routes = routes or {}
        # API Gateway delivers client messages to custom routes and `$default` only: `$connect` and
        # `$disconnect` are the connection's own, and a route key like them is never selected.
        reserved = sorted(key for key in self.routes if key.startswith("$") and key != "$default")
        if reserved:
            raise ValueError(f"route(s) {reserved} are not message routes: pass connect= or disconnect= for those")
        # Routes with a route response: API Gateway sends the integration's body back to the client
        # only for these; on any other route the function's return value goes nowhere.
        self.two_way = frozenset(two_way)
        unknown = self.two_way - set(self.routes)
        if unknown:
            raise ValueError(f"two-way route(s) {sorted(unknown)} have no function")
        self.disconnect = disconnect
        self.host, self.port, self.management_port = host, port, management_port
        self.stage, self.api, self.region, self.account = stage, api or api_id(), region, account
        self.concurrency, self.recycle_after = concurrency, recycle_after
        # API Gateway's limits on a WebSocket: 2 hours in all, 10 minutes without a message (scaled down in tests).
        self.max_lifetime, self.idle_timeout = max_lifetime, idle_timeout
        self.log = log  # the functions' own log lines, and the stage's notes on them
        self.log_dir = log_dir  # <function>.log files with Lambda's REPORT lines (the load test reads them)
        self.say = say  # one line per connect: status, reason code, the authorizer's time, cold or warm


class ConnectRecord:
    """What the stage decided for one connection attempt (tests and the demo read these)."""

    __slots__ = (
        "authorizer",
        "authorizer_ms",
        "cold",
        "connection_id",
        "event",
        "init_ms",
        "latency_ms",
        "reason",
        "status",
        "subprotocol",
        "why",
    )

    def __init__(self) -> None:
        self.status = 0
        self.why = ""
        self.latency_ms = 0.0
        self.cold = False
        self.connection_id = ""
        self.authorizer: dict[str, Any] | None = None
        self.subprotocol: str | None = None
        self.event: dict[str, Any] | None = None
        self.reason: str | None = None  # the authorizer's reason code (from its log line), when it gave one
        self.authorizer_ms = 0.0  # the authorizer's invocation, as the stage waited for it
        self.init_ms = 0.0  # its cold start (import of the handler module), when this connect had one

    def summary(self) -> str:
        """The connect in one line, as `fastauthz dev` prints it."""
        outcome = f"{self.status} {self.reason or self.why}" if self.status != 101 else f"101 {self.reason or 'allowed'}"
        timing = f"authorizer {self.authorizer_ms:.1f} ms" + (f", cold start (init {self.init_ms:.0f} ms)" if self.cold else ", warm")
        return f"$connect {self.connection_id} -> {outcome} ({timing}; {self.latency_ms:.1f} ms in all)"


class Stage:
    def __init__(self, config: StageConfig) -> None:
        self.config = config
        self.functions: dict[str, LambdaFunction] = {}
        for role, spec in [("authorizer", config.authorizer), ("$connect", config.connect), ("$disconnect", config.disconnect)]:
            if spec is not None:
                self.functions[role] = LambdaFunction(spec, config.concurrency, config.recycle_after, config.log, config.log_dir)
        # Message routes apart from the connection's own functions: a route named `authorizer` is
        # just a route, and a message can select no function but a route's.
        self.routes = {
            key: LambdaFunction(spec, config.concurrency, config.recycle_after, config.log, config.log_dir)
            for key, spec in config.routes.items()
        }
        self.connections: dict[str, tuple[ServerConnection, Connect, dict[str, Any] | None]] = {}
        self.records: list[ConnectRecord] = []
        self._server: Server | None = None
        self._management: http.server.ThreadingHTTPServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- lifecycle ------------------------------------------------------------------------------------
    async def start(self) -> Stage:
        self._loop = asyncio.get_running_loop()
        self._server = await serve(
            self._handle,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            server_header=None,
            ping_interval=None,
        )
        self._start_management()
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self._management is not None:
            self._management.shutdown()
            self._management.server_close()
        for function in (*self.functions.values(), *self.routes.values()):
            await function.close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def url(self) -> str:
        return f"ws://{self.config.host}:{self.port}/{self.config.stage}"

    @property
    def management_url(self) -> str:
        assert self._management is not None
        return f"http://{self.config.host}:{self._management.server_address[1]}/{self.config.stage}/@connections"

    def stats(self) -> dict[str, Any]:
        return {role: function.stats() for role, function in (*self.functions.items(), *self.routes.items())}

    # -- $connect --------------------------------------------------------------------------------------
    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        started = time.perf_counter()
        record = ConnectRecord()
        self.records.append(record)
        peer = connection.remote_address or ("127.0.0.1", 0)
        connect = Connect(
            path=request.path,
            headers=request.headers.raw_items(),
            source_ip=str(peer[0]),
            source_port=int(peer[1]),
            api=self.config.api,
            stage=self.config.stage,
            region=self.config.region,
            account=self.config.account,
        )
        record.connection_id = connect.connection_id
        connection.fastauthz_connect = connect  # type: ignore[attr-defined]
        connection.fastauthz_protocol = None  # type: ignore[attr-defined]
        status, why, authorizer, cold = await self._authorize(connect, record)
        if status == 101 and "$connect" in self.functions:
            status, why, protocol = await self._integrate_connect(connect, authorizer)
            connection.fastauthz_protocol = protocol  # type: ignore[attr-defined]
            record.subprotocol = protocol
        record.status, record.why, record.cold, record.authorizer = status, why, cold, authorizer
        record.latency_ms = (time.perf_counter() - started) * 1000
        if self.config.say is not None:
            self.config.say(record.summary())
        if status != 101:
            self._say(f"$connect {connect.connection_id} -> {status} ({why})")
            return _reject(status)
        connection.fastauthz_authorizer = authorizer  # type: ignore[attr-defined]
        return None

    async def _authorize(self, connect: Connect, record: ConnectRecord) -> tuple[int, str, dict[str, Any] | None, bool]:
        if "authorizer" not in self.functions:
            return 101, "no authorizer", None, False
        if not identity_sources_present(connect, self.config.identity_sources):
            return 401, "identity source missing (authorizer not invoked)", None, False
        event = connect.authorizer_event()
        record.event = event
        started = time.perf_counter()
        outcome = await self.functions["authorizer"].invoke(event)
        latency = (time.perf_counter() - started) * 1000
        record.reason, record.authorizer_ms, record.init_ms = outcome.reason, latency, outcome.init_ms
        verdict = judge_authorizer(
            outcome.result, outcome.error_type, outcome.error_message, outcome.timed_out, connect.method_arn, latency
        )
        return verdict.status, verdict.why, verdict.authorizer, outcome.cold

    async def _integrate_connect(self, connect: Connect, authorizer: dict[str, Any] | None) -> tuple[int, str, str | None]:
        outcome = await self.functions["$connect"].invoke(connect.connect_event(authorizer))
        if outcome.failed:
            return 500, f"$connect integration error {outcome.error_type}", None
        result = outcome.result if isinstance(outcome.result, dict) else {}
        status = int(result.get("statusCode", 200))
        if not 200 <= status < 300:
            return status, "$connect integration refused", None
        headers = result.get("headers") or {}
        protocol = next((v for k, v in headers.items() if k.lower() == "sec-websocket-protocol"), None)
        return 101, "allowed", protocol

    def _select_subprotocol(self, connection: ServerConnection, offered: Any) -> Any:
        # API Gateway never picks a subprotocol itself: only the $connect integration's response does.
        chosen = getattr(connection, "fastauthz_protocol", None)
        return chosen if chosen in offered else None

    # -- messages and $disconnect ------------------------------------------------------------------------
    async def _handle(self, connection: ServerConnection) -> None:
        connect: Connect = connection.fastauthz_connect  # type: ignore[attr-defined]
        authorizer = getattr(connection, "fastauthz_authorizer", None)
        self.connections[connect.connection_id] = (connection, connect, authorizer)
        status, reason = 1000, "Client closed"
        ends_at = time.monotonic() + self.config.max_lifetime
        try:
            while True:
                # API Gateway's limits: a connection idle for idle_timeout, or open for max_lifetime, is
                # closed by the server (AWS's documentation names no close code: the stage sends 1001).
                wait = min(self.config.idle_timeout, ends_at - time.monotonic())
                try:
                    message = await asyncio.wait_for(connection.recv(), max(wait, 0.0))
                except TimeoutError:
                    why = "idle timeout" if wait == self.config.idle_timeout else "connection duration limit"
                    self._say(f"{connect.connection_id} closed: {why}")
                    await connection.close(1001, "Going away")
                    status, reason = 1001, "Going away"
                    break
                body = message if isinstance(message, str) else message.decode(errors="replace")
                await self._route(connection, connect, body, authorizer)
        except ConnectionClosed as closed:
            status, reason = (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "Going away")
        finally:
            self.connections.pop(connect.connection_id, None)
            if "$disconnect" in self.functions:
                await self.functions["$disconnect"].invoke(connect.disconnect_event(status, reason))

    async def _route(self, connection: ServerConnection, connect: Connect, body: str, authorizer: dict[str, Any] | None) -> None:
        route = "$default"
        with contextlib.suppress(orjson.JSONDecodeError, AttributeError, TypeError):
            action = orjson.loads(body).get("action")
            if isinstance(action, str) and action in self.routes:
                route = action
        if route not in self.routes:
            await connection.send(orjson.dumps({"message": "Forbidden", "connectionId": connect.connection_id}).decode())
            return
        outcome = await self.routes[route].invoke(connect.message_event(route, body, authorizer))
        if outcome.failed:
            self._say(f"{route} {connect.connection_id} -> error {outcome.error_type}: {outcome.error_message}")
            await connection.send(orjson.dumps({"message": "Internal server error", "connectionId": connect.connection_id}).decode())
            return
        result = outcome.result if isinstance(outcome.result, dict) else {}
        if route in self.config.two_way and isinstance(result.get("body"), str):
            await connection.send(result["body"])  # the route response: the integration's body is the reply

    # -- @connections ----------------------------------------------------------------------------------
    def post_to_connection(self, connection_id: str, data: bytes) -> int:
        """The management API: 200, or 410 Gone for an unknown connection."""
        assert self._loop is not None
        found = self.connections.get(connection_id)
        if found is None:
            return 410
        future = asyncio.run_coroutine_threadsafe(found[0].send(data.decode(errors="replace")), self._loop)
        try:
            future.result(5)
        except Exception:
            return 410
        return 200

    def delete_connection(self, connection_id: str) -> int:
        """The management API's DeleteConnection: close it from the server side; 204, or 410 Gone.
        The close goes on without the caller (a sweeper closing hundreds must not wait for each
        client's closing handshake). AWS's documentation names no close code: the stage sends 1000."""
        assert self._loop is not None
        found = self.connections.get(connection_id)
        if found is None:
            return 410
        asyncio.run_coroutine_threadsafe(found[0].close(1000, "closed by the server"), self._loop)
        return 204

    def get_connection(self, connection_id: str) -> dict[str, Any] | None:
        """The management API's GetConnection: connectedAt, identity, lastActiveAt (ISO 8601), or None."""
        found = self.connections.get(connection_id)
        if found is None:
            return None
        connect = found[1]
        connected = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(connect.connected_at / 1000))
        user_agent = next((v for k, v in connect.headers.items() if k.lower() == "user-agent"), "")
        return {"connectedAt": connected, "identity": {"sourceIp": connect.source_ip, "userAgent": user_agent}, "lastActiveAt": connected}

    def _start_management(self) -> None:
        from .management import serve_management

        self._management = serve_management(self, self.config.host, self.config.management_port, self.config.stage)

    def _say(self, line: str) -> None:
        if self.config.log is not None:
            self.config.log(line)


def _reject(status: int) -> Response:
    body = orjson.dumps({"message": STATUS_TEXT.get(status, "Error")})
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body))), ("Connection", "close")])
    return Response(status, http.HTTPStatus(status).phrase if status in http.HTTPStatus._value2member_map_ else "Error", headers, body)
