"""A local API Gateway REST or HTTP API stage on 127.0.0.1: the authorizer's other front doors.

Per request, as API Gateway does:
  1. the route, `METHOD /path`, `ANY /path`, else `$default`; none: a REST API answers 403 "Missing
     Authentication Token", an HTTP API 404 "Not Found";
  2. the identity sources, each present and non-empty, else 401 without invoking the authorizer;
  3. the authorizer's answer: from the result cache, keyed by the identity sources' values for
     `result_ttl` seconds (REST's default: 300), or by invoking it with the API type's event;
  4. that answer judged for this request: an `Unauthorized` error 401, any other error 500, a policy
     that does not allow this request's ARN 403 (a cached one too: the failure of a policy naming
     only the first methodArn, serverless #2827), `isAuthorized: false` 403;
  5. the route's integration (`module:function`, or none: 200 with the authorizer's context),
     invoked with a proxy event (payload 1.0 for REST and HTTP 1.0, 2.0 for HTTP 2.0) whose
     requestContext.authorizer carries the context; its {statusCode, headers, body} is the answer.
A route listed in `public` skips steps 2-4 (a route without an authorizer).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson

from .apigw import api_id, aws_id, judge_authorizer, request_time
from .runtime import FunctionSpec, LambdaFunction

KINDS = ("rest-token", "rest-request", "http-1.0", "http-2.0")
REST_RESULT_TTL = 300.0  # REST's default authorizer result TTL; HTTP APIs have none by default
MAX_HEAD_BYTES = 16384
REASONS = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 500: "Internal Server Error", 502: "Bad Gateway"}


def parse_identity_source(source: str) -> tuple[str, str]:
    """`method.request.header.X` (REST), `$request.header.X` (HTTP API), or `querystring` -> (kind, name)."""
    for prefix in ("method.request.", "$request."):
        if source.startswith(prefix):
            kind, _, name = source[len(prefix) :].partition(".")
            if kind in ("header", "querystring") and name:
                return kind, name
    raise ValueError(f"identity source {source!r}: use method.request.header.NAME or $request.header.NAME (or .querystring.)")


class HttpStageConfig:
    def __init__(
        self,
        *,
        authorizer: FunctionSpec,
        kind: str = "rest-request",
        simple_responses: bool = False,
        identity_sources: Iterable[str] = (),
        result_ttl: float | None = None,
        routes: dict[str, FunctionSpec | None] | None = None,
        public: Iterable[str] = (),
        host: str = "127.0.0.1",
        port: int = 0,
        stage: str = "local",
        api: str | None = None,
        region: str = "us-east-1",
        account: str = "123456789012",
        concurrency: int = 4,
        log: Callable[[str], Any] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"API type {kind!r}: use one of {', '.join(KINDS)}")
        if simple_responses and kind != "http-2.0":
            raise ValueError("simple responses exist only for HTTP API payload 2.0")
        self.authorizer, self.kind, self.simple_responses = authorizer, kind, simple_responses
        sources = list(identity_sources) or ["method.request.header.Authorization"]
        self.identity_sources = [parse_identity_source(source) for source in sources]
        if kind == "rest-token" and (len(self.identity_sources) != 1 or self.identity_sources[0][0] != "header"):
            raise ValueError("a TOKEN authorizer takes its token from one header")
        self.result_ttl = (REST_RESULT_TTL if kind.startswith("rest") else 0.0) if result_ttl is None else result_ttl
        self.routes = routes if routes is not None else {"$default": None}
        self.public = frozenset(public)
        self.host, self.port, self.stage, self.api = host, port, stage, api or api_id()
        self.region, self.account, self.concurrency, self.log, self.log_dir = region, account, concurrency, log, log_dir


class HttpRequest:
    """One request as API Gateway receives it: method, path under the stage, query, headers, body."""

    def __init__(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes, source_ip: str) -> None:
        path, _, self.raw_query = target.partition("?")
        self.method, self.path, self.headers, self.body, self.source_ip = method, path or "/", headers, body, source_ip
        self.query = parse_qsl(self.raw_query, keep_blank_values=True)

    def header(self, name: str) -> str:
        return next((value for key, value in self.headers if key.lower() == name.lower()), "")


class HttpStage:
    def __init__(self, config: HttpStageConfig) -> None:
        self.config = config
        self.authorizer = LambdaFunction(config.authorizer, config.concurrency, 0, config.log, config.log_dir)
        self.integrations = {
            key: LambdaFunction(spec, config.concurrency, 0, config.log, config.log_dir) for key, spec in config.routes.items() if spec
        }
        self.cache: dict[tuple[str, ...], tuple[float, Any]] = {}
        self.invocations = 0  # of the authorizer: a cached answer does not invoke it
        self.answered: list[tuple[str, str, int]] = []  # (method, target, status) of every request, for tests and the log
        self._server: asyncio.Server | None = None

    async def start(self) -> HttpStage:
        self._server = await asyncio.start_server(self._serve, self.config.host, self.config.port)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for function in (self.authorizer, *self.integrations.values()):
            await function.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://{self.config.host}:{self._server.sockets[0].getsockname()[1]}/{self.config.stage}"

    # -- HTTP/1.1, keep-alive ----------------------------------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("127.0.0.1", 0)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > MAX_HEAD_BYTES:
                    break
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [(name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines[1:] if line)]
                length = int(next((v for k, v in headers if k.lower() == "content-length"), "0") or 0)
                body = await reader.readexactly(length) if length else b""
                status, response_headers, payload = await self.respond(HttpRequest(method, target, headers, body, str(peer[0])))
                self.answered.append((method, target, status))
                if self.config.log is not None:
                    self.config.log(f"{method} {target.partition('?')[0]} -> {status}")
                close = any(k.lower() == "connection" and v.lower() == "close" for k, v in headers)
                head_out = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}", f"Content-Length: {len(payload)}"]
                head_out += [f"{k}: {v}" for k, v in response_headers.items() if k.lower() != "content-length"]
                head_out.append("Connection: close" if close else "Connection: keep-alive")
                writer.write(("\r\n".join(head_out) + "\r\n\r\n").encode("latin-1") + payload)
                await writer.drain()
                if close:
                    break
        writer.close()

    # -- API Gateway ----------------------------------------------------------------------------------------
    async def respond(self, request: HttpRequest) -> tuple[int, dict[str, str], bytes]:
        prefix = f"/{self.config.stage}"
        under_stage = request.path == prefix or request.path.startswith(prefix + "/")
        path = (request.path[len(prefix) :] or "/") if under_stage else None
        route = self._route(request.method, path) if path is not None else None
        if route is None:
            return _message(403, "Missing Authentication Token") if self.config.kind.startswith("rest") else _message(404, "Not Found")
        assert path is not None
        arn = f"arn:aws:execute-api:{self.config.region}:{self.config.account}:{self.config.api}/{self.config.stage}/{request.method}{path}"
        authorizer_context: dict[str, Any] | None = None
        if route not in self.config.public:
            identity = self._identity(request)
            if identity is None:
                return _message(401, "Unauthorized")
            status, authorizer_context = await self._authorize(request, route, path, arn, identity)
            if status != 200:
                return _message(status, {401: "Unauthorized", 403: "Forbidden"}.get(status, "Internal Server Error"))
        return await self._integrate(request, route, path, authorizer_context)

    def _route(self, method: str, path: str) -> str | None:
        for key in (f"{method} {path}", f"ANY {path}", "$default"):
            if key in self.config.routes:
                return key
        return None

    def _identity(self, request: HttpRequest) -> tuple[str, ...] | None:
        values = []
        for kind, name in self.config.identity_sources:
            value = request.header(name) if kind == "header" else next((v for k, v in request.query if k == name), "")
            if not value.strip():
                return None
            values.append(value)
        return tuple(values)

    async def _authorize(
        self, request: HttpRequest, route: str, path: str, arn: str, identity: tuple[str, ...]
    ) -> tuple[int, dict[str, Any] | None]:
        now = time.monotonic()
        cached = self.cache.get(identity)
        started = time.perf_counter()
        if cached is not None and now < cached[0]:
            result, error_type, error_message, timed_out = cached[1], None, None, False
        else:
            self.invocations += 1
            outcome = await self.authorizer.invoke(self.authorizer_event(request, route, path, arn, identity))
            result, error_type, error_message, timed_out = outcome.result, outcome.error_type, outcome.error_message, outcome.timed_out
            if not outcome.failed and self.config.result_ttl > 0:
                self.cache[identity] = (now + self.config.result_ttl, result)
        if self.config.simple_responses:
            if timed_out or error_type is not None:
                return (401 if error_message == "Unauthorized" else 500), None
            if not isinstance(result, dict) or type(result.get("isAuthorized")) is not bool:
                return 500, None
            return (200, {"lambda": result.get("context") or {}}) if result["isAuthorized"] else (403, None)
        verdict = judge_authorizer(result, error_type, error_message, timed_out, arn, (time.perf_counter() - started) * 1000)
        if verdict.status != 101:
            return verdict.status, None
        context = verdict.authorizer or {}
        return 200, ({"lambda": context} if self.config.kind == "http-2.0" else context)

    async def _integrate(
        self, request: HttpRequest, route: str, path: str, authorizer: dict[str, Any] | None
    ) -> tuple[int, dict[str, str], bytes]:
        function = self.integrations.get(route)
        if function is None:
            return 200, {"Content-Type": "application/json"}, orjson.dumps({"route": route, "authorizer": authorizer})
        outcome = await function.invoke(self.proxy_event(request, route, path, authorizer))
        answer = outcome.result
        if outcome.failed or not isinstance(answer, dict) or "statusCode" not in answer:
            if not outcome.failed and self.config.kind == "http-2.0" and answer is not None:
                return 200, {"Content-Type": "application/json"}, orjson.dumps(answer)  # HTTP API 2.0 infers a response
            return _message(502, "Internal server error")
        body = answer.get("body") or ""
        headers = {str(k): str(v) for k, v in (answer.get("headers") or {}).items()}
        for cookie in answer.get("cookies") or []:
            headers.setdefault("Set-Cookie", str(cookie))
        return int(answer["statusCode"]), headers, body.encode() if isinstance(body, str) else orjson.dumps(body)

    # -- events ---------------------------------------------------------------------------------------------
    def _context(self, request: HttpRequest, route: str, path: str) -> dict[str, Any]:
        now = int(time.time() * 1000)
        domain = f"{self.config.api}.execute-api.{self.config.region}.amazonaws.com"
        common = {"accountId": self.config.account, "apiId": self.config.api, "domainName": domain, "domainPrefix": self.config.api}
        if self.config.kind == "http-2.0":
            http = {"method": request.method, "path": f"/{self.config.stage}{path}", "protocol": "HTTP/1.1"}
            http |= {"sourceIp": request.source_ip, "userAgent": request.header("User-Agent")}
            return (
                common
                | {"http": http, "requestId": aws_id(), "routeKey": route, "stage": self.config.stage}
                | {
                    "time": request_time(now),
                    "timeEpoch": now,
                }
            )
        identity = {"sourceIp": request.source_ip, "userAgent": request.header("User-Agent")}
        resource = route.partition(" ")[2] or path
        return (
            common
            | {"httpMethod": request.method, "identity": identity, "path": f"/{self.config.stage}{path}"}
            | {
                "protocol": "HTTP/1.1",
                "requestId": aws_id(),
                "requestTime": request_time(now),
                "requestTimeEpoch": now,
                "resourceId": aws_id(3),
                "resourcePath": resource,
                "stage": self.config.stage,
            }
        )

    def _headers(self, request: HttpRequest) -> tuple[dict[str, str], dict[str, list[str]]]:
        http = self.config.kind.startswith("http")  # HTTP APIs lower-case header names and join repeated values
        single: dict[str, str] = {}
        multi: dict[str, list[str]] = {}
        for name, value in request.headers:
            key = name.lower() if http else name
            multi.setdefault(key, []).append(value)
            single[key] = ",".join(multi[key]) if http else value
        return single, multi

    def authorizer_event(self, request: HttpRequest, route: str, path: str, arn: str, identity: tuple[str, ...]) -> dict[str, Any]:
        kind = self.config.kind
        if kind == "rest-token":
            return {"type": "TOKEN", "authorizationToken": identity[0], "methodArn": arn}
        if kind == "http-2.0":
            event = self._payload_2(request, route, path)
            return {"version": "2.0", "type": "REQUEST", "routeArn": arn, "identitySource": list(identity), **event}
        event = self._payload_1(request, route, path)
        event = {"type": "REQUEST", "methodArn": arn, **event}
        if kind == "http-1.0":
            event = {"version": "1.0", **event, "identitySource": ",".join(identity), "authorizationToken": ",".join(identity)}
        return event

    def _payload_1(self, request: HttpRequest, route: str, path: str) -> dict[str, Any]:
        single, multi = self._headers(request)
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, value in request.query:
            query[name] = value
            multi_query.setdefault(name, []).append(value)
        http = self.config.kind.startswith("http")
        return {
            "resource": route.partition(" ")[2] or path,
            "path": path,
            "httpMethod": request.method,
            "headers": single,
            "multiValueHeaders": multi,
            "queryStringParameters": query or (None if http else {}),
            "multiValueQueryStringParameters": multi_query or (None if http else {}),
            "pathParameters": None if http else {},
            "stageVariables": None if http else {},
            "requestContext": self._context(request, route, path),
        }

    def _payload_2(self, request: HttpRequest, route: str, path: str) -> dict[str, Any]:
        single, multi = self._headers(request)
        cookies = [part.strip() for line in multi.pop("cookie", []) for part in line.split(";") if part.strip()]
        single.pop("cookie", None)
        event: dict[str, Any] = {"routeKey": route, "rawPath": f"/{self.config.stage}{path}", "rawQueryString": request.raw_query}
        if cookies:
            event["cookies"] = cookies
        event["headers"] = single
        if request.query:
            grouped: dict[str, list[str]] = {}
            for name, value in request.query:
                grouped.setdefault(name, []).append(value)
            event["queryStringParameters"] = {name: ",".join(values) for name, values in grouped.items()}
        event["requestContext"] = self._context(request, route, path)
        return event

    def proxy_event(self, request: HttpRequest, route: str, path: str, authorizer: dict[str, Any] | None) -> dict[str, Any]:
        event = self._payload_2(request, route, path) if self.config.kind == "http-2.0" else self._payload_1(request, route, path)
        if self.config.kind == "http-2.0":
            event = {"version": "2.0", **event}
        if authorizer is not None:
            event["requestContext"]["authorizer"] = authorizer
        event["body"] = request.body.decode(errors="replace") if request.body else None
        event["isBase64Encoded"] = False
        return event


def _message(status: int, message: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, orjson.dumps({"message": message})
