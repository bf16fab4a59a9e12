"""The sweeper: closes every registered connection past its deadline. Cold path (a scheduled function).

It reads the deadline index minute by minute from a cursor, never the table. A row can land behind
the cursor: a deadline written at about "now" (PutItem latency, the index's eventual consistency,
clock skew between functions) that the cursor had already passed. A forward-only cursor would never
see it, so each caught-up sweep also re-reads the last TRAILING_MINUTES of deadlines behind it.
"""

from __future__ import annotations

import json
import time
from typing import Any, NamedTuple

from .aws import Management
from .environment import management_for, setting, shared_registry
from .registry import BUCKET_SECONDS, MAX_LIFETIME_SECONDS, Connection, Registry

SWEEP_WORKERS = 32  # closes in flight at once: in AWS a DeleteConnection waits ~10-30 ms, mostly on the network
SWEEP_PAGE = 1000  # due connections read, then closed, between two looks at the bounds
SWEEP_MAX_CLOSES = 100_000  # a run's bound on closes (the sweeper's time budget usually binds first)
# How far behind its cursor a sweep looks again for rows that landed late. A row's deadline is never
# written before its writer's clock (routes.py), so only the index's lag and clock skew put one
# behind the cursor: DynamoDB's global secondary indexes lag by well under a second in normal operation.
TRAILING_MINUTES = 2


class SweepReport(NamedTuple):
    closed: int
    minutes: int  # minutes of deadlines finished this run
    caught_up: bool  # False: a bound (closes, time) stopped it, or a close failed; the next run carries on
    failed: int = 0  # closes that failed (not a 410): the next run tries them again
    recovered: int = 0  # rows found behind the cursor (written late) and closed


def sweep(
    registry: Registry,
    management: Management,
    now: float,
    max_closes: int = SWEEP_MAX_CLOSES,
    workers: int = SWEEP_WORKERS,
    stop_at: float | None = None,
) -> SweepReport:
    """Close every registered connection whose deadline has passed, minute by minute and page by page
    from the cursor, `workers` at a time; stop after `max_closes`, or at the first page boundary past
    `stop_at` (time.monotonic()), and carry on from there next run. 500 connects/s sustained means
    up to 30,000 deadlines a minute: one close at a time (~40 ms in AWS) would manage 1,500.

    A close is one call, DeleteConnection (a 410 counts): API Gateway then runs `$disconnect`, whose
    integration removes the row, and rows nobody removed expire with their TTL. The cursor keeps the
    position within a minute, so the forward pass closes nothing twice even while `$disconnect` lags;
    a caught-up sweep then closes what landed behind the cursor (and removes those rows itself)."""
    from concurrent.futures import ThreadPoolExecutor

    current = int(now // BUCKET_SECONDS)
    # API Gateway has closed every connection older than 2 hours itself: nothing before is worth a look.
    oldest = current - (MAX_LIFETIME_SECONDS // BUCKET_SECONDS) - 1
    cursor = registry.cursor()
    minute, after = (oldest, None) if cursor is None or cursor[0] < oldest else cursor
    closed = finished = failed = recovered = 0
    caught_up = True
    closed_now: set[str] = set()

    def close(connection: Connection) -> bool:
        try:
            management.close(connection.connection_id)
        except Exception as error:  # after botocore's retries: logged, tried again next run
            print(json.dumps({"message": "sweeper: close failed", "connectionId": connection.connection_id, "error": repr(error)}))
            return False
        closed_now.add(connection.connection_id)
        return True

    def bound_reached() -> bool:
        return closed >= max_closes or (stop_at is not None and time.monotonic() >= stop_at)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sweep") as pool:
        while caught_up:
            for page, position in registry.due_pages(minute, now, after, min(SWEEP_PAGE, max(1, max_closes - closed))):
                results = list(pool.map(close, page))
                if not all(results):  # keep the position before this page: the next run tries it again
                    failed += results.count(False)
                    closed += results.count(True)
                    caught_up = False
                    break
                closed += len(results)
                after = position
                if bound_reached():
                    caught_up = False
                    break
            else:  # every due connection of this minute is closed
                if minute >= current:  # its later deadlines are not due yet: the next run reads on
                    break
                minute, after = minute + 1, None
                finished += 1
                if bound_reached():
                    caught_up = False
        registry.set_cursor(minute, after)
        if caught_up:
            recovered = _sweep_behind(registry, pool, close, closed_now, max(oldest, minute - TRAILING_MINUTES), minute, now)
    return SweepReport(closed, finished, caught_up, failed, recovered)


def _sweep_behind(registry: Registry, pool: Any, close: Any, closed_now: set[str], first: int, last: int, now: float) -> int:
    """Close the due rows of minutes `first`..`last` that this sweep did not close: rows that landed
    behind the cursor. Each is removed once closed, so that the next sweep does not close it again."""
    late = [
        connection
        for minute in range(first, last + 1)
        for page, _ in registry.due_pages(minute, now, None, SWEEP_PAGE)
        for connection in page
        if connection.connection_id not in closed_now
    ]
    recovered = 0
    for connection, done in zip(late, pool.map(close, late), strict=True):
        if done:
            registry.forget(connection.connection_id)
            recovered += 1
    return recovered


def sweeper(event: Any, context: Any) -> dict[str, Any]:
    """The scheduled sweep (EventBridge, every minute). One run sweeps, and while a deadline falls
    before its time is up, sleeps until it and sweeps again (no sooner than FASTAUTHZ_SWEEP_INTERVAL_SECONDS,
    default 5): a busy API's connections close within seconds of their deadline, not up to a minute
    later, and an idle one's run ends after one sweep. No close starts in the last 10 s of the
    function's timeout (the next run carries on)."""
    remaining = context.get_remaining_time_in_millis() / 1000 if hasattr(context, "get_remaining_time_in_millis") else 60.0
    stop_at = time.monotonic() + remaining - 10
    workers: int = setting("FASTAUTHZ_SWEEP_WORKERS")
    interval: float = setting("FASTAUTHZ_SWEEP_INTERVAL_SECONDS")
    registry, management = shared_registry(), management_for(None)
    totals = {"closed": 0, "failed": 0, "recovered": 0, "sweeps": 0}
    while True:
        report = sweep(registry, management, time.time(), workers=workers, stop_at=stop_at)
        totals = {
            "closed": totals["closed"] + report.closed,
            "failed": totals["failed"] + report.failed,
            "recovered": totals["recovered"] + report.recovered,
            "sweeps": totals["sweeps"] + 1,
        }
        upcoming = registry.next_deadline(time.time()) if report.caught_up else None
        wait = None if upcoming is None else max(interval, upcoming - time.time())
        if wait is None or time.monotonic() + wait >= stop_at:
            break
        time.sleep(wait)
    summary = {"message": "swept", **totals, "caught_up": report.caught_up}
    print(json.dumps(summary))
    return summary
