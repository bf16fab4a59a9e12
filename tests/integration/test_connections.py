"""Connections that end when their token does (fastauthz.connections), with real WebSocket clients
against the local stage: its `$connect`, `$disconnect`, `reauth` and message routes run the module's
handlers in Lambda-like workers, the registry is a DynamoDB API server on loopback (moto's server
mode), and connections are closed through the stage's own management API."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from fastauthz.connections import Management, Registry, disconnect_user, sweep
from fastauthz.dev.issuer import DevIssuer
from fastauthz.dev.lifetime import TABLE, LocalLifetime, free_port
from fastauthz.dev.runtime import FunctionSpec
from fastauthz.dev.stage import Stage, StageConfig
from testkit.processes import banner, stage_url

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dynamodb_server() -> Iterator[dict[str, str]]:
    """A DynamoDB API on 127.0.0.1 with the registry's table (the local stage's own, fastauthz dev's),
    and the environment boto3 needs to reach it."""
    lifetime = LocalLifetime().start()
    yield lifetime.environment
    lifetime.stop()


@pytest.fixture
def dynamodb(dynamodb_server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This test's environment reaches the registry (conftest clears AWS_* before each test)."""
    for name, value in dynamodb_server.items():
        monkeypatch.setenv(name, value)
    return dynamodb_server


@pytest.fixture(scope="module")
def issuer() -> Iterator[DevIssuer]:
    with DevIssuer(audience="connections") as running:
        yield running


def stage_config(issuer: DevIssuer, dynamodb: dict[str, str], management_port: int, **settings: str) -> StageConfig:
    """The stage, its authorizer and the connection functions, all with one configuration (`settings`
    on top of the issuer's), as the templates give them."""
    env = {**dynamodb, "PYTHONPATH": str(ROOT), "FASTAUTHZ_MANAGEMENT_ENDPOINT": f"http://127.0.0.1:{management_port}/local"}
    env |= {"FASTAUTHZ_SWEEP_GRACE_SECONDS": "0", **issuer.environment(), "FASTAUTHZ_METRICS": "false", **settings}

    def spec(handler: str) -> FunctionSpec:
        return FunctionSpec(handler, env=env, timeout=10.0)

    return StageConfig(
        authorizer=spec("fastauthz.handler:handler"),
        connect=spec("fastauthz.connections:on_connect"),
        disconnect=spec("fastauthz.connections:on_disconnect"),
        routes={"reauth": spec("fastauthz.connections:on_reauth"), "$default": spec("tests.stage_functions:guarded_echo")},
        two_way=["$default"],
        management_port=management_port,
    )


def run(issuer: DevIssuer, dynamodb: dict[str, str], scenario: Any, **settings: str) -> Any:
    port = free_port()

    async def main() -> Any:
        stage = await Stage(stage_config(issuer, dynamodb, port, **settings)).start()
        try:
            return await scenario(stage, Registry(TABLE), Management(f"http://127.0.0.1:{port}/local"))
        finally:
            await stage.close()

    return asyncio.run(main())


async def open_socket(stage: Stage, token: str) -> ClientConnection:
    return await connect(f"{stage.url}?authorization={token}", open_timeout=15)


async def closed_by_server(websocket: ClientConnection) -> int | None:
    """The close code the server sent, or None while the connection is open."""
    try:
        await asyncio.wait_for(websocket.recv(), 2.0)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else -1
    except TimeoutError:
        return None
    return None


async def until_past(deadline: float) -> None:
    await asyncio.sleep(max(0.0, deadline - time.time()) + 0.05)


def test_a_connection_is_closed_by_the_sweeper_once_its_token_expires(issuer: DevIssuer, dynamodb: dict[str, str]) -> None:
    async def scenario(stage: Stage, registry: Registry, management: Management) -> tuple[Any, ...]:
        issued = time.time()
        short = await open_socket(stage, issuer.mint(sub="ada", ttl=2, now=issued))
        long = await open_socket(stage, issuer.mint(sub="bob", ttl=600))
        exp = int(issued + 2)
        # Swept as of a moment before `exp` (grace 0), whatever the time now: on a busy machine the
        # connects alone can take past it. Nothing is due then.
        first = sweep(registry, management, exp - 0.5)
        await until_past(exp)
        second = sweep(registry, management, time.time())
        return first.closed, second.closed, await closed_by_server(short), await closed_by_server(long)

    assert run(issuer, dynamodb, scenario) == (0, 1, 1000, None)


