"""The per-token steady state's twins (bench/node_per_token.py) are set up alike and answer alike:
one environment for both, the same protocol, each timing only Allows and reporting anything else
instead of a figure. Real processes on the committed fixtures; the Node twin where node and its
pinned peer are installed."""

from __future__ import annotations

import json
import os
import shutil
import sysconfig

import pytest

from bench.node_per_token import CPU, ROOT, Twin, environment, on_one_cpu, twin_commands

FIXTURE_TOKENS = ROOT / "bench" / "fixtures" / "tokens.json"
NODE_PEER = ROOT / "bench" / "node" / "node_modules" / "aws-jwt-verify"


def checkout_environment() -> dict[str, str]:
    """environment() with the checkout's code and its installed libraries in place of the Lambda package."""
    fixtures = json.loads(FIXTURE_TOKENS.read_text())
    paths = sysconfig.get_paths()
    code = os.pathsep.join(dict.fromkeys([str(ROOT), paths["purelib"], paths["platlib"]]))
    return environment(fixtures["issuer"], fixtures["audience"], FIXTURE_TOKENS, code)


def sides() -> list[str]:
    node = shutil.which("node")
    return ["fastauthz"] + (["node"] if node and NODE_PEER.exists() else [])


@pytest.mark.parametrize("side", sides())
def test_each_twin_times_allowed_tokens_and_reports_a_refusal_instead_of_a_figure(side: str) -> None:
    twin = Twin(twin_commands(shutil.which("node") or "node")[side], checkout_environment())
    try:
        for case in ("RS256-2048", "ES256", "EdDSA"):
            assert twin.batch(case, True) > 0
        assert twin.batch("RS256-2048", False) > 0  # the repeated token
        with pytest.raises(RuntimeError, match="Unauthorized"):
            twin.batch("expired", True)
    finally:
        twin.close()


def test_both_twins_get_one_environment_and_the_python_one_runs_as_lambda_does() -> None:
    commands = twin_commands("node")
    assert set(commands) == {"node", "fastauthz"}
    assert commands["fastauthz"][1] == "-S"  # no site: only the package's PYTHONPATH, as in /var/task
    env = checkout_environment()
    assert "NODE_EXTRA_CA_CERTS" not in env
    assert env["JWKS_FILE"] == env["JWT_ISSUER_JWKS_URI"].removeprefix("file://")  # the same keys for both


def test_the_twins_run_on_one_cpu() -> None:
    assert CPU in os.sched_getaffinity(0)
    pid = os.fork()
    if pid == 0:  # the child applies what each twin's preexec_fn applies, and reports through its exit status
        on_one_cpu()
        os._exit(0 if os.sched_getaffinity(0) == {CPU} else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
