"""#32: a load-test issuer (`fastauthz loadtest-key`) trusted beside the real IdP, as the README's recipe
sets it up: its tokens (`--tokens mint:DIR`) get the decision each kind must get from an authorizer whose
JWT_ISSUERS holds both issuers, its public keys a pinned file; its private key is the user's alone."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from fastauthz.authorizer import Authorizer
from fastauthz.config import load_settings
from fastauthz.dev.cli import main
from fastauthz.dev.issuer import DevIssuer
from fastauthz.loadtest.report import write_report
from fastauthz.loadtest.tokens import EXPECTED, KINDS, TokenSupply
from testkit.authorizers import outcome
from testkit.events import connect_event


def test_tokens_of_a_load_test_issuer_get_their_decisions_beside_the_real_idp(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "loadtest-issuer"
    argv = ["loadtest-key", "--issuer", "https://loadtest.example.com", "--audience", "chat-api", "--scope", "chat", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    entry = json.loads(re.search(r"^  (\{.*\})$", printed, re.M)[1])  # type: ignore[index]
    assert entry["issuer"] == "https://loadtest.example.com" and entry["audiences"] == ["chat-api"]
    assert stat.S_IMODE((out / "issuer.json").stat().st_mode) == 0o600
    assert "d" not in json.loads((out / "jwks.json").read_text())["keys"][0]  # the public half only

    entry["jwks_uri"] = (out / "jwks.json").as_uri()  # where the recipe ships it: the function's package
    with DevIssuer(audience="chat-api") as idp:
        real = {"issuer": idp.issuer, "jwks_uri": idp.jwks_uri, "audiences": ["chat-api"]}
        env = {"JWT_ISSUERS": json.dumps([real, entry]), "JWT_REQUIRED_SCOPES": "chat", "JWT_JWKS_COOLDOWN_SECONDS": "0"}
        authorizer = Authorizer(load_settings(env), write=lambda line: None)
        supply = TokenSupply(f"mint:{out}", dict.fromkeys(KINDS, 1.0))
        for kind in KINDS:
            verdict = outcome(authorizer, connect_event(supply.token(kind)))[0]
            assert {"allow": 101, "unauthorized": 401}[verdict] == EXPECTED[kind], kind
        assert outcome(authorizer, connect_event(idp.mint(scope="chat")))[0] == "allow"  # the IdP's users are unaffected

    assert main(argv) == 2  # an existing key is not replaced by accident
    assert "--force" in capsys.readouterr().err


def test_the_report_escapes_what_the_target_and_its_logs_say(tmp_path: Path) -> None:
    row = {"t": 0, "epoch": 1, "offered": 1, "started": 1, "completed": 1, "achieved": 1, "classes": {"allowed as expected": 1}}
    summary = {
        "model": "open",
        "start": 1,
        "timeline": [{**row, "p50_ms": 1.0, "p99_ms": 2.0}],
        "classes": {"allowed as expected": 1},
        "latency_ms": {"p50": 1.0},
        "breaches": ["<b>breach</b>"],
        "authorizer": {
            "invocations": 1,
            "cold_starts": 1,
            "cold_share": 1.0,
            "init_ms": {"p50": 50.0, "p99": 50.0},
            "duration_ms": {"p50": 1.0, "p99": 1.0},
            "max_memory_mb": 40,
            "memory_size_mb": 128,
            "throttles": 0,
            "failed": {},
            "reasons": {"<script>alert(1)</script>": 1},
            "cold_at": [1.5],
        },
    }
    path = tmp_path / "report.html"
    write_report(path, summary, title="load test of <wss://x>")
    html = path.read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;b&gt;breach" in html
    assert html.count("<svg") == 3 and "cold start" in html