def test_a_reauth_keeps_a_connection_open_past_its_first_exp(issuer: DevIssuer, dynamodb: dict[str, str]) -> None:
    async def scenario(stage: Stage, registry: Registry, management: Management) -> tuple[Any, ...]:
        websocket = await open_socket(stage, issuer.mint(sub="ada", ttl=2))
        await websocket.send(json.dumps({"action": "reauth", "token": issuer.mint(sub="ada", ttl=600)}))
        reply = json.loads(await asyncio.wait_for(websocket.recv(), 10))
        await until_past(time.time() + 2)
        swept = sweep(registry, management, time.time())
        await websocket.send("still here")
        echoed = json.loads(await asyncio.wait_for(websocket.recv(), 10))
        await websocket.close()
        return reply["ok"], reply["exp"] > time.time() + 500, swept.closed, echoed

    ok, extended, closed, echoed = run(issuer, dynamodb, scenario)
    assert ok and extended and closed == 0
    assert echoed == {"allowed": True, "body": "still here"}  # the guard read the registry: the deadline moved


@pytest.mark.parametrize(("changes", "reason"), [({"sub": "mallory"}, "reauth_mismatch"), ({"ttl": -600}, "expired")])
def test_a_reauth_for_someone_else_or_expired_is_refused_and_closes(
    issuer: DevIssuer, dynamodb: dict[str, str], changes: dict[str, Any], reason: str
) -> None:
    async def scenario(stage: Stage, registry: Registry, management: Management) -> tuple[Any, ...]:
        websocket = await open_socket(stage, issuer.mint(sub="ada", ttl=600))
        token = issuer.mint(**{"sub": "ada", "ttl": 600, **changes})
        await websocket.send(json.dumps({"action": "reauth", "token": token}))
        reply = json.loads(await asyncio.wait_for(websocket.recv(), 10))
        return reply, await closed_by_server(websocket)

    reply, code = run(issuer, dynamodb, scenario)
    assert reply == {"action": "reauth", "ok": False, "reason": reason} and code == 1000


def test_sign_out_closes_every_connection_of_the_user(issuer: DevIssuer, dynamodb: dict[str, str]) -> None:
    async def scenario(stage: Stage, registry: Registry, management: Management) -> tuple[Any, ...]:
        sockets = [await open_socket(stage, issuer.mint(sub=sub, ttl=600)) for sub in ("eve", "eve", "zoe")]
        closed = disconnect_user("eve", registry, management)
        return closed, [await closed_by_server(websocket) for websocket in sockets]

    assert run(issuer, dynamodb, scenario) == (2, [1000, 1000, None])


