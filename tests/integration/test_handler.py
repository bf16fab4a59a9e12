"""Through the real entry point, fastauthz.handler.handler(event, context), configured from the
environment at import, with keys served by a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import Any

import pytest

from fastauthz.errors import ConfigError, KeysUnavailable
from testkit.authorizers import LoadHandler, policy_allows, unauthorized
from testkit.events import EVENTS, connect_event
from testkit.keys import jwks, key, write_jwks
from testkit.server import KeyServer
from testkit.tokens import AUDIENCE, ISSUER, LIVE, live_claims, mint, mint_hmac


@pytest.fixture
def served(key_server: KeyServer) -> KeyServer:
    key_server.serve(jwks("rsa-1", "es256-1"), headers={"Cache-Control": "public, max-age=3600"})
    return key_server


def env_for(uri: str, **extra: str) -> dict[str, str]:
    return {"JWT_ISSUER_JWKS_URI": uri, "JWT_ISSUER": ISSUER, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE, **extra}


@pytest.mark.parametrize("where", ["header", "query", "protocol"])
def test_valid_token_from_each_source_is_allowed_with_keys_from_a_url(load_handler: LoadHandler, served: KeyServer, where: str) -> None:
    module = load_handler(**env_for(served.url))
    event = connect_event(mint("rsa-1", live_claims()), where)
    result = module.handler(event, None)
    assert result["principalId"] == "user-1"
    assert policy_allows(result, event["methodArn"])
    assert served.requests == 1


def test_cookie_source_when_a_cookie_name_is_configured(load_handler: LoadHandler, served: KeyServer) -> None:
    module = load_handler(**env_for(served.url, JWT_COOKIE_NAME="session", JWT_ALLOWED_ORIGINS="https://app.example.com"))
    assert module.handler(connect_event(mint("es256-1", live_claims()), "cookie"), None)["principalId"] == "user-1"


def test_allow_result_carries_flattened_context_with_exp_and_stays_under_8_kb(load_handler: LoadHandler, served: KeyServer) -> None:
    module = load_handler(**env_for(served.url, JWT_CONTEXT_CLAIMS="email,scope,groups,profile,aud,admin"))
    payload = live_claims(groups=["a", "b"], profile={"tier": "gold"}, admin=False)
    result = module.handler(connect_event(mint("rsa-1", payload)), None)
    assert result["context"] == {
        "email": "ada@example.com",
        "scope": "chat:read chat:write",
        "groups": "a,b",
        "profile": '{"tier":"gold"}',
        "aud": AUDIENCE,
        "admin": False,
        "exp": payload["exp"],
    }
    assert all(isinstance(v, (str, int, float, bool)) for v in result["context"].values())
    assert len(json.dumps(result)) < 8192


def test_keys_shipped_as_a_file_need_no_network(load_handler: LoadHandler, tmp_path: Path) -> None:
    module = load_handler(**env_for(write_jwks(tmp_path, "ed25519-1")))
    assert module.handler(connect_event(mint("ed25519-1", live_claims())), None)["principalId"] == "user-1"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (live_claims(exp=LIVE - 3600), "expired"),
        (live_claims(aud="someone-else"), "bad_audience"),
        (live_claims(iss="https://evil.test"), "bad_issuer"),
    ],
)
def test_invalid_tokens_are_unauthorized_with_a_logged_reason(
    load_handler: LoadHandler, served: KeyServer, capsys: pytest.CaptureFixture[str], payload: dict[str, Any], reason: str
) -> None:
    module = load_handler(**env_for(served.url))
    token = mint("rsa-1", payload)
    unauthorized(module, connect_event(token))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["reason"] == reason
    assert token.split(".")[2] not in json.dumps(lines) and token not in json.dumps(lines)


def test_tampered_token_and_missing_token_are_unauthorized(load_handler: LoadHandler, served: KeyServer) -> None:
    module = load_handler(**env_for(served.url))
    token = mint("rsa-1", live_claims())
    header, _, signature = token.split(".")
    forged_payload = mint("rsa-1", live_claims(sub="admin")).split(".")[1]
    unauthorized(module, connect_event(f"{header}.{forged_payload}.{signature}"))
    unauthorized(module, connect_event())


def test_valid_token_without_the_required_scope_gets_a_deny_policy(load_handler: LoadHandler, served: KeyServer) -> None:
    module = load_handler(**env_for(served.url, JWT_REQUIRED_SCOPES="chat:admin"))
    event = connect_event(mint("rsa-1", live_claims()))
    result = module.handler(event, None)
    assert result["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert not policy_allows(result, event["methodArn"])
    granted = module.handler(connect_event(mint("rsa-1", live_claims(scope="chat:admin other"))), None)
    assert policy_allows(granted, event["methodArn"])


def test_authorized_apis_shape_the_allow(load_handler: LoadHandler, served: KeyServer) -> None:
    module = load_handler(**env_for(served.url, AUTHORIZED_APIS="otherapi"))
    event = connect_event(mint("rsa-1", live_claims()))
    result = module.handler(event, None)
    assert not policy_allows(result, event["methodArn"])  # this API is not covered: API Gateway answers 403
    assert policy_allows(result, event["methodArn"].replace("abcdef1234", "otherapi"))


def test_key_source_down_at_cold_start_fails_closed_with_a_distinct_loud_error(
    load_handler: LoadHandler,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = KeyServer()
    url = server.url
    server.close()
    module = load_handler(**env_for(url, JWT_JWKS_TIMEOUT_SECONDS="0.5"))
    with pytest.raises(KeysUnavailable):
        module.handler(connect_event(mint("rsa-1", live_claims())), None)
    errors = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"ERROR"' in line]
    assert any(e.get("reason") == "keys_unavailable" for e in errors)


def test_a_new_kid_triggers_one_refetch_and_is_then_accepted(load_handler: LoadHandler, served: KeyServer) -> None:
    module = load_handler(**env_for(served.url))
    assert module.handler(connect_event(mint("rsa-1", live_claims())), None)  # waits for the cold-start fetch
    assert served.requests == 1
    served.serve(jwks("rsa-1", "rsa-2"))
    assert module.handler(connect_event(mint("rsa-2", live_claims())), None)["principalId"] == "user-1"
    assert served.requests == 2
    for _ in range(5):  # unknown kids inside the cooldown cost no fetch
        unauthorized(module, connect_event(mint("es384-1", live_claims())))
    assert served.requests == 2


def test_a_token_refused_on_its_claims_never_costs_a_key_fetch_for_its_unknown_kid(
    load_handler: LoadHandler,
    served: KeyServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = load_handler(**env_for(served.url))
    assert module.handler(connect_event(mint("rsa-1", live_claims())), None)
    assert served.requests == 1
    served.serve(jwks("rsa-1", "rsa-2"))
    capsys.readouterr()
    for refused in (live_claims(exp=LIVE - 60), live_claims(aud="someone-else")):
        unauthorized(module, connect_event(mint("rsa-2", refused)))
    assert served.requests == 1  # the claims were checked before the key was looked for
    reasons = [json.loads(line)["reason"] for line in capsys.readouterr().out.splitlines()]
    assert reasons == ["expired", "bad_audience"]


def test_firebase_certificate_map_and_derived_issuer(
    load_handler: LoadHandler, key_server: KeyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.unit.test_keys import _certificate_pem

    key_server.serve({"rsa-1": _certificate_pem(key("rsa-1").private_key)})
    module = load_handler(
        JWT_ISSUER_JWKS_URI=key_server.url, JWT_ISSUER="https://securetoken.google.com/proj-1", JWT_AUTHORIZED_AUDIENCES="proj-1"
    )
    payload = live_claims(iss="https://securetoken.google.com/proj-1", aud="proj-1", auth_time=LIVE - 60)
    assert module.handler(connect_event(mint("rsa-1", payload)), None)["principalId"] == "user-1"


def test_cognito_access_token_matched_on_client_id_and_token_use(load_handler: LoadHandler, served: KeyServer) -> None:
    module = load_handler(**env_for(served.url, JWT_TOKEN_USE="access"))
    access = live_claims(aud=None, client_id=AUDIENCE, token_use="access")
    assert module.handler(connect_event(mint("rsa-1", access)), None)["principalId"] == "user-1"
    unauthorized(module, connect_event(mint("rsa-1", live_claims(token_use="id"))))


def test_several_issuers_are_routed_by_iss_to_their_own_keys(load_handler: LoadHandler, served: KeyServer, tmp_path: Path) -> None:
    issuers = [
        {"issuer": "https://a.test", "jwks_uri": served.url, "audiences": ["aud-a"]},
        {"issuer": "https://b.test", "jwks_uri": write_jwks(tmp_path, "ed25519-1"), "audiences": ["aud-b"]},
    ]
    module = load_handler(JWT_ISSUERS=json.dumps(issuers))
    a = live_claims(iss="https://a.test", aud="aud-a")
    b = live_claims(iss="https://b.test", aud="aud-b")
    assert module.handler(connect_event(mint("rsa-1", a)), None)
    assert module.handler(connect_event(mint("ed25519-1", b)), None)
    unauthorized(module, connect_event(mint("rsa-1", b)))  # b's keys do not include rsa-1
    unauthorized(module, connect_event(mint("rsa-1", live_claims(iss="https://a.test", aud="aud-b"))))


def test_hmac_tokens_only_with_a_configured_secret(load_handler: LoadHandler, served: KeyServer) -> None:
    secret = "x" * 40
    module = load_handler(**env_for(served.url, JWT_HMAC_SECRET=secret))
    assert module.handler(connect_event(mint_hmac(secret, live_claims())), None)
    unauthorized(module, connect_event(mint_hmac("y" * 40, live_claims())))


def test_bad_configuration_fails_the_cold_start_naming_the_variable(load_handler: LoadHandler, served: KeyServer) -> None:
    with pytest.raises(ConfigError, match="JWT_AUTHORIZED_AUDIENCES"):
        load_handler(JWT_ISSUER_JWKS_URI=served.url, JWT_ISSUER=ISSUER, JWT_AUTHORIZED_AUDIENCES="")


def test_metrics_are_flushed_as_one_embedded_metric_format_record(
    load_handler: LoadHandler, served: KeyServer, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_handler(**env_for(served.url, FASTAUTHZ_METRICS="true", FASTAUTHZ_METRICS_INTERVAL_SECONDS="1"))
    event = connect_event(mint("rsa-1", live_claims()))
    for _ in range(3):
        module.handler(event, None)
    module.authorizer.metrics.flush(time.time())
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert len(records) == 1
    record = records[0]
    assert record["Allow"] == 3 and record["CacheHit"] == 2
    names = {m["Name"] for m in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"Allow", "CacheHit", "VerifyTime"} <= names


HELD_EVENTS = sorted(EVENTS.glob("*authorizer_request.json"))


def held_shapes(event: dict[str, Any], token: str) -> dict[str, dict[str, Any]]:
    """A held event with the token where clients send it, and in the shapes API Gateway also sends:
    the header in lower case with maps null or absent, and the token in the query string only."""
    header = json.loads(json.dumps(event))
    header["headers"] = {**(header.get("headers") or {}), "Authorization": f"Bearer {token}"}
    header["multiValueHeaders"] = {**(header.get("multiValueHeaders") or {}), "Authorization": [f"Bearer {token}"]}
    lower = json.loads(json.dumps(event))
    lower["headers"] = {name.lower(): value for name, value in (lower.get("headers") or {}).items() if name.lower() != "authorization"}
    lower["headers"]["authorization"] = token
    lower["multiValueHeaders"] = None
    lower["queryStringParameters"] = None
    lower.pop("multiValueQueryStringParameters", None)
    lower.pop("stageVariables", None)
    query = json.loads(json.dumps(event))
    for name in ("headers", "multiValueHeaders"):
        query[name] = {k: v for k, v in (query.get(name) or {}).items() if k.lower() != "authorization"}
    query["queryStringParameters"] = {**(query.get("queryStringParameters") or {}), "authorization": token}
    query["multiValueQueryStringParameters"] = {**(query.get("multiValueQueryStringParameters") or {}), "authorization": [token]}
    return {"header": header, "lower-case header, null maps": lower, "query string": query}


@pytest.mark.parametrize("held", HELD_EVENTS, ids=lambda path: path.stem)
def test_every_held_event_shape_is_handled(load_handler: LoadHandler, served: KeyServer, held: Path) -> None:
    """Every event under testkit/events, as API Gateway sends it, allows a valid token in each shape."""
    event = json.loads(held.read_text())
    module = load_handler(**env_for(served.url))
    for shape, shaped in held_shapes(event, mint("rsa-1", live_claims())).items():
        result = module.handler(shaped, None)
        assert result["principalId"] == "user-1", shape
        assert policy_allows(result, event["methodArn"]), shape


class RecordingRuntimeClient:
    """awslambdaric's runtime client, minus the HTTP round trip to the Runtime API: what the
    runtime would post is recorded instead."""

    def __init__(self) -> None:
        from awslambdaric.lambda_runtime_marshaller import LambdaMarshaller

        self.marshaller = LambdaMarshaller()
        self.posted: list[tuple[str, Any]] = []

    def post_invocation_result(self, invoke_id: str, result: bytes, content_type: str, *rest: Any) -> None:
        self.posted.append(("result", json.loads(result)))

    def post_invocation_error(self, invoke_id: str, error: bytes, xray_fault: Any, *rest: Any) -> None:
        self.posted.append(("error", json.loads(error)))


def through_lambda_runtime(handler: Any, event: dict[str, Any]) -> tuple[str, Any]:
    from awslambdaric.bootstrap import StandardLogSink, handle_event_request

    client = RecordingRuntimeClient()
    handle_event_request(
        client,
        handler,
        "request-1",
        json.dumps(event).encode(),
        "application/json",
        None,
        None,
        "arn:aws:lambda:eu-west-1:123456789012:function:fastauthz",
        4_102_444_800_000,
        None,
        StandardLogSink(),
    )
    assert len(client.posted) == 1
    return client.posted[0]


def test_through_lambdas_own_runtime_loop_an_allow_is_a_result_and_a_refusal_the_unauthorized_error(
    load_handler: LoadHandler,
    served: KeyServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    module = load_handler(**env_for(served.url))
    kind, result = through_lambda_runtime(module.handler, connect_event(mint("rsa-1", live_claims())))
    assert kind == "result" and result["principalId"] == "user-1"
    kind, error = through_lambda_runtime(module.handler, connect_event("not-a-token"))
    # API Gateway turns exactly this error message into its 401.
    assert kind == "error" and error["errorMessage"] == "Unauthorized" and error["errorType"] == "Exception"
    # one frame to format and log: the function Lambda called (fastauthz.handler.handler, which is Authorizer.handle)
    assert len(error["stackTrace"]) == 1 and module.handler.__code__.co_filename in error["stackTrace"][0]


def test_a_refusal_leaves_the_handler_with_a_one_frame_traceback_and_no_chained_exception(
    load_handler: LoadHandler,
    served: KeyServer,
) -> None:
    module = load_handler(**env_for(served.url))
    with pytest.raises(Exception) as caught:
        module.handler(connect_event("not-a-token"), None)
    frames = traceback.extract_tb(caught.value.__traceback__)
    below_the_caller = frames[1:]  # frames[0] is this test's own call
    assert [(frame.name, frame.filename) for frame in below_the_caller] == [(module.handler.__name__, module.handler.__code__.co_filename)]
    assert caught.value.__context__ is None and caught.value.__cause__ is None
