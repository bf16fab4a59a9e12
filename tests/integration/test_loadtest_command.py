"""#32: `fastauthz loadtest`, the real command (locust, its user modules, the wrapper) against the real
local stage, in fresh processes from a directory outside the checkout: an open-model run that ends on
time with its figures and the authorizer's cold starts; runs whose clients would hold them (connections
held past the run, the closed model's hang of round three) that end anyway; a generator that cannot keep
its schedule, and a target that does not answer, failing with a line that says so; and every mistake
refused before the run, in one line. No test here asserts a time below what the issue allows a run to
overrun (15 s): the bounds are the product's promise, not its speed."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.processes import banner

pytestmark = pytest.mark.slow
OVERRUN = 15.0


def fastauthz(*arguments: str, cwd: Path, timeout: float = 120) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "FASTAUTHZ_", "AWS_"))}
    started = time.monotonic()
    ran = subprocess.run(
        [sys.executable, "-m", "fastauthz.dev.cli", *arguments],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return ran, time.monotonic() - started


@pytest.fixture
def stage(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """`fastauthz dev` without the connection registry (the decision alone), on free ports; its state directory."""
    options = getattr(request, "param", ())
    state = tmp_path / "state"
    command = [sys.executable, "-m", "fastauthz.dev.cli", "dev", "--port", "0", "--issuer-port", "0", "--state", str(state)]
    dev = subprocess.Popen(
        [*command, "--quiet", "--sweep-interval", "0", "--alg", "ES256", *options],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert dev.stdout is not None
    lines = banner(dev.stdout, "stage " if not options else f"{options[1]} stage", 90)
    assert any("stage " in line for line in lines), "".join(lines)
    try:
        yield state
    finally:
        dev.terminate()
        dev.communicate(timeout=30)


def test_an_open_model_run_ends_on_time_with_offered_and_achieved_rate_and_the_authorizers_cold_starts(stage: Path, tmp_path: Path) -> None:
    ran, seconds = fastauthz(
        "loadtest",
        "--state",
        str(stage),
        "--rate",
        "40",
        "--run-time",
        "6s",
        "--summary-json",
        "run.json",
        "--report",
        "run.html",
        cwd=tmp_path,
    )
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0 and "Traceback" not in output, output
    assert seconds <= 6 + OVERRUN, output
    assert output.count("fastauthz load test, open model (--rate)") == 1 and "passed: failures 0" in output, output
    summary = json.loads((tmp_path / "run.json").read_text())
    assert summary["offered_per_second"] == pytest.approx(40, rel=0.1)
    assert summary["offered"] == pytest.approx(240, abs=12) and summary["connects"] == summary["started"]
    assert set(summary["classes"]) == {"allowed as expected", "refused as expected"} and not summary["breaches"]
    assert summary["latency_ms"]["p50"] <= summary["latency_ms"]["p99.9"] <= summary["latency_ms"]["max"]
    authorizer = summary["authorizer"]  # the local stage's REPORT lines, read from its log after the run
    assert authorizer["cold_starts"] >= 1 and authorizer["init_ms"]["p50"] > 0
    assert authorizer["invocations"] == summary["connects"]  # a WebSocket stage invokes it for tokenless connects too
    assert {"expired", "bad_signature", "unknown_kid", "missing_token"} <= set(authorizer["reasons"])
    assert "authorizer: " in output and "cold starts" in output
    assert (tmp_path / "run.html").read_text().count("<svg") == 3


@pytest.mark.parametrize("model", [["--rate", "10"], ["--users", "4"]], ids=["open", "closed"])
def test_connections_held_past_the_run_do_not_hold_the_run(stage: Path, tmp_path: Path, model: list[str]) -> None:
    """Each allowed connection is held for a minute: the run still ends within seconds of its run time,
    with its verdict (websocket-client's close() swallowed locust's stop: round three's hang)."""
    ran, seconds = fastauthz("loadtest", "--state", str(stage), *model, "--hold-seconds", "60", "--run-time", "4s", cwd=tmp_path)
    output = ran.stdout + ran.stderr
    assert "Traceback" not in output and "fastauthz load test" in output, output
    assert seconds <= 4 + OVERRUN, output
    assert ran.returncode == 0, output


@pytest.mark.parametrize(
    "stage", [("--http", "http-2.0", "--simple-responses", "--authorizer-env", "FASTAUTHZ_HTTP_SIMPLE_RESPONSES=true")], indirect=True
)
def test_an_http_api_is_loaded_with_its_own_expectations(stage: Path, tmp_path: Path) -> None:
    ran, seconds = fastauthz(
        "loadtest", "--state", str(stage), "--api", "http", "--simple-responses", "--rate", "20", "--run-time", "4s", cwd=tmp_path
    )
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0 and "passed: failures 0" in output and seconds <= 4 + OVERRUN, output
    assert "expired              403  403:" in output and "none                 401  401:" in output, output


@pytest.fixture
def silent_target() -> Iterator[str]:
    """A TCP listener that accepts and never answers: every connect waits for its timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}/prod"
    finally:
        listener.close()


def test_a_generator_that_cannot_keep_its_schedule_fails_the_run_and_says_so(stage: Path, silent_target: str, tmp_path: Path) -> None:
    ran, seconds = fastauthz(
        "loadtest",
        *("--host", silent_target, "--tokens", f"mint:{stage}", "--rate", "20", "--run-time", "3s"),
        *("--connect-timeout", "2", "--max-in-flight", "5", "--summary-json", "run.json"),
        cwd=tmp_path,
    )
    output = ran.stdout + ran.stderr
    assert ran.returncode == 1 and "Traceback" not in output, output
    assert "scheduled connects not started" in output and "--max-in-flight" in output, output
    summary = json.loads((tmp_path / "run.json").read_text())
    assert summary["not_started"] > 0 and summary["classes"]["timeout"] > 0
    assert seconds <= 3 + OVERRUN


def test_a_target_that_refuses_connections_is_a_failure_class_not_a_decision(stage: Path, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    ran, _ = fastauthz(
        "loadtest",
        "--host",
        f"ws://127.0.0.1:{closed_port}/x",
        "--tokens",
        f"mint:{stage}",
        "--rate",
        "10",
        "--run-time",
        "2s",
        cwd=tmp_path,
    )
    output = ran.stdout + ran.stderr
    assert ran.returncode == 1 and "connection error" in output and "BREACH failure ratio" in output, output
    assert "wrong decision" not in output


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--rate", "501"], "above --quota 500/s"),
        (["--api", "rest", "--rate", "20000"], "above --quota 10000/s"),
        (["--rate", "10", "--users", "5"], "--users is the closed one"),
        (["--rate", "ten"], "--rate 'ten'"),
        (["--run-time", "5 minutes", "--rate", "5"], "--run-time '5 minutes'"),
        (["--mix", "valid=1,forged=1"], "unknown token kind 'forged'"),
        (["--tokens", "file:tokens.txt", "--mix", "valid=9,expired=1"], "gave no 'expired <token>' lines"),
        (["--tokens", "command:false"], "exited with 1"),
        (["--lifetime", "--api", "rest"], "WebSocket connections only"),
        (["--lifetime", "--rate", "10"], "give --users, not --rate"),
    ],
)
def test_a_mistake_is_refused_before_the_run_in_one_line(tmp_path: Path, arguments: list[str], says: str) -> None:
    from fastauthz.dev.issuer import DevIssuer

    with DevIssuer(audience="load", state_dir=tmp_path / "state") as issuer:
        (tmp_path / "tokens.txt").write_text(issuer.mint() + "\n")
        ran, _ = fastauthz("loadtest", "--host", "ws://127.0.0.1:9/x", "--tokens", f"mint:{tmp_path / 'state'}", *arguments, cwd=tmp_path)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    (line,) = ran.stderr.strip().splitlines()
    assert line.startswith("fastauthz loadtest: ") and says in line, line
    assert "locust" not in ran.stdout  # nothing ran


def test_no_stage_and_no_host_is_a_usage_error(tmp_path: Path) -> None:
    ran, _ = fastauthz("loadtest", "--rate", "5", cwd=tmp_path)
    assert ran.returncode == 2 and "--host" in ran.stderr and "Traceback" not in ran.stderr
    ran, _ = fastauthz("loadtest", "--state", str(tmp_path / "none"), cwd=tmp_path)
    assert ran.returncode == 2 and "no running fastauthz dev" in ran.stderr
