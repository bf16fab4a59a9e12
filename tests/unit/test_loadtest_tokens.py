"""The load test's token kinds get, from the real authorizer, the decision the load test expects."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from fastauthz.authorizer import Authorizer
from fastauthz.config import load_settings
from fastauthz.dev.issuer import DevIssuer
from fastauthz.loadtest.tokens import EXPECTED, KINDS, TokenSupply, TokenSupplyError, parse_mix
from testkit.authorizers import outcome
from testkit.events import connect_event
from testkit.forgery import parts


def test_the_mix_is_parsed_and_unknown_kinds_refused() -> None:
    assert parse_mix("valid=3,none=1") == {"valid": 3.0, "none": 1.0}
    with pytest.raises(ValueError):
        parse_mix("forged=1")
    with pytest.raises(ValueError):
        parse_mix("valid=0")


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_every_minted_kind_gets_its_expected_decision_from_the_authorizer(tmp_path: Path, alg: str) -> None:
    with DevIssuer(audience="load", alg=alg, state_dir=tmp_path) as issuer:
        authorizer = Authorizer(load_settings({**issuer.environment(), "JWT_JWKS_COOLDOWN_SECONDS": "0"}), write=lambda line: None)
        supply = TokenSupply(f"mint:{tmp_path}", parse_mix(",".join(f"{k}=1" for k in KINDS)))
        for kind in KINDS:
            verdict = outcome(authorizer, connect_event(supply.token(kind)))[0]
            assert {"allow": 101, "unauthorized": 401}[verdict] == EXPECTED[kind], kind
        assert supply.token("repeated") == supply.token("repeated")
        assert supply.token("valid") != supply.token("valid")


def test_after_activation_tokens_come_from_the_new_key(tmp_path: Path) -> None:
    with DevIssuer(audience="load", alg="ES256", state_dir=tmp_path) as issuer:
        supply = TokenSupply(f"mint:{tmp_path}", {"valid": 1})
        import time

        def kid(token: str | None) -> str:
            assert token is not None
            return str(parts(token)[0]["kid"])

        first = kid(supply.token("valid"))
        issuer.rotate_step("publish")
        time.sleep(0.25)
        assert kid(supply.token("valid")) == first  # published, not yet signing
        issuer.rotate_step("activate")
        time.sleep(0.25)
        assert kid(supply.token("valid")) != first


def test_file_tokens_with_kinds(tmp_path: Path) -> None:
    with DevIssuer(audience="load") as issuer:
        path = tmp_path / "tokens.txt"
        path.write_text(f"{issuer.mint()}\nexpired {issuer.mint(ttl=-60)}\n")
        supply = TokenSupply(f"file:{path}", {"valid": 1, "expired": 1, "bad_signature": 1, "unknown_kid": 1})
        authorizer = Authorizer(load_settings(issuer.environment()), write=lambda line: None)
        for kind in ("valid", "expired", "bad_signature", "unknown_kid"):
            verdict = outcome(authorizer, connect_event(supply.token(kind)))[0]
            assert {"allow": 101, "unauthorized": 401}[verdict] == EXPECTED[kind], kind


def test_refused_kinds_expect_a_403_against_an_authorizer_in_deny_mode() -> None:
    from fastauthz.loadtest.tokens import expected_status

    assert {kind: expected_status(kind) for kind in KINDS} == EXPECTED
    assert expected_status("expired", "deny") == 403 and expected_status("none", "deny") == 403
    assert expected_status("valid", "deny") == 101 and expected_status("repeated", "deny") == 101


# -- the supply is checked before the run, and stays current during it -------------------------------


def test_a_mix_asking_for_a_kind_the_source_cannot_give_is_refused_before_the_run(tmp_path: Path) -> None:
    with DevIssuer(audience="load") as issuer:
        path = tmp_path / "tokens.txt"
        path.write_text(f"{issuer.mint()}\n")
        mix = parse_mix("valid=90,expired=10")
        supply = TokenSupply(f"file:{path}", mix)
        with pytest.raises(TokenSupplyError, match="expired"):
            supply.check(mix)
        supply.check(parse_mix("valid=80,bad_signature=10,unknown_kid=5,none=5"))  # made from the valid ones


def test_a_source_without_a_usable_valid_token_is_refused(tmp_path: Path) -> None:
    with DevIssuer(audience="load") as issuer:
        path = tmp_path / "tokens.txt"
        path.write_text(f"{issuer.mint(ttl=-60)}\n# a comment\n\n")  # labelled valid, but expired
        supply = TokenSupply(f"file:{path}", {"valid": 1})
        assert supply.skipped_expired == 1
        with pytest.raises(TokenSupplyError, match="no valid token"):
            supply.check({"valid": 1})
    path.write_text("forged abc\n")
    with pytest.raises(TokenSupplyError, match="line 1"):
        TokenSupply(f"file:{path}", {"valid": 1})
    with pytest.raises(TokenSupplyError, match="exited with 3"):
        TokenSupply("command:sh -c 'echo no >&2; exit 3'", {"valid": 1})
    with pytest.raises(TokenSupplyError, match="mint:"):
        TokenSupply(f"mint:{tmp_path / 'nowhere'}", {"valid": 1})
    with pytest.raises(TokenSupplyError):
        parse_mix("valid=lots")


def test_file_and_command_sources_say_how_many_distinct_tokens_they_hold_and_hand_them_out_in_turn(tmp_path: Path) -> None:
    with DevIssuer(audience="load") as issuer:
        tokens = [issuer.mint(sub=f"user-{i}") for i in range(3)]
        path = tmp_path / "tokens.txt"
        path.write_text("\n".join([*tokens, tokens[0]]) + "\n")
        supply = TokenSupply(f"file:{path}", {"valid": 1})
        assert "3 distinct valid tokens" in supply.describe()
        handed = [supply.token("valid") for _ in range(8)]
        assert set(handed) == set(tokens)  # in turn: every token is used before any is used twice more


def test_a_command_is_run_again_before_its_tokens_expire(tmp_path: Path) -> None:
    with DevIssuer(audience="load", state_dir=tmp_path / "issuer") as issuer:
        script = tmp_path / "tokens.sh"
        counter = tmp_path / "runs"
        # each run prints a token that expires within REFRESH_AHEAD: the supply runs the command again
        script.write_text(
            f"#!/bin/sh\necho x >> {counter}\n{sys.executable} -m fastauthz.dev.cli token --state {tmp_path / 'issuer'} --ttl 100\n"
        )
        script.chmod(0o755)
        supply = TokenSupply(f"command:{script}", {"valid": 1})
        first = supply.token("valid")
        deadline = time.monotonic() + 30
        while len(counter.read_text().split()) < 2 and time.monotonic() < deadline:
            supply.token("valid")
            time.sleep(0.1)
        assert len(counter.read_text().split()) >= 2
        assert issuer.issuer in str(parts(first or "")[1]["iss"])


def test_a_changed_token_file_is_read_again(tmp_path: Path) -> None:
    with DevIssuer(audience="load") as issuer:
        path = tmp_path / "tokens.txt"
        path.write_text(issuer.mint(sub="before") + "\n")
        supply = TokenSupply(f"file:{path}", {"valid": 1})
        assert parts(supply.token("valid") or "")[1]["sub"] == "before"
        time.sleep(0.01)
        path.write_text(issuer.mint(sub="after") + "\n")
        os.utime(path, (time.time() + 5, time.time() + 5))
        time.sleep(1.1)  # the file is looked at once a second
        assert parts(supply.token("valid") or "")[1]["sub"] == "after"


def test_minted_expired_tokens_were_issued_before_they_expired(tmp_path: Path) -> None:
    with DevIssuer(audience="load", state_dir=tmp_path):
        claims = parts(TokenSupply(f"mint:{tmp_path}", {"expired": 1}).token("expired") or "")[1]
        assert claims["iat"] < claims["exp"] < time.time() - 300
