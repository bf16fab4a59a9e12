"""The local stage through real WebSocket connections on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from fastauthz.dev.issuer import DevIssuer
from fastauthz.dev.runtime import FunctionSpec
from fastauthz.dev.stage import Stage, StageConfig
from testkit.events import EVENTS

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


def spec(handler: str, **env: str) -> FunctionSpec:
    return FunctionSpec(handler, env={"PYTHONPATH": str(ROOT), **env}, timeout=5.0)


async def status_of(
    stage: Stage, headers: dict[str, str] | None = None, subprotocols: list[Subprotocol] | None = None, path: str = ""
) -> tuple[int, str | None]:
    try:
        async with connect(stage.url + path, additional_headers=headers or {}, subprotocols=subprotocols, open_timeout=15) as websocket:
            return 101, websocket.subprotocol
    except InvalidStatus as refused:
        return refused.response.status_code, None


def run_stage(config: StageConfig, scenario: Callable[[Stage], Awaitable[T]]) -> T:
    async def main() -> T:
        stage = await Stage(config).start()
        try:
            return await scenario(stage)
        finally:
            await stage.close()

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("handler", "status"),
    [
        ("tests.stage_functions:allow", 101),
        ("tests.stage_functions:unauthorized", 401),
        ("tests.stage_functions:deny", 403),
        ("tests.stage_functions:allow_other_api", 403),
        ("tests.stage_functions:crash", 500),
        ("tests.stage_functions:malformed", 500),
        ("tests.stage_functions:nested_context", 500),
        ("tests.stage_functions:oversized", 500),
    ],
)
def test_authorizer_outcomes_map_to_api_gateway_statuses(handler: str, status: int) -> None:
    config = StageConfig(authorizer=spec(handler))
    assert run_stage(config, lambda stage: status_of(stage))[0] == status


def test_an_authorizer_over_its_timeout_is_a_500_and_its_environment_is_destroyed() -> None:
    config = StageConfig(authorizer=FunctionSpec("tests.stage_functions:slow", env={"PYTHONPATH": str(ROOT)}, timeout=1.0))

    async def scenario(stage: Stage) -> tuple[int, int]:
        status = await status_of(stage)
        return status[0], stage.functions["authorizer"].stats()["environments"]

    assert run_stage(config, scenario) == (500, 0)


def test_missing_identity_source_is_401_without_invoking_the_authorizer() -> None:
    config = StageConfig(
        authorizer=spec("tests.stage_functions:allow"),
        identity_sources=["route.request.header.Authorization", "route.request.querystring.tenant"],
    )

    async def scenario(stage: Stage) -> tuple[int, int, int, int]:
        missing = await status_of(stage, {"Authorization": "x"})
        empty = await status_of(stage, {"Authorization": "  "}, path="?tenant=a")
        invoked_before = stage.functions["authorizer"].invocations
        present = await status_of(stage, {"authorization": "x"}, path="?tenant=a")
        return missing[0], empty[0], invoked_before, present[0]

    assert run_stage(config, scenario) == (401, 401, 0, 101)


def test_the_subprotocol_is_echoed_only_when_the_connect_integration_chooses_it() -> None:
    async def offer(stage: Stage) -> tuple[int, str | None]:
        return await status_of(stage, subprotocols=[Subprotocol("bearer"), Subprotocol("a.b.c")])

    without = StageConfig(authorizer=spec("tests.stage_functions:allow"))
    assert run_stage(without, offer) == (101, None)
    echoing = StageConfig(authorizer=spec("tests.stage_functions:allow"), connect=spec("fastauthz.dev.functions:connect_echo_subprotocol"))
    assert run_stage(echoing, offer) == (101, "bearer")


def test_the_integration_sees_stringified_context_principal_and_numeric_latency(tmp_path: Path) -> None:
    record = tmp_path / "connect.jsonl"
    config = StageConfig(
        authorizer=spec("tests.stage_functions:allow"), connect=spec("tests.stage_functions:connect_record", RECORD_TO=str(record))
    )
    assert run_stage(config, lambda stage: status_of(stage))[0] == 101
    authorizer = json.loads(record.read_text().splitlines()[0])["requestContext"]["authorizer"]
    assert authorizer == {
        "tier": "gold",
        "n": "3",
        "admin": "false",
        "exp": "1800000000",
        "principalId": "user-1",
        "integrationLatency": authorizer["integrationLatency"],
    }
    assert isinstance(authorizer["integrationLatency"], int)


def test_cold_start_then_warm_reuse_and_recycling() -> None:
    async def three(stage: Stage) -> tuple[list[tuple[int, str | None]], list[bool], dict[str, Any]]:
        statuses = [await status_of(stage) for _ in range(3)]
        return statuses, [r.cold for r in stage.records], stage.stats()["authorizer"]

    statuses, colds, stats = run_stage(StageConfig(authorizer=spec("tests.stage_functions:allow")), three)
    assert statuses == [(101, None)] * 3
    assert colds == [True, False, False] and stats["cold_starts"] == 1 and stats["init_ms_median"] > 0
    _, colds, stats = run_stage(StageConfig(authorizer=spec("tests.stage_functions:allow"), recycle_after=1), three)
    assert colds == [True, True, True] and stats["cold_starts"] == 3


def _shape(value: object) -> object:
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return type(value).__name__


def test_the_stage_authorizer_event_has_the_held_shape_of_api_gateways(tmp_path: Path) -> None:
    record = tmp_path / "authorizer.jsonl"
    config = StageConfig(authorizer=spec("tests.stage_functions:allow", RECORD_TO=str(record)))
    run_stage(config, lambda stage: status_of(stage, {"Authorization": "Bearer x"}))
    event = json.loads(record.read_text().splitlines()[0])
    held = json.loads((EVENTS / "connect_authorizer_request.json").read_text())
    assert set(event) == set(held)
    assert set(event["requestContext"]) == set(held["requestContext"])
    assert _shape(event["requestContext"]) == _shape(held["requestContext"])
    context = event["requestContext"]
    assert re.fullmatch(r"[A-Za-z0-9+/]{15}=", context["connectionId"]) and len(context["requestId"]) == 16
    assert re.fullmatch(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000", context["requestTime"])
    assert context["connectedAt"] > 1_600_000_000_000 and event["queryStringParameters"] == {} and event["stageVariables"] == {}
    assert re.fullmatch(r"arn:aws:execute-api:us-east-1:\d{12}:[a-z0-9]{10}/local/\$connect", event["methodArn"])
    assert event["headers"]["Authorization"] == "Bearer x" and event["multiValueHeaders"]["Authorization"] == ["Bearer x"]
    assert event["headers"]["Host"].endswith(".execute-api.us-east-1.amazonaws.com")


def test_the_real_authorizer_behind_the_stage_agrees_with_its_own_handler_decisions() -> None:
    with DevIssuer(audience="stage-test") as issuer:
        config = StageConfig(authorizer=FunctionSpec("fastauthz.handler:handler", env=issuer.environment()))

        async def scenario(stage: Stage) -> list[int]:
            return [
                (await status_of(stage, {"Authorization": f"Bearer {issuer.mint()}"}))[0],
                (await status_of(stage, path=f"?authorization={issuer.mint()}"))[0],
                (await status_of(stage, subprotocols=[Subprotocol("bearer"), Subprotocol(issuer.mint())]))[0],
                (await status_of(stage, {"Authorization": f"Bearer {issuer.mint(ttl=-100)}"}))[0],
                (await status_of(stage))[0],
            ]

        assert run_stage(config, scenario) == [101, 101, 101, 401, 401]


def test_messages_are_routed_and_connections_can_be_posted_to_and_disconnects_are_invoked(tmp_path: Path) -> None:
    record = tmp_path / "disconnect.jsonl"
    config = StageConfig(
        authorizer=spec("tests.stage_functions:allow"),
        routes={"$default": spec("fastauthz.dev.functions:echo"), "whoami": spec("tests.stage_functions:reflect")},
        two_way=["$default", "whoami"],
        disconnect=spec("tests.stage_functions:connect_record", RECORD_TO=str(record)),
    )

    async def scenario(stage: Stage) -> tuple[dict[str, Any], dict[str, Any], int, str | bytes, int]:
        async with connect(stage.url) as websocket:
            await websocket.send("hello")
            default = json.loads(await websocket.recv())
            await websocket.send(json.dumps({"action": "whoami"}))
            reflected = json.loads(await websocket.recv())
            connection_id = default["connectionId"]
            url = f"{stage.management_url}/{connection_id}"
            answer = await asyncio.to_thread(
                lambda: urllib.request.urlopen(urllib.request.Request(url, data=b"pushed", method="POST"), timeout=5).status
            )
            pushed = await websocket.recv()
        gone = await asyncio.to_thread(_post_status, f"{stage.management_url}/nope")
        for _ in range(50):
            if record.exists():
                break
            await asyncio.sleep(0.05)
        return default, reflected, answer, pushed, gone

    default, reflected, answer, pushed, gone = run_stage(config, scenario)
    assert default["route"] == "$default" and default["principalId"] == "user-1" and default["body"] == "hello"
    assert reflected["requestContext"]["routeKey"] == "whoami" and reflected["requestContext"]["eventType"] == "MESSAGE"
    assert answer == 200 and pushed == "pushed" and gone == 410
    assert json.loads(record.read_text().splitlines()[0])["requestContext"]["eventType"] == "DISCONNECT"


def _post_status(url: str) -> int:
    import urllib.error

    try:
        status: int = urllib.request.urlopen(urllib.request.Request(url, data=b"x", method="POST"), timeout=5).status
        return status
    except urllib.error.HTTPError as error:
        return error.code


def test_a_route_without_a_route_response_sends_nothing_back_and_ids_may_be_percent_encoded() -> None:
    """API Gateway sends a route's integration response only for two-way routes; boto3's
    post_to_connection percent-encodes the id ('+', '/', '=') in the path."""
    config = StageConfig(
        authorizer=spec("tests.stage_functions:allow"),
        routes={"$default": spec("fastauthz.dev.functions:echo"), "quiet": spec("tests.stage_functions:reflect")},
        two_way=["$default"],
    )

    async def scenario(stage: Stage) -> tuple[str, str, int, str | bytes]:
        async with connect(stage.url) as websocket:
            await websocket.send("hello")
            connection_id = json.loads(await websocket.recv())["connectionId"]
            await websocket.send(json.dumps({"action": "quiet"}))  # one-way: its return value goes nowhere
            encoded = urllib.parse.quote(connection_id, safe="")
            url = f"{stage.management_url}/{encoded}"
            for _ in range(20):  # give a wrongly sent reply time to arrive first
                await asyncio.sleep(0.05)
            answer = await asyncio.to_thread(
                lambda: urllib.request.urlopen(urllib.request.Request(url, data=b"pushed", method="POST"), timeout=5).status
            )
            first_after = await asyncio.wait_for(websocket.recv(), 5)
        return connection_id, encoded, answer, first_after

    _, encoded, answer, first_after = run_stage(config, scenario)
    assert answer == 200 and first_after == "pushed"  # the quiet route's reply never came
    assert "%3D" in encoded  # ids end in "=": the decoding is exercised every time


def test_a_hook_that_denies_a_group_is_a_403_for_a_real_websocket_client() -> None:
    with DevIssuer(audience="stage-test") as issuer:
        env = {**issuer.environment(), "FASTAUTHZ_AUTHORIZE": "tests.hooks:chat_users_only", "PYTHONPATH": str(ROOT)}
        config = StageConfig(authorizer=FunctionSpec("fastauthz.handler:handler", env=env))

        async def scenario(stage: Stage) -> list[int]:
            member = issuer.mint(claims={"cognito:groups": ["chat-users"]})
            guest = issuer.mint(claims={"cognito:groups": ["guests"]})
            return [
                (await status_of(stage, {"Authorization": f"Bearer {member}"}))[0],
                (await status_of(stage, {"Authorization": f"Bearer {guest}"}))[0],
            ]

        assert run_stage(config, scenario) == [101, 403]


def test_deny_mode_is_a_403_for_a_real_websocket_client() -> None:
    with DevIssuer(audience="stage-test") as issuer:
        env = {**issuer.environment(), "FASTAUTHZ_REFUSE_WITH": "deny"}
        config = StageConfig(authorizer=FunctionSpec("fastauthz.handler:handler", env=env))

        async def scenario(stage: Stage) -> list[int]:
            return [
                (await status_of(stage, {"Authorization": f"Bearer {issuer.mint()}"}))[0],
                (await status_of(stage, {"Authorization": f"Bearer {issuer.mint(ttl=-400)}"}))[0],
                (await status_of(stage, {"Authorization": "Bearer not-a-token"}))[0],
            ]

        assert run_stage(config, scenario) == [101, 403, 403]


def test_the_stage_closes_connections_at_api_gateways_limits_scaled_down() -> None:
    config = StageConfig(authorizer=spec("tests.stage_functions:allow"), idle_timeout=1.0, max_lifetime=3.0)

    async def scenario(stage: Stage) -> tuple[int | None, int | None, float]:
        async with connect(stage.url, open_timeout=15) as idle:
            idle_code = await closing_code(idle)
        started = time.monotonic()
        async with connect(stage.url, open_timeout=15) as busy:
            while True:  # a message every half second: never idle, but not open for ever
                try:
                    await busy.send("ping")
                    await asyncio.sleep(0.5)
                except ConnectionClosed:
                    break
            busy_code = busy.close_code
        return idle_code, busy_code, time.monotonic() - started

    idle_code, busy_code, lived = run_stage(config, scenario)
    assert idle_code == 1001 and busy_code == 1001 and lived >= 2.5


async def closing_code(websocket: Any) -> int | None:
    try:
        await asyncio.wait_for(websocket.recv(), 10)
    except ConnectionClosed:
        return websocket.close_code  # type: ignore[no-any-return]
    return None


def test_a_message_reaches_custom_routes_and_default_only_never_the_connections_own_functions(tmp_path: Path) -> None:
    """API Gateway routes client messages to custom routes and `$default`: `{"action": "$disconnect"}`
    must not run the `$disconnect` integration (it would remove the sender's registry row), and a
    custom route named `authorizer` is a route like any other, not the authorizer."""
    record = tmp_path / "disconnect.jsonl"
    config = StageConfig(
        authorizer=spec("tests.stage_functions:allow"),
        routes={"$default": spec("fastauthz.dev.functions:echo"), "authorizer": spec("tests.stage_functions:reflect")},
        two_way=["$default", "authorizer"],
        disconnect=spec("tests.stage_functions:connect_record", RECORD_TO=str(record)),
        connect=spec("tests.stage_functions:connect_record", RECORD_TO=str(tmp_path / "connect.jsonl")),
    )

    async def scenario(stage: Stage) -> tuple[list[str], bool, int]:
        routes = []
        async with connect(stage.url) as websocket:
            for action in ("$disconnect", "$connect", "authorizer"):
                await websocket.send(json.dumps({"action": action}))
                reply = json.loads(await asyncio.wait_for(websocket.recv(), 10))
                routes.append(reply.get("requestContext", {}).get("routeKey", "$default (echo)"))
            disconnected_while_open = record.exists()
        connects = len((tmp_path / "connect.jsonl").read_text().splitlines())
        return routes, disconnected_while_open, connects

    assert run_stage(config, scenario) == (["$default (echo)", "$default (echo)", "authorizer"], False, 1)


@pytest.mark.parametrize("route", ["$connect", "$disconnect"])
def test_a_stage_refuses_a_message_route_named_like_a_connection_function(route: str) -> None:
    with pytest.raises(ValueError, match="not message routes"):
        StageConfig(routes={route: spec("fastauthz.dev.functions:echo")})
