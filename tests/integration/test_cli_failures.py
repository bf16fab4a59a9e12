"""#34: no traceback reaches a user from any `fastauthz` command. Each subcommand is run as a user runs
it (the real command in a fresh process, from a directory that is not the checkout, with a clean
environment) through its failure paths: one line that says what to do, and the documented exit
status (2 usage or configuration, 1 refused or failed, 0 on a clean Ctrl-C)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fastauthz.dev.issuer import DevIssuer
from testkit.processes import banner, stage_url

ROOT = Path(__file__).resolve().parents[2]


def clean_environment(**extra: str) -> dict[str, str]:
    keep = {name: value for name, value in os.environ.items() if not name.startswith(("AWS_", "FASTAUTHZ_", "JWT_", "AUTHORIZED_"))}
    return {**keep, "PYTHONPATH": str(ROOT), **extra}


def fastauthz(*arguments: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fastauthz.dev.cli", *arguments],
        cwd=cwd,
        env=env or clean_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def one_line_failure(completed: subprocess.CompletedProcess[str], status: int, *words: str) -> str:
    output = completed.stdout + completed.stderr
    assert "Traceback" not in output, output
    assert completed.returncode == status, output
    last = completed.stderr.strip().splitlines()[-1]
    for word in words:
        assert word in last, last
    return last


def test_disconnect_without_any_registry_names_the_setting(tmp_path: Path) -> None:
    one_line_failure(fastauthz("disconnect", "--sub", "ada", cwd=tmp_path), 2, "FASTAUTHZ_CONNECTIONS_TABLE")


def test_disconnect_without_a_region_says_so(tmp_path: Path) -> None:
    env = clean_environment(FASTAUTHZ_CONNECTIONS_TABLE="t", FASTAUTHZ_MANAGEMENT_ENDPOINT="https://example.invalid/prod")
    one_line_failure(fastauthz("disconnect", "--sub", "ada", cwd=tmp_path, env=env), 2, "no AWS region")


def test_disconnect_from_a_state_without_a_running_dev_says_so(tmp_path: Path) -> None:
    one_line_failure(fastauthz("disconnect", "--sub", "ada", "--state", str(tmp_path / "nope"), cwd=tmp_path), 2, "fastauthz dev")


def test_token_and_rotate_outside_a_dev_state_say_where_to_start(tmp_path: Path) -> None:
    for command in ("token", "rotate"):
        one_line_failure(fastauthz(command, cwd=tmp_path), 2, "no dev issuer state", "fastauthz dev")


def test_rotate_with_the_issuer_stopped_says_it_is_not_answering(tmp_path: Path) -> None:
    with DevIssuer(state_dir=tmp_path / "state"):
        pass  # its state stays; the issuer does not
    one_line_failure(fastauthz("rotate", "--state", str(tmp_path / "state"), cwd=tmp_path), 1, "not answering")


@pytest.mark.parametrize("token", ["a.b.c", "abc", "e30.W10.x", "Bearer "])
def test_inspect_of_what_is_not_a_token_is_one_line(tmp_path: Path, token: str) -> None:
    one_line_failure(fastauthz("inspect", token, cwd=tmp_path), 2)


def test_check_config_with_nothing_set_names_the_variable(tmp_path: Path) -> None:
    one_line_failure(fastauthz("check-config", cwd=tmp_path), 2, "configuration error: JWT_ISSUER")


def test_check_config_with_a_hook_that_raises_on_import_names_the_variable(tmp_path: Path) -> None:
    with DevIssuer() as issuer:
        env = clean_environment(**issuer.environment(), FASTAUTHZ_AUTHORIZE="tests.broken_hook_module:rule")
        one_line_failure(fastauthz("check-config", cwd=tmp_path, env=env), 2, "FASTAUTHZ_AUTHORIZE", "RuntimeError")


def test_a_stage_without_settings_refuses_to_start_naming_the_variable(tmp_path: Path) -> None:
    one_line_failure(fastauthz("stage", "--port", "0", cwd=tmp_path), 2, "JWT_ISSUER")


def test_an_unknown_option_is_a_usage_error(tmp_path: Path) -> None:
    completed = fastauthz("token", "--nope", cwd=tmp_path)
    assert completed.returncode == 2 and "Traceback" not in completed.stderr and "usage:" in completed.stderr


def test_a_second_dev_on_a_port_in_use_says_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        completed = fastauthz("dev", "--port", port, "--issuer-port", "0", "--state", str(tmp_path / "s"), cwd=tmp_path, timeout=120)
    one_line_failure(completed, 1, "already in use")


def test_ctrl_c_on_a_stage_with_function_logs_prints_no_traceback(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group: the stage and its Lambda-like workers."""
    with DevIssuer() as issuer:
        env = clean_environment(**issuer.environment())
        command = [sys.executable, "-m", "fastauthz.dev.cli", "stage", "--port", "0", "--function-logs"]
        process = subprocess.Popen(
            command,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            # As in a terminal: a runner that starts the suite in the background without job control
            # passes SIGINT down ignored, and Python then installs no KeyboardInterrupt for it.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            assert process.stdout is not None
            url = stage_url(banner(process.stdout, "stage ws://"))
            assert url
            from websockets.sync.client import connect

            with connect(f"{url}?authorization={issuer.mint()}", open_timeout=20):
                pass  # the authorizer's worker is up: Ctrl-C now reaches one
            os.killpg(process.pid, signal.SIGINT)
            # Shutting down closes the test's connection (websockets waits up to its close timeout, 10 s)
            # and the workers: on a machine whose other core is busy that took over 30 s once.
            output, _ = process.communicate(timeout=90)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert "Traceback" not in output and "Event loop is closed" not in output, output
    assert process.returncode == 0
