"""`make demo`: the dev issuer and the local API Gateway stage on 127.0.0.1, real WebSocket clients
through scripted `$connect` cases, then a burst of connects, then connections that end with their
token (fastauthz.connections: the registry on a local DynamoDB server, re-auth, the sweeper).

Prints one row per case (HTTP status of the handshake, what the stage decided, latency) and exits
non-zero if any status differs from the expected one.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from typing import Any

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from .issuer import DevIssuer
from .runtime import FunctionSpec
from .stage import Stage, StageConfig
from .tokens import b64url, b64url_decode


def stage_config(issuer: DevIssuer, log: Any = None, **authorizer_env: str) -> StageConfig:
    env = {**issuer.environment(), "JWT_REQUIRED_SCOPES": "chat", **authorizer_env}
    return StageConfig(
        authorizer=FunctionSpec("fastauthz.handler:handler", env=env, name="authorizer"),
        connect=FunctionSpec("fastauthz.dev.functions:connect_echo_subprotocol", name="connect"),
        routes={"$default": FunctionSpec("fastauthz.dev.functions:echo", name="default")},
        two_way=["$default"],  # echo replies, as a route with a route response does
        log=log,
    )


async def open_connection(url: str, token: str | None, where: str, message: str | None = None) -> tuple[int, float, str]:
    """(HTTP status, handshake ms, what came back)."""
    headers: dict[str, str] = {}
    subprotocols: list[Any] | None = None
    if token is not None and where == "header":
        headers["Authorization"] = f"Bearer {token}"
    elif token is not None and where == "query":
        url = f"{url}?authorization={token}"
    elif token is not None and where == "protocol":
        subprotocols = ["bearer", token]
    started = time.perf_counter()
    try:
        async with connect(
            url, additional_headers=headers, subprotocols=subprotocols, open_timeout=10, max_size=2**16, compression=None
        ) as websocket:
            elapsed = (time.perf_counter() - started) * 1000
            note = f"subprotocol={websocket.subprotocol}" if websocket.subprotocol else ""
            if message is not None:
                await websocket.send(message)
                reply = orjson.loads(await asyncio.wait_for(websocket.recv(), 5))
                note = f"{note} echo from {reply.get('principalId')}".strip()
            return 101, elapsed, note
    except InvalidStatus as refused:
        return refused.response.status_code, (time.perf_counter() - started) * 1000, ""


async def run(burst: int = 300, concurrency: int = 16) -> int:
    function_logs: list[str] = []
    failures = 0
    with DevIssuer(audience="demo-app") as issuer:
        stage = await Stage(stage_config(issuer, log=function_logs.append, FASTAUTHZ_METRICS_INTERVAL_SECONDS="1")).start()
        try:
            print(f"dev issuer {issuer.issuer}  ·  stage {stage.url}  ·  audience demo-app, required scope 'chat'\n")
            print(f"  {'':3} {'case':<44} {'HTTP':>4} {'expect':>6} {'ms':>8}  {'stage says':<44}")

            async def case(name: str, token: str | None, expected: int, where: str = "header", message: str | None = None) -> None:
                nonlocal failures
                status, elapsed, note = await open_connection(stage.url, token, where, message)
                record = stage.records[-1]
                ok = status == expected
                failures += not ok
                reason = reason_for(function_logs, record.connection_id)
                said = f"{record.why}{' ' + reason if reason else ''}{' (cold start)' if record.cold else ''}" + (
                    f"; {note}" if note else ""
                )
                print(f"  {'ok ' if ok else 'BAD'} {name:<44} {status:>4} {expected:>6} {elapsed:8.1f}  {said[:70]}")

            valid = issuer.mint(sub="ada", scope="chat")
            await case("valid token in Authorization header", valid, 101, message='{"hello":"world"}')
            await case("same token again (verified-token cache)", valid, 101)
            await case("valid token in ?authorization= (browsers)", issuer.mint(sub="bob", scope="chat"), 101, "query")
            await case("valid token in Sec-WebSocket-Protocol", issuer.mint(sub="eve", scope="chat"), 101, "protocol")
            await case("valid token without scope 'chat'", issuer.mint(sub="mallory", scope="read"), 403)
            await case("expired token", issuer.mint(scope="chat", ttl=-60), 401)
            await case("wrong audience", issuer.mint(scope="chat", aud="another-app"), 401)
            header, _, signature = valid.split(".")
            forged_payload = issuer.mint(sub="admin", scope="chat").split(".")[1]
            await case("tampered payload (sub=admin)", f"{header}.{forged_payload}.{signature}", 401)
            alg_none = b64url(orjson.dumps({"alg": "none", "typ": "JWT"}))
            await case("alg none", f"{alg_none}.{forged_payload}.", 401)
            await case("no token", None, 401)
            old_key = issuer.current
            issuer.rotate()
            await case("rotation: token from the new key", issuer.mint(sub="ada", scope="chat"), 101)
            await case("rotation: token from the removed key", issuer.mint(sub="old", scope="chat", key=old_key), 401)
            await case("rotation: cached token of the removed key", valid, 401)

            failures += await run_burst(stage, issuer, burst, concurrency, function_logs)
            for role, stats in stage.stats().items():
                print(
                    f"  {role:<11} cold starts {stats['cold_starts']}, invocations {stats['invocations']}, "
                    f"init median {stats['init_ms_median'] or 0:.1f} ms"
                )
        finally:
            await stage.close()
        failures += await run_lifetime(issuer)
    print("\n" + (f"{failures} unexpected outcome(s)" if failures else "all outcomes as expected"))
    return 1 if failures else 0


async def run_lifetime(issuer: DevIssuer, ttl: int = 3) -> int:
    """Two connections whose tokens expire in `ttl` seconds; one re-authenticates over the socket with
    a fresh token. The sweeper (every second here, every minute in AWS) closes the other."""
    from .lifetime import LocalLifetime

    print(f"\nconnections that end with their token: tokens valid {ttl} s, the sweeper every second")
    lifetime = LocalLifetime(sweep_interval=1.0, log=lambda line: None).start()
    env = {**issuer.environment(), "JWT_LEEWAY_SECONDS": "0"}
    config = StageConfig(authorizer=FunctionSpec("fastauthz.handler:handler", env=env, name="authorizer"), **lifetime.stage_options(env))
    stage = await Stage(config).start()
    sweeper = asyncio.create_task(lifetime.sweep_forever())
    failures = 0
    try:
        token = issuer.mint(sub="ada", ttl=ttl)
        exp = orjson.loads(b64url_decode(token.split(".")[1]))["exp"]
        expiring = await connect(f"{stage.url}?authorization={token}", open_timeout=15)
        renewed = await connect(f"{stage.url}?authorization={issuer.mint(sub='bob', ttl=ttl)}", open_timeout=15)
        await renewed.send(orjson.dumps({"action": "reauth", "token": issuer.mint(sub="bob", ttl=600)}).decode())
        reply = orjson.loads(await asyncio.wait_for(renewed.recv(), 15))
        try:
            await asyncio.wait_for(expiring.wait_closed(), ttl + 15)
        except TimeoutError:
            pass
        closed_after = time.time() - exp
        await asyncio.sleep(max(0.0, exp + 3 - time.time()))  # a few sweeps past the first exp
        rows = [
            (
                "token expires, no re-auth: closed by the server",
                expiring.close_code == 1000,
                f"close {expiring.close_code}, {closed_after:+.1f} s after exp",
            ),
            (
                "re-auth before exp: kept open",
                bool(reply.get("ok")) and renewed.close_code is None,
                f"reauth ok={reply.get('ok')}, open {time.time() - exp:+.1f} s after the first exp",
            ),
        ]
        for name, ok, said in rows:
            failures += not ok
            print(f"  {'ok ' if ok else 'BAD'} {name:<52} {said}")
        await renewed.close()
    finally:
        sweeper.cancel()
        await stage.close()
        lifetime.stop()
    return failures


def reason_for(function_logs: list[str], connection_id: str) -> str:
    """The authorizer's reason code for a refused connection, from its log line (matched by connection id)."""
    for line in reversed(function_logs):
        if connection_id in line and '"reason"' in line:
            return f"[{orjson.loads(line.split('] ', 1)[1])['reason']}]"
    return ""


