"""Lambda-like execution for the local stage: each worker process holds one execution environment.

Importing the handler module in a fresh interpreter is the cold start (timed and reported); an
environment serves one invocation at a time and is reused while idle; a concurrency cap bounds the
environments; an invocation over the timeout destroys its environment (as Lambda does); optional
recycling after N invocations. The handler's stdout (its logs) goes to the worker's stderr, which
the stage forwards or drops; the worker's real stdout carries the protocol (one JSON line each way).
With a log file, the function's log lines and a `REPORT` line per invocation (Duration, Max Memory
Used, Init Duration on a cold start) are written there as Lambda writes them to CloudWatch Logs, each
after a timestamp as `aws logs tail` prints them, so that the load test reads either alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import orjson

WORKER = "fastauthz.dev.runtime"


class FunctionSpec:
    """A function to run: `module:attribute`, its environment, and Lambda-ish limits."""

    def __init__(
        self, handler: str, env: dict[str, str] | None = None, name: str = "", timeout: float = 10.0, memory_mb: int = 128
    ) -> None:
        module, _, attribute = handler.partition(":")
        if not module or not attribute:
            raise ValueError(f"handler must be module:function, got {handler!r}")
        self.handler = handler
        self.env = dict(env or {})
        self.name = name or attribute
        self.timeout = timeout
        self.memory_mb = memory_mb


class Outcome:
    """What one invocation produced."""

    __slots__ = ("cold", "duration_ms", "error_message", "error_type", "init_ms", "reason", "result", "timed_out")

    def __init__(self) -> None:
        self.result: Any = None
        self.reason: str | None = None  # the reason code of the invocation's last log line with one (a refusal's)
        self.error_type: str | None = None
        self.error_message: str | None = None
        self.cold = False
        self.init_ms = 0.0
        self.duration_ms = 0.0
        self.timed_out = False

    @property
    def failed(self) -> bool:
        return self.error_type is not None or self.timed_out


class _Environment:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.invocations = 0
        self.init_ms = 0.0
        self.initialised = False
        self.max_rss_kb = 0


class LambdaFunction:
    """A pool of execution environments for one function."""

    def __init__(
        self,
        spec: FunctionSpec,
        concurrency: int = 4,
        recycle_after: int = 0,
        log: Callable[[str], Any] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        self.spec = spec
        self.concurrency = concurrency
        self.recycle_after = recycle_after
        self._log = log
        self._log_file: TextIO | None = None
        if log_dir is not None:  # <dir>/<function>.log, as its log group would hold (a fresh file per start)
            log_dir.mkdir(parents=True, exist_ok=True)
            file_name = "".join(c if c.isalnum() or c in "-_." else "_" for c in spec.name)
            self._log_file = open(log_dir / f"{file_name}.log", "w", buffering=1)
        self._idle: list[_Environment] = []
        self._all: set[_Environment] = set()
        self._slots: asyncio.Semaphore | None = None
        self.cold_starts = 0
        self.init_ms: list[float] = []
        self.invocations = 0

    async def invoke(self, event: dict[str, Any]) -> Outcome:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.concurrency)
        async with self._slots:
            outcome = Outcome()
            # The longest idle first, as Lambda spreads invocations over its warm environments: the most
            # recent first left the others idle for minutes at a steady rate, so that one woke with keys
            # fetched before a rotation, during the IdP outage of make loadtest-local-http (a refusal).
            environment = self._idle.pop(0) if self._idle else None
            if environment is None or environment.process.returncode is not None:
                environment = await self._start(outcome)
                if environment is None:
                    return outcome
            self.invocations += 1
            environment.invocations += 1
            started = time.perf_counter()
            request_id = str(uuid.uuid4())
            try:
                line = orjson.dumps({"event": event, "request_id": request_id, "deadline_ms": self.spec.timeout * 1000})
                assert environment.process.stdin is not None and environment.process.stdout is not None
                environment.process.stdin.write(line + b"\n")
                await environment.process.stdin.drain()
                reply = await asyncio.wait_for(environment.process.stdout.readline(), self.spec.timeout)
            except TimeoutError:
                outcome.timed_out = True
                outcome.error_type, outcome.error_message = "Timeout", f"Task timed out after {self.spec.timeout:.2f} seconds"
                outcome.duration_ms = self.spec.timeout * 1000
                self._report(request_id, outcome, environment, "timeout")
                await self._destroy(environment)
                return outcome
            except (ConnectionError, BrokenPipeError) as error:
                outcome.error_type, outcome.error_message = "Runtime.ExitError", str(error)
                await self._destroy(environment)
                return outcome
            outcome.duration_ms = (time.perf_counter() - started) * 1000
            if not reply:
                outcome.error_type, outcome.error_message = "Runtime.ExitError", "the execution environment exited"
                await self._destroy(environment)
                return outcome
            answer = orjson.loads(reply)
            environment.max_rss_kb = answer.get("max_rss_kb", 0)
            if "error" in answer:
                outcome.error_type = answer["error"]["errorType"]
                outcome.error_message = answer["error"]["errorMessage"]
            else:
                outcome.result = answer["result"]
            outcome.reason = answer.get("reason")
            self._report(request_id, outcome, environment)
            if self.recycle_after and environment.invocations >= self.recycle_after:
                await self._destroy(environment)
            else:
                self._idle.append(environment)
            return outcome

    def _report(self, request_id: str, outcome: Outcome, environment: _Environment, status: str = "") -> None:
        """Lambda's REPORT line for one invocation, to the log file (with a Status only on a timeout, as
        Lambda's text log format: a handler's exception, an authorizer's refusal, is no failed status)."""
        if self._log_file is None:
            return
        line = (
            f"REPORT RequestId: {request_id}\tDuration: {outcome.duration_ms:.2f} ms\tBilled Duration: {math.ceil(outcome.duration_ms)} ms"
            f"\tMemory Size: {self.spec.memory_mb} MB\tMax Memory Used: {math.ceil(environment.max_rss_kb / 1024)} MB"
        )
        if outcome.cold:
            line += f"\tInit Duration: {outcome.init_ms:.2f} ms"
        if status:
            line += f"\tStatus: {status}"
        self._write_log(line)

    def _write_log(self, message: str) -> None:
        assert self._log_file is not None
        self._log_file.write(f"{datetime.now(UTC).isoformat(timespec='microseconds')} {message}\n")

    async def _start(self, outcome: Outcome) -> _Environment | None:
        """A cold start: a fresh interpreter imports the handler module."""
        env = {
            **os.environ,
            **self.spec.env,
            "AWS_LAMBDA_FUNCTION_NAME": self.spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.spec.memory_mb),
            "FASTAUTHZ_HANDLER": self.spec.handler,
            "PYTHONUNBUFFERED": "1",
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            WORKER,
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=1 << 24,
        )
        environment = _Environment(process)
        self._all.add(environment)
        asyncio.get_running_loop().create_task(self._forward_logs(process))
        assert process.stdout is not None
        try:
            ready = orjson.loads(await asyncio.wait_for(process.stdout.readline(), max(self.spec.timeout, 10.0)) or b"{}")
        except (TimeoutError, orjson.JSONDecodeError):
            ready = {"init_error": {"errorType": "Runtime.InitTimeout", "errorMessage": "init did not finish"}}
        outcome.cold = True
        self.cold_starts += 1
        if "init_error" in ready or "init_ms" not in ready:
            error = ready.get("init_error") or {"errorType": "Runtime.ExitError", "errorMessage": "init failed"}
            outcome.error_type, outcome.error_message = f"Init:{error['errorType']}", error["errorMessage"]
            await self._destroy(environment)
            return None
        environment.init_ms = outcome.init_ms = float(ready["init_ms"])
        self.init_ms.append(outcome.init_ms)
        return environment

    async def _forward_logs(self, process: asyncio.subprocess.Process) -> None:
        assert process.stderr is not None
        while line := await process.stderr.readline():
            text = line.decode(errors="replace").rstrip()
            if self._log is not None:
                self._log(f"[{self.spec.name}] {text}")
            if self._log_file is not None:
                self._write_log(text)

    async def _destroy(self, environment: _Environment) -> None:
        self._all.discard(environment)
        with contextlib.suppress(ProcessLookupError):
            environment.process.kill()
        with contextlib.suppress(Exception):
            await environment.process.wait()

    async def close(self) -> None:
        for environment in list(self._all):
            await self._destroy(environment)
        self._idle.clear()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def stats(self) -> dict[str, Any]:
        inits = sorted(self.init_ms)
        return {
            "function": self.spec.name,
            "cold_starts": self.cold_starts,
            "invocations": self.invocations,
            "environments": len(self._all),
            "init_ms_median": inits[len(inits) // 2] if inits else None,
        }


# -- the worker side ------------------------------------------------------------------------------
class LambdaContext:
    """The parts of Lambda's context object handlers commonly read."""

    def __init__(self, request_id: str, deadline: float) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "local")
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "local"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _ReasonTap:
    """The handler's stdout, written through to stderr; it remembers the `reason` of the last log line
    that has one, so that the stage can say why it refused a connect without parsing the logs."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.reason: str | None = None

    def write(self, text: str) -> int:
        if '"reason":' in text:
            with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
                self.reason = orjson.loads(text.strip().splitlines()[-1]).get("reason") or self.reason
        return int(self.stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def _peak_rss_kb() -> int:
    """Max Memory Used: this environment's peak resident set, as Lambda reports it. Linux's VmHWM, not
    getrusage's ru_maxrss, which survives exec: a worker started by `fastauthz dev` reported the stage's
    own peak (104 MB with the moto server loaded, for a worker of 40)."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _worker() -> int:
    import signal

    # Ctrl-C reaches the whole process group: the stage stops its workers itself, and a worker that
    # handled SIGINT too would print a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    protocol = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # the handler's stdout (its log lines) now goes to stderr
    tap = _ReasonTap(sys.stderr)
    sys.stdout = tap
    started = time.perf_counter()
    module_name, _, attribute = os.environ["FASTAUTHZ_HANDLER"].partition(":")
    try:
        import importlib

        handler = getattr(importlib.import_module(module_name), attribute)
    except Exception as error:  # the init phase failed: report it like Lambda's Runtime.* errors
        protocol.write(orjson.dumps({"init_error": {"errorType": type(error).__name__, "errorMessage": str(error)}}) + b"\n")
        return 1
    protocol.write(orjson.dumps({"init_ms": (time.perf_counter() - started) * 1000}) + b"\n")
    for line in sys.stdin.buffer:
        request = orjson.loads(line)
        context = LambdaContext(request["request_id"], time.monotonic() + request["deadline_ms"] / 1000)
        tap.reason = None
        try:
            result = handler(request["event"], context)
            answer: dict[str, Any] = {"result": result}
        except Exception as error:
            answer = {"error": {"errorType": type(error).__name__, "errorMessage": str(error)}}
        answer |= {"reason": tap.reason, "max_rss_kb": _peak_rss_kb()}
        encoded = orjson.dumps(answer, default=str)
        protocol.write(encoded + b"\n")
    return 0


if __name__ == "__main__":
    sys.exit(_worker())
