from __future__ import annotations

from fastauthz.dev.demo import main


def test_demo_runs_every_scripted_case_as_expected(capsys):
    assert main(["200"]) == 0
    out = capsys.readouterr().out
    assert "all decisions as expected" in out and "BAD" not in out
    assert "connects/s" in out
