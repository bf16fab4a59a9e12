"""The open model: connects start on a schedule, whatever the target's latency (`--rate`).

Locust's users are a closed model: each waits for its connect before the next, so a slow target
lowers the offered rate without a word (coordinated omission), while API Gateway's limit on
WebSocket APIs is a rate of new connections. Here one driver per load-generating process (the local
runner, or each worker) starts its share of the schedule: with n processes, process i starts
arrivals i, i+n, i+2n, … of the run's schedule, each in its own greenlet, so a slow connect never
delays the next. A connect that starts late is measured (the schedule's lag); when the lag passes
--max-lag the run fails, as an under-delivering generator must not pass for a slow target.

The schedule is schedule.py's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
from gevent.pool import Pool
from locust import User, constant, task
from locust.user.users import LOCUST_STATE_STOPPING  # type: ignore[attr-defined]

from .results import results
from .schedule import Schedule


class RateDriver(User):
    """Not a user but the process's driver of the schedule; each user module subclasses it with its
    connect (`connect_once`). The shape starts one per process; a second one in a process idles."""

    abstract = True
    wait_time = constant(1)
    driving: list[Any] = []

    def connect_once(self) -> None:
        raise NotImplementedError

    @task
    def drive(self) -> None:
        if self.driving:  # one driver per process: the schedule is shared by process, not by user
            gevent.sleep(1)
            return
        self.driving.append(self)
        try:
            self._drive()
        finally:
            self.driving.remove(self)

    def _drive(self) -> None:
        options = self.environment.parsed_options
        runner = self.environment.runner
        processes = max(1, int(getattr(options, "expect_workers", 1) or 1)) if type(runner).__name__ == "WorkerRunner" else 1
        index = max(0, int(getattr(runner, "worker_index", 0) or 0)) % processes
        # --run-time is not sent to workers (locust's own options stay on the master); ours are
        schedule = Schedule(options.rate, float(options.schedule_seconds or options.run_time or 60), options.scenario)
        results.open_model = True
        pool = Pool(options.max_in_flight)
        origin = time.time()
        try:
            for offset in schedule.arrivals(index, processes):
                due = origin + offset
                delay = due - time.time()
                if delay > 0:
                    gevent.sleep(delay)
                if self._state == LOCUST_STATE_STOPPING:  # the run ended: start nothing more
                    break
                results.offered(due)
                if pool.full():
                    results.not_started += 1
                    continue
                pool.spawn(self._timed, due, self.connect_once)
            pool.join(timeout=max(1.0, float(options.connect_timeout)))
        finally:
            pool.kill(block=True, timeout=2)

    @staticmethod
    def _timed(due: float, connect: Callable[[], None]) -> None:
        started = time.time()
        results.started(started, max(0.0, started - due))
        connect()