def test_fastauthz_disconnect_signs_a_user_out_from_the_command_line(issuer: DevIssuer, dynamodb: dict[str, str]) -> None:
    async def scenario(stage: Stage, registry: Registry, management: Management) -> tuple[Any, ...]:
        sockets = [await open_socket(stage, issuer.mint(sub=sub, ttl=600)) for sub in ("kim", "kim", "lee")]
        completed = await asyncio.to_thread(
            subprocess.run,
            [
                sys.executable,
                "-m",
                "fastauthz.dev.cli",
                "disconnect",
                "--sub",
                "kim",
                "--issuer",
                issuer.issuer,
                "--endpoint",
                management.endpoint,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        return completed.returncode, completed.stdout.strip(), [await closed_by_server(websocket) for websocket in sockets]

    assert run(issuer, dynamodb, scenario) == (0, f"closed 2 connections of kim of {issuer.issuer}", [1000, 1000, None])


def test_the_guard_refuses_a_message_after_the_deadline(issuer: DevIssuer, dynamodb: dict[str, str]) -> None:
    async def scenario(stage: Stage, registry: Registry, management: Management) -> tuple[Any, ...]:
        # 8 s of token: the connect and the first message's cold start fit in it even on a busy machine.
        issued = time.time()
        websocket = await open_socket(stage, issuer.mint(sub="ada", ttl=8, now=issued))
        await websocket.send("before")
        before = json.loads(await asyncio.wait_for(websocket.recv(), 10))
        await until_past(int(issued + 8))
        await websocket.send("after")  # no sweep ran yet: the route itself must refuse
        after = json.loads(await asyncio.wait_for(websocket.recv(), 10))
        return before["allowed"], after["allowed"]

    assert run(issuer, dynamodb, scenario) == (True, False)


def test_fastauthz_dev_closes_an_expired_connection_by_itself_and_keeps_a_reauthed_one(tmp_path: Path) -> None:
    """`fastauthz dev` runs the registry, the integrations and the sweeper by default."""
    command = [sys.executable, "-m", "fastauthz.dev.cli", "dev", "--port", "0", "--issuer-port", "0", "--state", str(tmp_path)]
    command += ["--sweep-interval", "1", "--authorizer-env", "JWT_LEEWAY_SECONDS=0"]
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "FASTAUTHZ_", "JWT_"))}
    target = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={**environment, "PYTHONPATH": str(ROOT)})
    try:
        assert target.stdout is not None
        stage = stage_url(banner(target.stdout, "stage ws://"))
        assert stage, "fastauthz dev did not start"

        def token(**claims: Any) -> str:
            arguments = ["token", "--state", str(tmp_path), *(f"--{k}={v}" for k, v in claims.items())]
            return subprocess.run(
                [sys.executable, "-m", "fastauthz.dev.cli", *arguments], capture_output=True, text=True, check=True
            ).stdout.strip()

        async def scenario() -> tuple[int | None, int | None, bool]:
            # 8 s: the re-auth (a cold start of its function) lands before the sweeper's 1-s schedule
            # closes `kept`, even on a busy machine.
            expiring = await connect(f"{stage}?authorization={token(sub='ada', ttl=8)}", open_timeout=15)
            kept = await connect(f"{stage}?authorization={token(sub='bob', ttl=8)}", open_timeout=15)
            await kept.send(json.dumps({"action": "reauth", "token": token(sub="bob", ttl=600)}))
            reply = json.loads(await asyncio.wait_for(kept.recv(), 15))
            await asyncio.sleep(11)  # past the first exp, and more than one sweep
            return await closed_by_server(expiring), await closed_by_server(kept), reply["ok"]

        assert asyncio.run(scenario()) == (1000, None, True)
    finally:
        target.terminate()
        target.wait(15)


def test_closing_or_sending_to_a_connection_that_is_gone_is_not_an_error(issuer: DevIssuer, dynamodb: dict[str, str]) -> None:
    async def scenario(stage: Stage, registry: Registry, management: Management) -> tuple[bool, bool]:
        return await asyncio.to_thread(management.close, "gone-connection="), await asyncio.to_thread(
            management.send, "gone-connection=", {"hello": 1}
        )

    assert run(issuer, dynamodb, scenario) == (True, False)  # a 410: closed already, nothing delivered


def fresh_registry(dynamodb: dict[str, str]) -> Registry:
    """A registry on a table of its own: a sweep's counts are this test's alone."""
    import uuid

    import boto3

    from fastauthz.connections import table_definition
    from fastauthz.dev.lifetime import CLIENT_OPTIONS

    client = boto3.client("dynamodb", endpoint_url=dynamodb["AWS_ENDPOINT_URL_DYNAMODB"], **CLIENT_OPTIONS)
    table = f"sweep-{uuid.uuid4().hex[:8]}"
    client.create_table(**table_definition(table))
    return Registry(table, client)


def record_due(registry: Registry, count: int, deadline: float) -> None:
    from fastauthz.connections import Connection

    for index in range(count):
        registry.record(Connection(f"gone-{deadline}-{index}=", "ada", "https://issuer", deadline, int(deadline * 1000) - 60_000))


def test_a_sweep_closes_many_connections_at_once_each_exactly_once(issuer: DevIssuer, dynamodb: dict[str, str]) -> None:
    """Real sockets, closed by workers in parallel (production's 500 connects/s means up to 30,000
    deadlines a minute): every one gets its close, none is left registered or closed twice."""

    async def scenario(stage: Stage, registry: Registry, management: Management) -> tuple[Any, ...]:
        sockets = await asyncio.gather(*(open_socket(stage, issuer.mint(sub=f"user-{n}", ttl=3)) for n in range(60)))
        await until_past(time.time() + 3)
        report = await asyncio.to_thread(sweep, registry, management, time.time(), workers=16)
        again = await asyncio.to_thread(sweep, registry, management, time.time(), workers=16)
        codes = await asyncio.gather(*(closed_by_server(websocket) for websocket in sockets))
        return report.closed, report.failed, again.closed, set(codes)

    assert run(issuer, dynamodb, scenario) == (60, 0, 0, {1000})


