"""One function for every API Gateway front door: REST TOKEN and REQUEST authorizers, HTTP API
payload 1.0 and 2.0 (IAM policy or simple responses) beside WebSocket `$connect`, each event
recognised by what it carries and answered in its API's own terms, through fastauthz.handler."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from testkit.authorizers import LoadHandler, policy_allows, unauthorized
from testkit.events import FRONTS, api_event, connect_event
from testkit.keys import write_jwks
from testkit.tokens import AUDIENCE, ISSUER, live_claims, mint

POLICY_FRONTS = sorted(FRONTS)  # every front that answers with an IAM policy when simple responses are off
OTHER_ROUTE = "arn:aws:execute-api:us-east-1:123456789012:{api}/prod/POST/messages/42"


@pytest.fixture
def load(load_handler: LoadHandler, tmp_path: Path) -> Any:
    uri = write_jwks(tmp_path, "rsa-1")

    def configured(**env: str) -> ModuleType:
        return load_handler(JWT_ISSUER_JWKS_URI=uri, JWT_ISSUER=ISSUER, JWT_AUTHORIZED_AUDIENCES=AUDIENCE, **env)

    return configured


def arn_of(event: dict[str, Any]) -> str:
    return str(event.get("methodArn") or event["routeArn"])


def api_of(event: dict[str, Any]) -> str:
    return arn_of(event).split(":")[5].split("/")[0]


@pytest.mark.parametrize("front", POLICY_FRONTS)
def test_each_front_allows_a_valid_token_with_a_policy_for_its_own_route(load: Any, front: str) -> None:
    module = load()
    event = api_event(front, mint("rsa-1", live_claims()))
    result = module.handler(event, None)
    assert result["principalId"] == "user-1" and policy_allows(result, arn_of(event))
    assert result["context"]["iss"] == ISSUER and result["context"]["exp"]


@pytest.mark.parametrize("front", POLICY_FRONTS)
def test_a_cached_allow_covers_every_method_and_resource_of_the_api_stage(load: Any, front: str) -> None:
    """REST caches one policy per token for every method the cache key covers (serverless #2827)."""
    module = load()
    token = mint("rsa-1", live_claims())
    first = api_event(front, token)
    module.handler(first, None)
    other = api_event(front, token, route_arn=OTHER_ROUTE.format(api=api_of(first)))
    again = module.handler(other, None)  # answered from fastauthz's cache
    assert policy_allows(again, arn_of(other)) and policy_allows(again, arn_of(first))
    # Another API behind the same authorizer: its own policy, not the first one's.
    foreign = api_event(front, token, route_arn=OTHER_ROUTE.format(api="other12345"))
    assert policy_allows(module.handler(foreign, None), arn_of(foreign))


@pytest.mark.parametrize("front", POLICY_FRONTS)
def test_each_front_refuses_with_a_401_and_denies_with_a_403(load: Any, front: str) -> None:
    module = load(JWT_REQUIRED_SCOPES="chat:admin")
    unauthorized(module, api_event(front, mint("rsa-1", live_claims(exp=1))))
    unauthorized(module, api_event(front, None))
    denied = module.handler(api_event(front, mint("rsa-1", live_claims(scope="chat:admin"[:4]))), None)
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny"


def test_http_api_simple_responses(load: Any) -> None:
    module = load(FASTAUTHZ_HTTP_SIMPLE_RESPONSES="true", JWT_REQUIRED_SCOPES="chat:write")
    token = mint("rsa-1", live_claims())
    allowed = module.handler(api_event("http-2.0", token), None)
    assert allowed["isAuthorized"] is True and allowed["context"]["iss"] == ISSUER and set(allowed) == {"isAuthorized", "context"}
    assert module.handler(api_event("http-2.0", token, route_arn=OTHER_ROUTE.format(api="http123456")), None) == allowed
    # Refusals answer isAuthorized false (403): nothing is raised for an HTTP API 2.0 event.
    assert module.handler(api_event("http-2.0", mint("rsa-1", live_claims(exp=1))), None) == {
        "isAuthorized": False,
        "context": {"reason": "expired"},
    }
    denied = module.handler(api_event("http-2.0", mint("rsa-1", live_claims(scope="chat:read"))), None)
    assert denied["isAuthorized"] is False and "policyDocument" not in denied
    # The same function still answers the other front doors with a policy, from the same cache.
    assert policy_allows(module.handler(connect_event(token), None), connect_event(token)["methodArn"])
    assert policy_allows(module.handler(api_event("rest-token", token), None), api_event("rest-token", token)["methodArn"])
    unauthorized(module, api_event("rest-request", mint("rsa-1", live_claims(exp=1))))


@pytest.mark.parametrize(
    ("front", "where"), [("http-2.0", "cookie"), ("http-1.0", "cookie"), ("rest-request", "cookie"), ("http-2.0", "query")]
)
def test_http_and_rest_requests_carry_the_token_in_cookies_and_query_strings_too(load: Any, front: str, where: str) -> None:
    module = load(JWT_TOKEN_SOURCES="header,query,cookie", JWT_COOKIE_NAME="session", JWT_ALLOWED_ORIGINS="https://app.example.com")
    event = api_event(front, mint("rsa-1", live_claims()), where)
    assert policy_allows(module.handler(event, None), arn_of(event))


def test_a_token_authorizer_reads_authorization_token_whatever_the_sources(load: Any) -> None:
    module = load(JWT_TOKEN_SOURCES="protocol")
    event = api_event("rest-token", mint("rsa-1", live_claims()))
    assert policy_allows(module.handler(event, None), event["methodArn"])
    for value in ("", "Bearer ", 7, None):
        event["authorizationToken"] = value
        unauthorized(module, event)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ({}, "missing_token"),
        ({"type": "REQUEST", "headers": {"Authorization": "Bearer <token>"}}, "unknown_event"),
        ({"version": "2.0", "routeArn": 7, "headers": {"authorization": "Bearer <token>"}}, "unknown_event"),
        ({"type": "TOKEN", "authorizationToken": "Bearer <token>"}, "unknown_event"),
        ({"type": "TOKEN", "authorizationToken": "Bearer <token>", "methodArn": "arn:aws:s3:::bucket"}, "bad_method_arn"),
    ],
)
def test_an_event_of_no_known_shape_is_a_clean_refusal_with_its_own_reason(
    load: Any, event: dict[str, Any], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load()
    token = mint("rsa-1", live_claims())
    shaped: dict[str, Any] = {key: (value.replace("<token>", token) if isinstance(value, str) else value) for key, value in event.items()}
    headers: dict[str, str] | None = event.get("headers")
    if headers is not None:
        shaped["headers"] = {name: value.replace("<token>", token) for name, value in headers.items()}
    unauthorized(module, shaped)
    assert f'"reason":"{reason}"' in capsys.readouterr().out


def test_an_allow_narrower_than_the_stage_is_warned_of_at_cold_start(tmp_path: Path) -> None:
    from fastauthz.config import load_settings

    base = {"JWT_ISSUER_JWKS_URI": write_jwks(tmp_path, "rsa-1"), "JWT_ISSUER": ISSUER, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE}
    narrow = load_settings({**base, "AUTHORIZED_APIS": "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/$connect"})
    assert any("covers only some routes" in warning and "403" in warning for warning in narrow.warnings)
    for wide in ("abcdef1234", "arn:aws:execute-api:us-east-1:123456789012:abcdef1234/prod/*", "arn:aws:execute-api:*:*:*/*/*"):
        assert not any("covers only some routes" in w for w in load_settings({**base, "AUTHORIZED_APIS": wide}).warnings), wide
