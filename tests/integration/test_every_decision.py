"""#31: one decision, whoever asks and whatever answers. Each test here failed on 9afd215 (a cache or a
second entry point answered with less than the full decision) and goes through what a user runs:
fastauthz.handler.handler(event, context), the library's verify, or the configuration at cold start."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fastauthz.errors import ConfigError, Rejected
from testkit.authorizers import LoadHandler, unauthorized
from testkit.events import api_event, connect_event
from testkit.keys import write_jwks
from testkit.tokens import AUDIENCE, ISSUER, live_claims, mint, mint_hmac
from tests import hooks

SECRET = "a-ticket-secret-of-at-least-32-bytes!"


@pytest.fixture
def load_handler(load_handler: LoadHandler, tmp_path: Path) -> LoadHandler:
    uri = write_jwks(tmp_path, "rsa-1")
    return lambda **env: load_handler(**{"JWT_ISSUER_JWKS_URI": uri, "JWT_ISSUER": ISSUER, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE, **env})


def on_stage(event: dict[str, Any], stage: str) -> dict[str, Any]:
    """The same `$connect` event on another stage of the same API (one authorizer function for both)."""
    event = copy.deepcopy(event)
    event["requestContext"]["stage"] = stage
    event["methodArn"] = event["methodArn"].replace("/production/", f"/{stage}/")
    return event


def effect(result: dict[str, Any]) -> str:
    return str(result["policyDocument"]["Statement"][0]["Effect"])


# -- 1. the hook's answer is never reused for an event it may read differently --------------------------
@pytest.mark.parametrize("order", [("prod", "admin"), ("admin", "prod")])
def test_a_hook_that_reads_the_stage_decides_each_stage_on_a_warm_function(load_handler: LoadHandler, order: tuple[str, str]) -> None:
    module = load_handler(FASTAUTHZ_AUTHORIZE="tests.hooks:stages_of_the_token")
    event = connect_event(mint("rsa-1", live_claims(stages=["prod"])))
    expected = {"prod": "Allow", "admin": "Deny"}
    for stage in (*order, *order):  # the second round answers from the verified-token cache
        assert effect(module.handler(on_stage(event, stage), None)) == expected[stage], stage


def test_a_hook_declared_to_read_only_the_claims_is_cached_with_the_token(load_handler: LoadHandler) -> None:
    hooks.CALLS["count"] = 0
    module = load_handler(FASTAUTHZ_AUTHORIZE="tests.hooks:counting", FASTAUTHZ_AUTHORIZE_READS="claims")
    event = connect_event(mint("rsa-1", live_claims()))
    for stage in ("prod", "admin", "prod"):
        assert effect(module.handler(on_stage(event, stage), None)) == "Allow"
    assert hooks.CALLS["count"] == 1


def test_a_hooks_refusal_on_a_cache_hit_is_a_401_and_the_next_event_asks_again(load_handler: LoadHandler, tmp_path: Path) -> None:
    revoked = tmp_path / "revoked.json"
    revoked.write_text("[]")
    module = load_handler(FASTAUTHZ_AUTHORIZE="tests.hooks:revoked_sessions", REVOKED_FILE=str(revoked))
    event = connect_event(mint("rsa-1", live_claims(sid="s-1")))
    assert effect(module.handler(event, None)) == "Allow"
    revoked.write_text('["s-1"]')
    unauthorized(module, event)  # verified from the cache, refused by the hook at once
    revoked.write_text("[]")
    assert effect(module.handler(event, None)) == "Allow"


# -- 2. the library's verify runs the hook, and says so when it cannot ---------------------------------
def test_verify_asks_the_hook_with_the_event_and_refuses_to_guess_without_one(tmp_path: Path) -> None:
    from fastauthz import Authorizer

    environ = {"JWT_ISSUER_JWKS_URI": write_jwks(tmp_path, "rsa-1"), "JWT_ISSUER": ISSUER, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE}
    environ |= {"FASTAUTHZ_AUTHORIZE": "tests.hooks:stages_of_the_token", "FASTAUTHZ_METRICS": "false", "LOG_LEVEL": "ERROR"}
    authorizer = Authorizer.from_env(environ)
    token = mint("rsa-1", live_claims(stages=["prod"]))
    event = connect_event(token)
    assert authorizer.verify(token, on_stage(event, "prod"))["sub"] == "user-1"
    authorizer.decide(on_stage(event, "prod"))  # cached now: verify answers from the cache, the hook still asked
    with pytest.raises(Rejected) as raised:
        authorizer.verify(token, on_stage(event, "admin"))
    assert raised.value.reason == "denied_by_hook"
    with pytest.raises(ConfigError) as missing:
        authorizer.verify(token)
    assert missing.value.variable == "FASTAUTHZ_AUTHORIZE"


def test_verify_with_a_claims_only_hook_needs_no_event(tmp_path: Path) -> None:
    from fastauthz import Authorizer

    environ = {"JWT_ISSUER_JWKS_URI": write_jwks(tmp_path, "rsa-1"), "JWT_ISSUER": ISSUER, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE}
    environ |= {"FASTAUTHZ_AUTHORIZE": "tests.hooks:chat_users_only", "FASTAUTHZ_AUTHORIZE_READS": "claims", "LOG_LEVEL": "ERROR"}
    authorizer = Authorizer.from_env(environ)
    assert authorizer.verify(mint("rsa-1", live_claims(**{"cognito:groups": ["chat-users"]})))["sub"] == "user-1"
    with pytest.raises(Rejected) as raised:
        authorizer.verify(mint("rsa-1", live_claims()))
    assert raised.value.reason == "denied_by_hook"


# -- 5. the usage key, whichever front door asked first ---------------------------------------------------
def test_the_usage_key_is_on_every_front_doors_answer_whichever_came_first(load_handler: LoadHandler) -> None:
    module = load_handler(FASTAUTHZ_USAGE_IDENTIFIER_CLAIM="api_key", FASTAUTHZ_HTTP_SIMPLE_RESPONSES="true")
    token = mint("rsa-1", live_claims(api_key="plan-key-123"))
    assert module.handler(api_event("http-2.0", token), None)["isAuthorized"] is True  # simple response first
    assert module.handler(connect_event(token), None)["usageIdentifierKey"] == "plan-key-123"
    assert module.handler(api_event("rest-token", token), None)["usageIdentifierKey"] == "plan-key-123"


def test_the_hooks_usage_key_holds_on_cache_hits_for_other_fronts(load_handler: LoadHandler) -> None:
    module = load_handler(FASTAUTHZ_AUTHORIZE="tests.hooks:plan_key")
    token = mint("rsa-1", live_claims(plan="gold"))
    for event in (connect_event(token), api_event("rest-request", token), connect_event(token)):
        assert module.handler(event, None)["usageIdentifierKey"] == "key-for-gold"


# -- 6. API Gateway's 8 KB, however the claims serialise -------------------------------------------------
def test_a_result_never_passes_8_kb_even_when_the_context_outgrows_the_token(load_handler: LoadHandler, capsys: Any) -> None:
    """The review's case: an HS256 token just under 3,072 characters (where the old bound, twice the
    token plus 2 KB, skipped the exact check) whose `1e15` floats serialise as 1000000000000000.0."""
    import hmac

    from fastauthz.dev.tokens import b64url

    module = load_handler(JWT_CONTEXT_CLAIMS="*", JWT_HMAC_SECRET=SECRET)

    def with_floats(count: int) -> str:
        payload = json.dumps(live_claims(), separators=(",", ":"))[:-1] + ',"n":[' + ",".join(["1e15"] * count) + "]}"
        signing_input = b64url(b'{"alg":"HS256","typ":"JWT"}') + "." + b64url(payload.encode())
        return signing_input + "." + b64url(hmac.digest(SECRET.encode(), signing_input.encode(), "sha256"))

    token = max((with_floats(count) for count in range(300, 500)), key=lambda t: len(t) if len(t) <= 3072 else 0)
    assert 3000 < len(token) <= 3072
    for event in (connect_event(token), connect_event(token), api_event("rest-request", token)):
        result = module.handler(event, None)
        assert len(json.dumps(result)) <= 8192 and effect(result) == "Allow"
    assert "context claims dropped to fit 8 KB" in capsys.readouterr().out


# -- 8. a ticket's `iat` of any size is a clean refusal ---------------------------------------------------
@pytest.mark.parametrize("iat", [10**400, -(10**400)])
def test_a_ticket_with_an_absurd_iat_is_refused_not_an_internal_error(load_handler: LoadHandler, iat: int, capsys: Any) -> None:
    module = load_handler(JWT_TOKEN_SOURCES="query", JWT_QUERY_TOKEN_MAX_AGE_SECONDS="60")
    unsigned = mint("rsa-1", live_claims(iat=iat))[:-10] + "AAAAAAAAAA"
    unauthorized(module, connect_event(unsigned, where="query"))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    reasons = [line.get("reason") for line in lines if line.get("message") == "unauthorized"]
    assert reasons and reasons[0] in ("query_token_too_old", "issued_in_future")
    assert not [line for line in lines if line["level"] == "ERROR"]


# -- 9 and the configuration that cannot work -------------------------------------------------------------
@pytest.mark.parametrize(
    "entries",
    [
        [  # one Cognito pool, listed in both of its issuer forms
            {"issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC", "audiences": ["a"], "required_scopes": "chat"},
            {"issuer": "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC", "audiences": ["a"]},
        ],
        [  # an Entra tenant template and a concrete entry for one of its tenants
            {"issuer": "https://login.microsoftonline.com/{tenantid}/v2.0", "jwks_uri": "https://login.microsoftonline.com/common/discovery/v2.0/keys", "tenants": ["t1", "t2"], "audiences": ["a"]},
            {"issuer": "https://login.microsoftonline.com/t1/v2.0", "audiences": ["b"]},
        ],
    ],
)  # fmt: skip
def test_issuer_entries_that_accept_the_same_iss_stop_the_cold_start(load_handler: LoadHandler, entries: list[dict[str, Any]]) -> None:
    with pytest.raises(ConfigError) as raised:
        load_handler(JWT_ISSUER_JWKS_URI="", JWT_ISSUER="", JWT_ISSUERS=json.dumps(entries))
    assert raised.value.variable == "JWT_ISSUERS" and "both accept" in str(raised.value)


def test_an_hmac_secret_is_not_inherited_by_an_identity_provider_entry(load_handler: LoadHandler) -> None:
    entries = [{"issuer": "https://idp.example", "jwks_uri": "https://idp.example/jwks.json", "audiences": ["a"]}]
    with pytest.raises(ConfigError) as raised:
        load_handler(JWT_ISSUER_JWKS_URI="", JWT_ISSUER="", JWT_HMAC_SECRET=SECRET, JWT_ISSUERS=json.dumps(entries))
    assert raised.value.variable == "JWT_HMAC_SECRET"
    tickets = [{"issuer": "https://tickets.example", "audiences": ["a"], "algorithms": ["HS256"]}]  # an HMAC-only entry inherits it
    module = load_handler(JWT_ISSUER_JWKS_URI="", JWT_ISSUER="", JWT_HMAC_SECRET=SECRET, JWT_ISSUERS=json.dumps(tickets))
    token = mint_hmac(SECRET, live_claims(iss="https://tickets.example", aud="a"))
    assert effect(module.handler(connect_event(token), None)) == "Allow"


@pytest.mark.parametrize(
    "origin",
    ["https://app.example.com:443", "http://app.example.com:80", "https://app.example.com.", "https://a..b", "https://a.b:70000", "https://*.com", "https://*.co.uk", "https://*.github.io"],
)  # fmt: skip
def test_an_allowed_origin_that_can_never_match_or_covers_a_public_suffix_stops_the_cold_start(
    load_handler: LoadHandler, origin: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_handler(JWT_ALLOWED_ORIGINS=origin)
    assert raised.value.variable == "JWT_ALLOWED_ORIGINS"


# -- cached answers keep the fresh answer's checks --------------------------------------------------------
def test_a_cached_token_refuses_an_event_of_no_api_gateway_shape_with_simple_responses(load_handler: LoadHandler) -> None:
    module = load_handler(FASTAUTHZ_HTTP_SIMPLE_RESPONSES="true")
    event = api_event("http-2.0", mint("rsa-1", live_claims()))
    assert module.handler(event, None)["isAuthorized"] is True
    shapeless = {key: value for key, value in event.items() if key != "routeArn"}
    assert module.handler(shapeless, None) == {"isAuthorized": False, "context": {"reason": "unknown_event"}}  # as when fresh


def test_a_token_event_is_read_from_its_authorization_token_alone(load_handler: LoadHandler) -> None:
    module = load_handler()
    event = api_event("rest-token", mint("rsa-1", live_claims(sub="from-the-token-field")))
    event["headers"] = {"Authorization": "Bearer " + mint("rsa-1", live_claims(sub="from-a-header"))}
    assert module.handler(event, None)["principalId"] == "from-the-token-field"