def test_a_sweep_stops_at_its_bound_and_the_next_run_carries_on(issuer: DevIssuer, dynamodb: dict[str, str]) -> None:
    async def scenario(stage: Stage, _: Registry, management: Management) -> list[tuple[int, bool]]:
        registry = fresh_registry(dynamodb)
        record_due(registry, 25, time.time() - 1)  # connections that are already gone: a 410 is a close
        runs = []
        for _run in range(3):
            report = await asyncio.to_thread(sweep, registry, management, time.time(), max_closes=10, workers=4)
            runs.append((report.closed, report.caught_up))
        return runs

    assert run(issuer, dynamodb, scenario) == [(10, False), (10, False), (5, True)]


def test_a_sweep_out_of_time_starts_no_more_closes(issuer: DevIssuer, dynamodb: dict[str, str]) -> None:
    async def scenario(stage: Stage, _: Registry, management: Management) -> tuple[Any, ...]:
        registry = fresh_registry(dynamodb)
        record_due(registry, 5, time.time() - 180)  # three minutes ago, and in this minute
        record_due(registry, 5, time.time() - 1)
        late = await asyncio.to_thread(sweep, registry, management, time.time(), stop_at=time.monotonic() - 1)
        rest = await asyncio.to_thread(sweep, registry, management, time.time())
        return late.caught_up, late.closed < 10, late.closed + rest.closed, rest.caught_up

    assert run(issuer, dynamodb, scenario) == (False, True, 10, True)


def test_a_close_that_fails_keeps_its_row_for_the_next_run_real_refused_port(issuer: DevIssuer, dynamodb: dict[str, str]) -> None:
    """The management API unreachable (a port nothing listens on: a real refused connection)."""
    from fastauthz.dev.lifetime import CLIENT_OPTIONS

    async def scenario(stage: Stage, _: Registry, management: Management) -> tuple[Any, ...]:
        import boto3
        from botocore.config import Config

        registry = fresh_registry(dynamodb)
        record_due(registry, 3, time.time() - 1)
        endpoint = f"http://127.0.0.1:{free_port()}/local"
        client = boto3.client(
            "apigatewaymanagementapi", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}), **CLIENT_OPTIONS
        )
        failing = await asyncio.to_thread(sweep, registry, Management(endpoint, client), time.time())
        recovered = await asyncio.to_thread(sweep, registry, management, time.time())
        return failing.closed, failing.failed, failing.caught_up, recovered.closed, recovered.caught_up

    assert run(issuer, dynamodb, scenario) == (0, 3, False, 3, True)


class LambdaContext:
    """The part of Lambda's context object the sweeper reads."""

    def __init__(self, timeout: float) -> None:
        self.ends = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return int((self.ends - time.monotonic()) * 1000)