async def run_burst(stage: Stage, issuer: DevIssuer, count: int, concurrency: int, function_logs: list[str]) -> int:
    """`count` connects, `concurrency` at a time: half distinct tokens, half one token reconnecting."""
    repeated = issuer.mint(sub="reconnecting-user", scope="chat")
    tokens = [issuer.mint(sub=f"user-{i}", scope="chat") if i % 2 else repeated for i in range(count)]
    latencies: list[float] = []
    statuses: list[int] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(token: str) -> None:
        async with gate:
            status, elapsed, _ = await open_connection(stage.url, token, "header")
            statuses.append(status)
            latencies.append(elapsed)

    started = time.perf_counter()
    await asyncio.gather(*(one(token) for token in tokens))
    wall = time.perf_counter() - started
    # Each execution environment flushes its metrics on its first call after the interval: wait, then
    # give every environment one call (as many at once as there are environments).
    await asyncio.sleep(1.1)
    await asyncio.gather(*(open_connection(stage.url, repeated, "header") for _ in range(stage.config.concurrency)))
    await asyncio.sleep(0.2)
    hits = sum(orjson.loads(line.split("] ", 1)[1]).get("CacheHit", 0) for line in function_logs if '"_aws"' in line)
    latencies.sort()
    refused = sum(status != 101 for status in statuses)
    print(
        f"\nburst: {count} connects, {concurrency} at a time ({count // 2} distinct tokens, {count - count // 2} "
        f"reconnects of one)\n  {count / wall:,.0f} connects/s   handshake p50 {statistics.median(latencies):.1f} ms   "
        f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.1f} ms   refused {refused}\n  authorizer cache hits {hits} "
        f"(each of the {stage.stats()['authorizer']['environments']} execution environments has its own cache)\n"
    )
    return refused


def main(argv: list[str] | None = None) -> int:
    burst = int(argv[0]) if argv else 300
    return asyncio.run(run(burst))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
