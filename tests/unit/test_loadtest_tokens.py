"""The load test's token kinds get, from the real authorizer, the decision the load test expects."""

from __future__ import annotations

from pathlib import Path

import pytest

from fastauthz.authorizer import Authorizer
from fastauthz.config import load_settings
from fastauthz.dev.issuer import DevIssuer
from loadtest.tokens import EXPECTED, KINDS, TokenSupply, parse_mix
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
    from loadtest.tokens import expected_status

    assert {kind: expected_status(kind) for kind in KINDS} == EXPECTED
    assert expected_status("expired", "deny") == 403 and expected_status("none", "deny") == 403
    assert expected_status("valid", "deny") == 101 and expected_status("repeated", "deny") == 101