def test_one_sweeper_run_keeps_sweeping_while_deadlines_fall_within_it(
    issuer: DevIssuer, dynamodb: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy API's connections close within seconds of their deadline, not a schedule period later;
    the run ends when no deadline falls before its time is up."""
    import fastauthz.connections as connections
    from fastauthz.connections import environment

    async def scenario(stage: Stage, registry: Registry, management: Management) -> tuple[Any, ...]:
        environment.reset()
        monkeypatch.setenv("FASTAUTHZ_MANAGEMENT_ENDPOINT", management.endpoint)
        monkeypatch.setenv("FASTAUTHZ_SWEEP_INTERVAL_SECONDS", "1")
        sweep(registry, management, time.time())  # the earlier tests' due connections are not this run's
        first = await open_socket(stage, issuer.mint(sub="ada", ttl=4))  # room for the connects on a busy machine
        second = await open_socket(stage, issuer.mint(sub="bob", ttl=9))
        kept = await open_socket(stage, issuer.mint(sub="cyd", ttl=600))
        summary = await asyncio.to_thread(connections.sweeper, {}, LambdaContext(timeout=30))
        codes = [await closed_by_server(websocket) for websocket in (first, second, kept)]
        return summary["closed"], summary["sweeps"] >= 2, summary["caught_up"], codes

    assert run(issuer, dynamodb, scenario) == (2, True, True, [1000, 1000, None])


# -- #31: the connection functions decide as `$connect` does ----------------------------------------------
def test_a_reauth_asks_the_hook_and_a_revoked_session_is_refused_and_closed(
    issuer: DevIssuer, dynamodb: dict[str, str], tmp_path: Path
) -> None:
    revoked = tmp_path / "revoked.json"
    revoked.write_text("[]")

    async def scenario(stage: Stage, registry: Registry, management: Management) -> tuple[Any, ...]:
        websocket = await open_socket(stage, issuer.mint(sub="ada", ttl=600, sid="s-1"))
        revoked.write_text('["s-1"]')  # the session is revoked while the connection is open
        await websocket.send(json.dumps({"action": "reauth", "token": issuer.mint(sub="ada", ttl=7200, sid="s-1")}))
        reply = json.loads(await asyncio.wait_for(websocket.recv(), 10))
        return reply, await closed_by_server(websocket)

    settings = {"FASTAUTHZ_AUTHORIZE": "tests.hooks:revoked_sessions", "REVOKED_FILE": str(revoked)}
    reply, code = run(issuer, dynamodb, scenario, **settings)
    assert reply == {"action": "reauth", "ok": False, "reason": "hook_unauthorized"} and code == 1000


@pytest.mark.parametrize(
    "body",
    [
        '{"action": "reauth", "token": ' + "[" * 1000 + "]" * 1000 + "}",  # past Python's recursion limit, within the router's
        '{"action": "reauth", "token": "' + "x" * 100_000 + '"}',
        '{"action": "reauth", "token": ["not", "a", "string"]}',
        '{"action": "reauth"}',
    ],
    ids=["nested", "huge", "token-not-a-string", "no-token"],
)
def test_a_reauth_with_any_body_is_answered_and_closed_never_an_exception(issuer: DevIssuer, dynamodb: dict[str, str], body: str) -> None:
    async def scenario(stage: Stage, registry: Registry, management: Management) -> tuple[Any, ...]:
        websocket = await open_socket(stage, issuer.mint(sub="ada", ttl=600))
        await websocket.send(body)
        reply = json.loads(await asyncio.wait_for(websocket.recv(), 10))
        return reply["action"], reply["ok"], await closed_by_server(websocket)

    assert run(issuer, dynamodb, scenario) == ("reauth", False, 1000)


@pytest.mark.parametrize(
    "event",
    [
        {"body": "/w==", "isBase64Encoded": True},  # a binary frame, 0xff: not UTF-8
        {"body": "not base64!", "isBase64Encoded": True},
        {"body": '{"action": "reauth", "token": "\\udcff"}'},  # a lone surrogate, which the local router refuses to route
        {"body": 42},
    ],
)
def test_a_reauth_body_the_router_would_not_deliver_is_malformed_too(event: dict[str, Any]) -> None:
    from fastauthz.connections.routes import _reauth_token
    from fastauthz.errors import Rejected

    with pytest.raises(Rejected) as raised:
        _reauth_token(event, 8192)
    assert raised.value.reason == "malformed"


def test_a_reauth_accepts_another_spelling_of_the_same_issuer(issuer: DevIssuer, dynamodb: dict[str, str]) -> None:
    """A bare-host issuer derived from its key URL accepts `iss` with and without the trailing slash
    (as a Cognito pool accepts its issuer-cognito-idp form and replica Regions): so does re-auth."""

    async def scenario(stage: Stage, registry: Registry, management: Management) -> tuple[Any, ...]:
        websocket = await open_socket(stage, issuer.mint(sub="ada", ttl=600, claims={"iss": issuer.issuer}))
        token = issuer.mint(sub="ada", ttl=1200, claims={"iss": issuer.issuer + "/"})
        await websocket.send(json.dumps({"action": "reauth", "token": token}))
        reply = json.loads(await asyncio.wait_for(websocket.recv(), 10))
        return reply["ok"], await closed_by_server(websocket)

    assert run(issuer, dynamodb, scenario, JWT_ISSUER="") == (True, None)


def test_sign_out_of_one_issuer_closes_only_that_issuers_connections(issuer: DevIssuer, dynamodb: dict[str, str]) -> None:
    from fastauthz.connections import Connection

    async def scenario(stage: Stage, _: Registry, management: Management) -> tuple[Any, ...]:
        registry = fresh_registry(dynamodb)
        now = time.time()
        for connection_id, iss in (("a=", "https://one.example"), ("b=", "https://two.example"), ("c=", "https://one.example")):
            registry.record(Connection(connection_id, "1001", iss, now + 600, int(now * 1000)))
        one = await asyncio.to_thread(disconnect_user, "1001", registry, management, "https://one.example")
        rest = await asyncio.to_thread(disconnect_user, "1001", registry, management)
        return one, rest

    assert run(issuer, dynamodb, scenario) == (2, 1)


def test_rows_written_behind_the_sweepers_cursor_are_closed_by_a_later_sweep(issuer: DevIssuer, dynamodb: dict[str, str]) -> None:
    """A deadline written at about "now" (PutItem latency, the index's lag, clock skew between
    functions) can land behind the cursor: a later sweep still closes it, once."""
    from fastauthz.connections import Connection

    async def scenario(stage: Stage, _: Registry, management: Management) -> tuple[Any, ...]:
        registry = fresh_registry(dynamodb)
        now = time.time()
        registry.record(Connection("anchor=", "ada", "https://issuer", now - 0.1, int(now * 1000)))
        first = await asyncio.to_thread(sweep, registry, management, now)  # the cursor moves past the anchor
        registry.forget("anchor=")  # what its `$disconnect` does
        late = [await open_socket(stage, issuer.mint(sub=f"late-{n}", ttl=600)) for n in range(3)]
        for connection_id, behind in zip(list(stage.connections)[-3:], (1, 30, 90), strict=True):  # this minute and the one before
            registry.record(Connection(connection_id, "late", "https://issuer", now - behind, int(now * 1000)))
        later = await asyncio.to_thread(sweep, registry, management, time.time())
        again = await asyncio.to_thread(sweep, registry, management, time.time())
        codes = [await closed_by_server(websocket) for websocket in late]
        return first.closed, later.closed, later.recovered, again.closed + again.recovered, codes

    assert run(issuer, dynamodb, scenario) == (1, 0, 3, 0, [1000, 1000, 1000])


def test_fastauthz_dev_is_discoverable_a_user_signs_out_with_its_state_alone(tmp_path: Path) -> None:
    """#34: `fastauthz dev` writes its ports, registry and management endpoint to its state directory, so
    that `fastauthz disconnect --sub S --state DIR` works from anywhere with no other setup, and it says
    why it refused a connect (one line per connect: status, reason code, the authorizer's time)."""
    state = tmp_path / "state"
    command = [sys.executable, "-m", "fastauthz.dev.cli", "dev", "--port", "0", "--issuer-port", "0", "--state", str(state)]
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "FASTAUTHZ_", "JWT_"))}
    environment["PYTHONPATH"] = str(ROOT)
    target = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment)
    lines: list[str] = []
    try:
        assert target.stdout is not None
        lines += banner(target.stdout, "sign a user out:")
        stage = stage_url(lines)

        def cli(*arguments: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "fastauthz.dev.cli", *arguments], capture_output=True, text=True, env=environment, cwd=tmp_path
            )

        async def scenario() -> tuple[Any, ...]:
            token = cli("token", "--state", str(state), "--sub", "ada").stdout.strip()
            websocket = await connect(f"{stage}?authorization={token}", open_timeout=15)
            expired = cli("token", "--state", str(state), "--expired").stdout.strip()
            try:
                await connect(f"{stage}?authorization={expired}", open_timeout=15)
            except Exception:
                pass
            signed_out = await asyncio.to_thread(cli, "disconnect", "--sub", "ada", "--state", str(state))
            return signed_out.returncode, signed_out.stdout.strip(), await closed_by_server(websocket)

        code, said, closed = asyncio.run(scenario())
        assert (code, closed) == (0, 1000) and said.startswith("closed 1 connection of ada")
        assert json.loads((state / "stage.json").read_text())["registry"]["FASTAUTHZ_CONNECTIONS_TABLE"]
    finally:
        target.terminate()
        output, _ = target.communicate(timeout=15)
    said_lines = [line for line in [*lines, *output.splitlines()] if line.startswith("$connect ")]
    assert any(" -> 101 " in line and "cold start" in line for line in said_lines), said_lines
    assert any(" -> 401 expired " in line for line in said_lines), said_lines
