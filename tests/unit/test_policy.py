from __future__ import annotations

import json

import pytest

from fastauthz.errors import Rejected
from fastauthz.policy import MAX_RESULT_BYTES, Policies, build_context, fit_context, flatten, parse_method_arn

ARN = "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/production/$connect"


def test_method_arn_is_split_into_its_parts() -> None:
    assert parse_method_arn(ARN) == ("aws", "us-east-1", "123456789012", "abcdef1234", "production", "$connect")


@pytest.mark.parametrize(
    "arn", [None, "", "arn:aws:lambda:us-east-1:1:x/y/z", "arn:aws:execute-api:r:a:api", "arn:aws:execute-api:r:a:api/stage"]
)
def test_malformed_method_arns_are_refused(arn: str | None) -> None:
    with pytest.raises(Rejected) as caught:
        parse_method_arn(arn)
    assert caught.value.reason == "bad_method_arn"


def test_default_allow_covers_the_events_own_api_and_stage() -> None:
    document, size = Policies().allow(ARN)
    statement = document["Statement"][0]
    assert statement == {
        "Action": "execute-api:Invoke",
        "Effect": "Allow",
        "Resource": ["arn:aws:execute-api:us-east-1:123456789012:abcdef1234/production/*"],
    }
    assert size == len(json.dumps(document, separators=(",", ":")))


def test_partition_region_and_account_come_from_the_method_arn_never_hard_coded() -> None:
    arn = "arn:aws-cn:execute-api:cn-north-1:999999999999:xyz/dev/$connect"
    assert Policies(("otherapi",)).allow(arn)[0]["Statement"][0]["Resource"] == [
        "arn:aws-cn:execute-api:cn-north-1:999999999999:otherapi/*"
    ]


def test_authorized_apis_accept_api_ids_and_arn_patterns() -> None:
    pattern = "arn:aws:execute-api:*:*:shared/*/$connect"
    resources = Policies(("abc123", pattern)).allow(ARN)[0]["Statement"][0]["Resource"]
    assert resources == ["arn:aws:execute-api:us-east-1:123456789012:abc123/*", pattern]


def test_documents_are_built_once_per_method_arn_and_reused() -> None:
    policies = Policies()
    assert policies.allow(ARN)[0] is policies.allow(ARN)[0]


def test_deny_covers_exactly_the_method_arn() -> None:
    assert Policies().deny(ARN)[0]["Statement"][0] == {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [ARN]}


def test_context_values_are_flattened_to_strings_numbers_and_booleans() -> None:
    assert flatten(["a", "b", 3]) == "a,b,3"
    assert flatten({"role": "admin"}) == '{"role":"admin"}'
    assert flatten(True) is True and flatten(1.5) == 1.5 and flatten(None) is None
    assert flatten(2**60) == str(2**60)


def test_context_holds_configured_claims_that_are_present_plus_exp() -> None:
    payload = {"sub": "u", "scope": "a b", "groups": ["x", "y"], "exp": 100}
    assert build_context(payload, ("scope", "groups", "email"), 100) == {"scope": "a b", "groups": "x,y", "exp": 100}
    assert build_context(payload, ("*",), 100) == {"sub": "u", "scope": "a b", "groups": "x,y", "exp": 100}


def test_oversized_context_drops_its_largest_claims_but_keeps_exp() -> None:
    context = {"big": "x" * 9000, "small": "y", "exp": 5}
    assert fit_context(context, "user", 200) == ["big"]
    assert context == {"small": "y", "exp": 5}
    with pytest.raises(Rejected):
        fit_context({"exp": 1}, "u" * MAX_RESULT_BYTES, 200)
