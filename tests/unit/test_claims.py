from __future__ import annotations

from typing import Any

import pytest

from fastauthz.claims import ClaimRules, check_claims, granted_scopes
from fastauthz.errors import Rejected
from fastauthz.issuer_settings import IssuerConfig
from testkit.tokens import AUDIENCE, ISSUER, NOW, claims


def rules(
    verify_expiration: bool = True,
    leeway: float = 5,
    issuer: str = ISSUER,
    token_use: frozenset[str] | None = None,
    verify_audience: bool = True,
    audiences: tuple[str, ...] = (AUDIENCE,),
) -> ClaimRules:
    config = IssuerConfig(
        issuer=issuer,
        jwks_uri="file:///x",
        audiences=frozenset(audiences),
        verify_audience=verify_audience,
        algorithms=frozenset({"RS256"}),
        token_use=token_use,
        required_scopes=frozenset(),
    )
    return ClaimRules(config, verify_expiration, leeway)


def reason(payload: dict[str, Any], r: ClaimRules | None = None, now: float = NOW) -> str:
    with pytest.raises(Rejected) as caught:
        check_claims(payload, r or rules(), now)
    return caught.value.reason


def test_valid_claims_pass_and_return_exp() -> None:
    assert check_claims(claims(), rules(), NOW) == NOW + 3600


def test_expired_token_is_rejected_with_reason_expired() -> None:
    assert reason(claims(exp=NOW - 6)) == "expired"


def test_expiry_honours_the_leeway_and_the_exact_boundary_is_expired() -> None:
    assert check_claims(claims(exp=NOW - 4), rules(leeway=5), NOW)
    assert reason(claims(exp=NOW), rules(leeway=0)) == "expired"


def test_missing_exp_is_rejected_unless_expiration_checks_are_off() -> None:
    assert reason(claims(exp=None)) == "missing_exp"
    assert check_claims(claims(exp=None), rules(verify_expiration=False), NOW) is None
    assert check_claims(claims(exp=NOW - 100), rules(verify_expiration=False), NOW) == NOW - 100


@pytest.mark.parametrize("value", [True, "1800000000", [1], {"a": 1}])
def test_time_claims_must_be_numbers_not_booleans_or_strings(value: object) -> None:
    assert reason(claims(exp=value)) == "bad_claim_type"
    assert reason(claims(nbf=value)) == "bad_claim_type"
    assert reason(claims(iat=value)) == "bad_claim_type"


def test_not_before_in_the_future_is_rejected() -> None:
    assert reason(claims(nbf=NOW + 60)) == "not_yet_valid"
    assert check_claims(claims(nbf=NOW + 4), rules(leeway=5), NOW)


def test_issued_in_the_future_is_rejected() -> None:
    assert reason(claims(iat=NOW + 60)) == "issued_in_future"


@pytest.mark.parametrize("iss", ["https://issuer.test/", "https://ISSUER.test", None, 1, ["https://issuer.test"]])
def test_issuer_must_match_exactly(iss: object) -> None:
    assert reason(claims(iss=iss)) == "bad_issuer"


def test_audience_may_be_a_string_or_an_array_and_any_one_match_suffices() -> None:
    assert check_claims(claims(aud=[("other"), AUDIENCE]), rules(), NOW)
    assert reason(claims(aud="other")) == "bad_audience"
    assert reason(claims(aud=["other", 1])) == "bad_audience"
    assert reason(claims(aud=[])) == "bad_audience"


@pytest.mark.parametrize("aud", [1, True, {"a": AUDIENCE}])
def test_audience_of_the_wrong_type_is_rejected(aud: object) -> None:
    assert reason(claims(aud=aud)) == "bad_claim_type"


def test_cognito_access_token_without_aud_is_matched_on_client_id() -> None:
    access = claims(aud=None, client_id=AUDIENCE, token_use="access")
    assert check_claims(access, rules(token_use=frozenset({"access"})), NOW)
    assert reason(claims(aud=None, client_id="someone-else")) == "bad_audience"
    assert reason(claims(aud=None)) == "bad_audience"


def test_token_use_is_checked_when_configured() -> None:
    assert reason(claims(token_use="id"), rules(token_use=frozenset({"access"}))) == "bad_token_use"
    assert reason(claims(), rules(token_use=frozenset({"access"}))) == "bad_token_use"


def test_audience_check_can_be_switched_off_explicitly() -> None:
    assert check_claims(claims(aud="anything"), rules(verify_audience=False, audiences=()), NOW)


@pytest.mark.parametrize("sub", [None, "", 5, ["a"]])
def test_sub_must_be_a_non_empty_string(sub: object) -> None:
    assert reason(claims(sub=sub)) == "missing_sub"


def test_firebase_tokens_need_auth_time_in_the_past_and_a_short_sub() -> None:
    firebase = rules(issuer="https://securetoken.google.com/my-project", audiences=("my-project",))
    payload = claims(iss="https://securetoken.google.com/my-project", aud="my-project", auth_time=NOW - 100)
    assert check_claims(payload, firebase, NOW)
    assert reason(dict(payload, auth_time=NOW + 100), firebase) == "bad_auth_time"
    assert reason({k: v for k, v in payload.items() if k != "auth_time"}, firebase) == "bad_auth_time"
    assert reason(dict(payload, sub="x" * 129), firebase) == "bad_claim_type"


def test_granted_scopes_come_from_scope_or_scp() -> None:
    assert granted_scopes({"scope": "a b"}) == {"a", "b"}
    assert granted_scopes({"scp": ["a", "b", 3]}) == {"a", "b"}
    assert granted_scopes({"scp": "a b"}) == {"a", "b"}
    assert granted_scopes({"scope": 5}) == frozenset()
