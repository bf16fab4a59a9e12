"""The library in servers outside Lambda: the README's websockets and Starlette recipes run as written
with a real client, averify keeps an event loop ticking through a slow key fetch, and verify gives
the same answers from many threads at once."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from fastauthz.errors import Rejected
from testkit.authorizers import make_authorizer
from testkit.keys import jwks, write_jwks
from testkit.server import KeyServer
from testkit.tokens import AUDIENCE, ISSUER, claims, mint

README = Path(__file__).resolve().parents[2] / "README.md"


def recipe(name: str, directory: Path) -> ModuleType:
    """The README's `<!-- recipe: name -->` code block, imported as a module."""
    block = re.search(rf"<!-- recipe: {name} -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert block is not None, f"no recipe {name!r} in the README"
    path = directory / f"recipe_{name}.py"
    path.write_text(block.group(1))
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The environment a recipe's Authorizer.from_env() reads: file keys, a required scope."""
    for name, value in {
        "JWT_ISSUER_JWKS_URI": write_jwks(tmp_path, "rsa-1"),
        "JWT_ISSUER": ISSUER,
        "JWT_AUTHORIZED_AUDIENCES": AUDIENCE,
        "JWT_REQUIRED_SCOPES": "chat:write",
        "FASTAUTHZ_METRICS": "false",
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def now_token(**overrides: Any) -> str:
    issued = int(time.time())
    return mint("rsa-1", claims(**{"iat": issued - 5, "exp": issued + 600, **overrides}))


async def until(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    """Wait on the loop for `condition`; a bounded wait, so that a regression fails rather than hangs."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {seconds} s")
        await asyncio.sleep(0.005)


async def handshake(url: str, token: str | None) -> tuple[int, str]:
    """(101, first message) or (the HTTP status the server refused with, its body)."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        async with connect(url, additional_headers=headers, open_timeout=10) as websocket:
            return 101, str(await websocket.recv())
    except InvalidStatus as refused:
        return refused.response.status_code, refused.response.body.decode().strip()


async def every_case(url: str) -> list[tuple[int, str]]:
    return [
        await handshake(url, now_token()),
        await handshake(url, now_token(exp=int(time.time()) - 3600)),
        await handshake(url, now_token(scope="chat:read")),
        await handshake(url, None),
        await handshake(url, "not.a.token"),
    ]


EXPECTED = [(101, "hello user-1"), (401, "expired"), (403, "insufficient_scope"), (401, "missing_token"), (401, "malformed")]


def test_the_websockets_recipe_refuses_in_the_handshake_with_the_right_status(configured: Path) -> None:
    module = recipe("websockets", configured)

    async def scenario() -> list[tuple[int, str]]:
        async with module.server(port=0) as server:
            port = server.sockets[0].getsockname()[1]
            return await every_case(f"ws://127.0.0.1:{port}")

    assert asyncio.run(scenario()) == EXPECTED


def test_the_websockets_recipe_runs_as_a_script_as_the_readme_says(configured: Path) -> None:
    """`python app.py`, the recipe saved as a file: it serves on 127.0.0.1:8765 until stopped."""
    import os
    import signal
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 8765)) == 0:
            pytest.skip("127.0.0.1:8765 is in use (a fastauthz dev?): the recipe's own port")
    recipe("websockets", configured)  # writes recipe_websockets.py
    app = configured / "app.py"
    app.write_text((configured / "recipe_websockets.py").read_text())
    process = subprocess.Popen(  # SIGINT as in a terminal, whatever the runner passed down (see test_cli_failures)
        [sys.executable, str(app)],
        env=os.environ.copy(),
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:

        async def scenario() -> tuple[int, str]:
            deadline = time.monotonic() + 30
            while True:
                try:
                    return await handshake("ws://127.0.0.1:8765", now_token())
                except OSError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
                    await asyncio.sleep(0.1)

        assert asyncio.run(scenario()) == (101, "hello user-1")
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)  # its server closes connections with websockets' 10-s close timeout: slow on a busy machine


def test_the_starlette_recipe_refuses_before_accepting_with_the_right_status(configured: Path) -> None:
    module = recipe("starlette", configured)

    async def scenario() -> list[tuple[int, str]]:
        server = uvicorn.Server(uvicorn.Config(module.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
        serving = asyncio.create_task(server.serve())
        await until(lambda: server.started)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            return await every_case(f"ws://127.0.0.1:{port}/chat")
        finally:
            server.should_exit = True
            await serving

    assert asyncio.run(scenario()) == EXPECTED


# -- asyncio: averify never blocks the loop ---------------------------------------------------------------
@pytest.fixture
def rotating(key_server: KeyServer) -> Iterator[KeyServer]:
    """A key server that has just published rsa-2 beside rsa-1, and answers only when released."""
    key_server.serve(jwks("rsa-1"))
    yield key_server
    key_server.release()


def test_the_loop_keeps_ticking_while_a_slow_key_fetch_is_under_way(rotating: KeyServer) -> None:
    authorizer = make_authorizer(rotating.url, JWT_JWKS_TIMEOUT_SECONDS="15")
    assert authorizer.verify(mint("rsa-1"))["sub"] == "user-1"  # keys loaded; rsa-2 is not among them
    rotating.serve(jwks("rsa-1", "rsa-2"))
    rotating.hold()

    async def scenario() -> tuple[bool, dict[str, Any]]:
        pending = asyncio.create_task(authorizer.averify(mint("rsa-2", claims(sub="user-2"))))
        await until(rotating.arrived.is_set)  # the refetch reached the server, which now holds it
        for _ in range(3):  # the loop runs other work meanwhile: a blocking verify would stop it here
            await asyncio.sleep(0.005)
        still_waiting = not pending.done()
        rotating.release()
        return still_waiting, await pending

    still_waiting, verified = asyncio.run(scenario())
    assert still_waiting and verified["sub"] == "user-2"


def test_concurrent_callers_share_one_key_fetch(rotating: KeyServer) -> None:
    authorizer = make_authorizer(rotating.url, JWT_JWKS_TIMEOUT_SECONDS="15")
    authorizer.verify(mint("rsa-1"))
    fetched_before = rotating.requests
    rotating.serve(jwks("rsa-1", "rsa-2"))
    rotating.hold()

    async def scenario() -> list[Any]:
        waiting = [asyncio.create_task(authorizer.averify(mint("rsa-2", claims(sub=f"user-{n}")))) for n in range(12)]
        await until(rotating.arrived.is_set)
        await asyncio.sleep(0.05)  # every caller is parked on the fetch by now, or joins it when it comes back
        rotating.release()
        return list(await asyncio.gather(*waiting, return_exceptions=True))

    answers = asyncio.run(scenario())
    assert [answer["sub"] if isinstance(answer, dict) else answer for answer in answers] == [f"user-{n}" for n in range(12)]
    assert rotating.requests - fetched_before == 1


def test_averify_answers_what_verify_answers(tmp_path: Path) -> None:
    authorizer = make_authorizer(write_jwks(tmp_path, "rsa-1", "es256-1"))

    def answer(call: Callable[[], dict[str, Any]]) -> str:
        try:
            return str(call()["sub"])
        except Rejected as refusal:
            return refusal.reason

    tokens: tuple[Any, ...] = (
        mint("rsa-1"),
        mint("es256-1"),
        mint("rsa-1", claims(exp=0)),
        mint("rsa-2"),
        "x.y.z",
        "",
        7,
        mint("rsa-1", claims(iss="https://other")),
    )
    for token in tokens:
        sync_answer = answer(lambda: authorizer.verify(token))
        async_answer = answer(lambda: asyncio.run(authorizer.averify(token)))
        assert sync_answer == async_answer, token


# -- threads: verify with no shared scratch state -------------------------------------------------------------
def test_verify_from_many_threads_gives_each_token_its_own_answer(rotating: KeyServer) -> None:
    rotating.serve(jwks("rsa-1", "es256-1"))
    # A small cache, so that threads evict each other's entries; keys rotate while they run.
    authorizer = make_authorizer(rotating.url, JWT_CACHE_SIZE="8")
    authorizer.verify(mint("rsa-1"))
    rotating.serve(jwks("rsa-1", "es256-1", "rsa-2"))
    rotating.delay = 0.2  # the refetch for rsa-2 is under way while other threads ask for it
    cases: list[tuple[str, str]] = []
    for n in range(40):
        cases += [
            (mint("rsa-1", claims(sub=f"rsa-{n}")), f"rsa-{n}"),
            (mint("es256-1", claims(sub=f"es-{n}")), f"es-{n}"),
            (mint("rsa-2", claims(sub=f"new-{n}")), f"new-{n}"),
            (mint("rsa-1", claims(sub=f"late-{n}", exp=0)), "expired"),
            (mint("rsa-1", claims(sub=f"aud-{n}", aud="other")), "bad_audience"),
        ]
    wrong: list[tuple[str, str]] = []

    def answer(token: str) -> str:
        try:
            return str(authorizer.verify(token)["sub"])
        except Rejected as refusal:
            return refusal.reason

    def worker(offset: int, done: Callable[[], None]) -> None:
        for index in range(offset, len(cases) * 2, 8):  # every case twice: the second may come from the cache
            token, expected = cases[index % len(cases)]
            got = answer(token)
            if got != expected:
                wrong.append((expected, got))
        done()

    finished = threading.Semaphore(0)
    threads = [threading.Thread(target=worker, args=(offset, finished.release)) for offset in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(not thread.is_alive() for thread in threads)
    assert wrong == []
