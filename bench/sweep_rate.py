"""How fast the sweeper closes expired connections, one close at a time and with its workers.

Production's bound: 500 connects/s (API Gateway's default quota) with tokens shorter than the
2-hour connection limit means up to 500 deadlines a second, 30,000 a minute, for a sweeper that runs
every minute. Here, scaled down: N real WebSocket connections to the local stage (its management
API, moto's DynamoDB server, the `$connect`/`$disconnect` integrations of fastauthz.connections),
their tokens expiring together; one sweep closes them all, timed; once with `workers=1`, once with
the default workers, fresh connections each time. Every client must see its close (1000).

    python -m bench.sweep_rate [--connections 300] [--json bench/results/sweep_rate.json]

On this machine everything (stage, moto, clients, sweeper) shares 2 cores; in AWS each close is two
calls of ~10-30 ms to services that scale out, so the workers' gain is larger there, not smaller.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from fastauthz.connections import SWEEP_WORKERS, Management, Registry, sweep
from fastauthz.dev.issuer import DevIssuer
from fastauthz.dev.lifetime import TABLE, LocalLifetime
from fastauthz.dev.runtime import FunctionSpec
from fastauthz.dev.stage import Stage, StageConfig

ROOT = Path(__file__).resolve().parents[1]


async def close_code(websocket: Any) -> int | None:
    try:
        await asyncio.wait_for(websocket.recv(), 30)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else -1
    except TimeoutError:
        return None
    return None


class Timed:
    """Sums the CPU time of the sweeper's own calls (thread_time: the calling thread only, so the
    stage, moto and the clients sharing this process are not counted)."""

    def __init__(self, target: Any, method: str) -> None:
        self.target, self.cpu, self.calls = target, 0.0, 0
        original = getattr(target, method)

        def timed(*args: Any) -> Any:
            before = time.thread_time()
            try:
                return original(*args)
            finally:
                self.cpu += time.thread_time() - before
                self.calls += 1

        setattr(target, method, timed)


async def one_round(
    stage: Stage, issuer: DevIssuer, registry: Registry, management: Management, count: int, workers: int
) -> dict[str, Any]:
    ttl = 4
    minted_by = time.time()
    sockets = []
    for start in range(0, count, 50):  # 50 handshakes at a time: the stage's authorizer workers set the pace
        minted_by = time.time()
        tokens = [issuer.mint(sub=f"user-{n}", ttl=ttl) for n in range(start, min(count, start + 50))]
        sockets += await asyncio.gather(*(connect(f"{stage.url}?authorization={t}", open_timeout=60) for t in tokens))
    await asyncio.sleep(max(0.0, minted_by + ttl + 1.5 - time.time()))  # every token above has expired
    closes = Timed(management, "close")
    started = time.perf_counter()
    report = await asyncio.to_thread(sweep, registry, management, time.time(), workers=workers)
    seconds = time.perf_counter() - started
    del management.close  # the instance's own method again
    codes = await asyncio.gather(*(close_code(websocket) for websocket in sockets))
    return {
        "workers": workers,
        "connections": count,
        "closed": report.closed,
        "failed": report.failed,
        "clients_closed_1000": sum(code == 1000 for code in codes),
        "seconds": round(seconds, 3),
        "closes_per_second": round(report.closed / seconds, 1),
        # the sweeper's CPU per close (a DeleteConnection through boto3), which caps a Lambda
        # sweeper at (vCPUs / this) closes a second whatever its workers
        "cpu_ms_per_close": round(1000 * closes.cpu / max(1, closes.calls), 2),
    }


async def measure(count: int) -> list[dict[str, Any]]:
    lifetime = LocalLifetime(sweep_interval=0).start()
    os.environ.update(lifetime.environment)
    try:
        with DevIssuer(audience="sweep") as issuer:
            env = {**issuer.environment(), "PYTHONPATH": str(ROOT), "FASTAUTHZ_SWEEP_GRACE_SECONDS": "0", "FASTAUTHZ_METRICS": "false"}
            stage = await Stage(
                StageConfig(authorizer=FunctionSpec("fastauthz.handler:handler", env=env, name="authorizer"), **lifetime.stage_options(env))
            ).start()
            try:
                registry = Registry(TABLE)
                management = Management(lifetime.environment["FASTAUTHZ_MANAGEMENT_ENDPOINT"])
                return [await one_round(stage, issuer, registry, management, count, workers) for workers in (1, SWEEP_WORKERS)]
            finally:
                await stage.close()
    finally:
        lifetime.stop()


def main(argv: list[str] | None = None) -> int:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rounds = asyncio.run(measure(args.connections))
    serial, parallel = rounds
    print("| workers | connections | closed | clients saw 1000 | seconds | closes/s | sweeper CPU ms/close |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in rounds:
        print(
            f"| {row['workers']} | {row['connections']} | {row['closed']} | {row['clients_closed_1000']} | {row['seconds']} "
            f"| {row['closes_per_second']} | {row['cpu_ms_per_close']} |"
        )
    print(f"workers {SWEEP_WORKERS} vs 1: {parallel['closes_per_second'] / serial['closes_per_second']:.1f}x the close rate")
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds}, indent=2) + "\n")
    complete = all(row["closed"] == row["connections"] == row["clients_closed_1000"] and not row["failed"] for row in rounds)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
