"""The local stage's REST and HTTP API front (fastauthz.dev.httpstage) with real clients: urllib, curl
and headless Chromium's fetch, in front of the real authorizer in Lambda-like worker processes."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from fastauthz.dev.httpstage import HttpStage, HttpStageConfig
from fastauthz.dev.issuer import DevIssuer
from fastauthz.dev.runtime import FunctionSpec
from testkit.browser import CHROMIUM, headless_chromium

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def issuer() -> Iterator[DevIssuer]:
    with DevIssuer(audience="http-stage") as running:
        yield running


@contextmanager
def running(config: HttpStageConfig) -> Iterator[HttpStage]:
    """The stage on its own event loop in a thread, so that blocking clients can call it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    stage = asyncio.run_coroutine_threadsafe(HttpStage(config).start(), loop).result(30)
    try:
        yield stage
    finally:
        asyncio.run_coroutine_threadsafe(stage.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def fastauthz(issuer: DevIssuer, **env: str) -> FunctionSpec:
    return FunctionSpec("fastauthz.handler:handler", env={**issuer.environment(), "FASTAUTHZ_METRICS": "false", **env}, timeout=10.0)


def spec(handler: str, **env: str) -> FunctionSpec:
    return FunctionSpec(handler, env={"PYTHONPATH": str(ROOT), **env}, timeout=10.0)


def call(url: str, token: str | None = None, method: str = "GET", header: str = "Authorization") -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, headers={header: f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


KINDS = [("rest-token", False), ("rest-request", False), ("http-1.0", False), ("http-2.0", False), ("http-2.0", True)]


@pytest.mark.parametrize(("kind", "simple"), KINDS)
def test_each_api_type_allows_refuses_and_denies_as_api_gateway_does(issuer: DevIssuer, kind: str, simple: bool) -> None:
    env = {"JWT_REQUIRED_SCOPES": "chat"} | ({"FASTAUTHZ_HTTP_SIMPLE_RESPONSES": "true"} if simple else {})
    config = HttpStageConfig(authorizer=fastauthz(issuer, **env), kind=kind, simple_responses=simple, result_ttl=0)
    with running(config) as stage:
        status, body = call(stage.url + "/messages", issuer.mint(sub="ada", scope="chat"))
        assert status == 200
        context = body["authorizer"]["lambda"] if kind == "http-2.0" else body["authorizer"]
        assert context["scope"] == "chat" and (simple or context["principalId"] == "ada")  # a simple response names no principal
        before = stage.invocations
        assert call(stage.url + "/messages") == (401, {"message": "Unauthorized"})  # no identity source: not invoked
        assert stage.invocations == before
        expired = call(stage.url + "/messages", issuer.mint(ttl=-600))[0]
        assert expired == (403 if simple else 401)
        assert call(stage.url + "/messages", issuer.mint(scope="read"))[0] == 403  # a Deny, or isAuthorized false


def test_a_cached_allow_serves_every_route_of_the_stage_and_a_narrow_policy_fails_on_the_second(issuer: DevIssuer) -> None:
    token = issuer.mint(sub="ada")
    with running(HttpStageConfig(authorizer=fastauthz(issuer), kind="rest-token")) as stage:  # REST's default TTL: 300 s
        assert call(stage.url + "/messages", token)[0] == 200
        assert call(stage.url + "/messages/42", token, method="DELETE")[0] == 200
        assert stage.invocations == 1  # the second answer came from API Gateway's cache
    with running(HttpStageConfig(authorizer=spec("tests.stage_functions:allow_only_this_method"), kind="rest-request")) as stage:
        assert call(stage.url + "/messages", token)[0] == 200
        assert call(stage.url + "/messages/42", token, method="DELETE")[0] == 403  # serverless #2827, reproduced
        assert stage.invocations == 1


@pytest.mark.parametrize(("kind", "simple"), [("http-1.0", False), ("http-2.0", False), ("http-2.0", True)])
def test_an_http_api_caching_results_answers_other_routes_from_its_cache(issuer: DevIssuer, kind: str, simple: bool) -> None:
    env = {"FASTAUTHZ_HTTP_SIMPLE_RESPONSES": "true"} if simple else {}
    routes: dict[str, FunctionSpec | None] = {"GET /messages": None, "DELETE /messages/42": None}
    config = HttpStageConfig(authorizer=fastauthz(issuer, **env), kind=kind, simple_responses=simple, result_ttl=300, routes=routes)
    with running(config) as stage:
        token = issuer.mint(sub="ada")
        assert call(stage.url + "/messages", token)[0] == 200
        assert call(stage.url + "/messages/42", token, method="DELETE")[0] == 200
        assert stage.invocations == 1
        assert call(stage.url + "/messages", issuer.mint(ttl=-600))[0] == (403 if simple else 401)  # another token: asked again
        assert stage.invocations == 2


def test_routes_reach_their_integration_with_the_authorizer_context(issuer: DevIssuer) -> None:
    for kind in ("rest-request", "http-2.0"):
        routes: dict[str, FunctionSpec | None] = {"GET /me": spec("tests.stage_functions:whoami")}
        with running(HttpStageConfig(authorizer=fastauthz(issuer), kind=kind, routes=routes)) as stage:
            status, body = call(stage.url + "/me", issuer.mint(sub="grace"))
            assert status == 200 and body["path"].endswith("/me")
            assert (body["authorizer"]["lambda"] if kind == "http-2.0" else body["authorizer"])["principalId"] == "grace"
            assert call(stage.url + "/nowhere", issuer.mint())[0] == (404 if kind == "http-2.0" else 403)


def test_curl_against_the_stage(issuer: DevIssuer) -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("no curl on this machine")
    with running(HttpStageConfig(authorizer=fastauthz(issuer), kind="http-1.0")) as stage:
        for token, expected in ((issuer.mint(), "200"), (issuer.mint(ttl=-600), "401"), ("", "401")):
            headers = ["-H", f"Authorization: Bearer {token}"] if token else []
            completed = subprocess.run(
                [curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", *headers, stage.url + "/messages"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            )
            assert completed.stdout == expected


def test_a_browser_fetch_with_the_session_cookie(issuer: DevIssuer) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            raise RuntimeError("CI must run the browser test: install chromium (.ci/run does)")
        pytest.skip("no chromium on this machine")
    token = issuer.mint(sub="ada")
    env = {"JWT_TOKEN_SOURCES": "cookie", "JWT_COOKIE_NAME": "session", "JWT_ALLOWED_ORIGINS": "http://127.0.0.1"}
    routes: dict[str, FunctionSpec | None] = {
        "GET /page": spec("tests.stage_functions:browser_page", PAGE_TOKEN=token, PAGE_STAGE="local"),
        "GET /messages": spec("tests.stage_functions:whoami"),
        "GET /report": None,
    }
    config = HttpStageConfig(
        authorizer=fastauthz(issuer, **env),
        kind="http-2.0",
        identity_sources=["$request.header.Cookie"],
        routes=routes,
        public=["GET /page", "GET /report"],
    )
    with running(config) as stage:
        with headless_chromium(stage.url + "/page"):
            deadline = time.monotonic() + 60
            while not any(target.startswith("/local/report") for _, target, _ in stage.answered) and time.monotonic() < deadline:
                time.sleep(0.05)
        report = next(target for _, target, _ in stage.answered if target.startswith("/local/report"))
    query = dict(urllib.parse.parse_qsl(report.partition("?")[2]))
    assert query["status"] == "200", query
    assert json.loads(query["body"])["authorizer"]["lambda"]["principalId"] == "ada"
