from __future__ import annotations

import pytest

from fastauthz.dev.demo import main


def test_demo_runs_every_scripted_case_through_the_local_stage_as_expected(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["40"]) == 0
    out = capsys.readouterr().out
    assert "all outcomes as expected" in out and "BAD" not in out
    assert "connects/s" in out and "cold starts" in out
    # connections that end with their token: one closed by the sweeper, a re-authed one kept
    assert "ok  token expires, no re-auth: closed by the server" in out
    assert "ok  re-auth before exp: kept open" in out
