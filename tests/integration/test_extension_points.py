"""#13's extension points through the real entry point, fastauthz.handler.handler(event, context),
configured from the environment, keys from a file: required claims, the authorization hook, Deny
mode and the library API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fastauthz.errors import ConfigError, KeysUnavailable
from testkit.authorizers import LoadHandler, unauthorized
from testkit.events import connect_event
from testkit.keys import jwks, write_jwks
from testkit.server import KeyServer
from testkit.tokens import AUDIENCE, ISSUER, LIVE, live_claims, mint
from tests import hooks


@pytest.fixture
def load_handler(load_handler: LoadHandler, tmp_path: Path) -> LoadHandler:
    """conftest's, with the test issuer's keys in a file unless the test says otherwise."""
    uri = write_jwks(tmp_path, "rsa-1")
    return lambda **env: load_handler(**{"JWT_ISSUER_JWKS_URI": uri, "JWT_ISSUER": ISSUER, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE, **env})


def effect(result: dict[str, Any]) -> str:
    return str(result["policyDocument"]["Statement"][0]["Effect"])


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


# -- configuration ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        *(("JWT_REQUIRED_CLAIMS", raw) for raw in ("[1]", '{"groups": {"a": 1}}', '{"groups": []}', "not json")),
        # a hook that cannot be loaded: no module, no attribute, not a function, not module:function
        *(("FASTAUTHZ_AUTHORIZE", spec) for spec in ("tests.nope:hook", "tests.hooks:missing", "tests.hooks:NOT_A_FUNCTION", "no-colon")),
        ("FASTAUTHZ_REFUSE_WITH", "403"),
        ("FASTAUTHZ_AUTHORIZE_CACHE_SECONDS", "-1"),
    ],
)
def test_a_bad_setting_stops_the_cold_start_naming_the_variable(load_handler: LoadHandler, variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_handler(**{variable: value})
    assert raised.value.variable == variable


# -- required claims ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("required", "token_claims", "expected"),
    [
        ('{"cognito:groups": "chat-users"}', {"cognito:groups": ["admins", "chat-users"]}, "Allow"),
        ('{"cognito:groups": "chat-users"}', {"cognito:groups": ["admins"]}, "Deny"),
        ('{"cognito:groups": "chat-users"}', {}, "Deny"),
        ('{"tier": ["gold", "platinum"]}', {"tier": "gold"}, "Allow"),
        ('{"tier": ["gold", "platinum"]}', {"tier": "silver"}, "Deny"),
        ('{"email_verified": true}', {"email_verified": True}, "Allow"),
        ('{"email_verified": true}', {"email_verified": "true"}, "Deny"),  # types must match
        ('{"org": 7, "tier": "gold"}', {"org": 7, "tier": "gold"}, "Allow"),
        ('{"org": 7, "tier": "gold"}', {"org": 7}, "Deny"),  # every claim must hold
    ],
)
def test_required_claims(
    load_handler: LoadHandler, capsys: pytest.CaptureFixture[str], required: str, token_claims: dict[str, Any], expected: str
) -> None:
    module = load_handler(JWT_REQUIRED_CLAIMS=required)
    result = module.handler(connect_event(mint("rsa-1", live_claims(**token_claims))), None)
    assert effect(result) == expected
    if expected == "Deny":
        denied = [line for line in log_lines(capsys) if line.get("message") == "denied"]
        assert denied[-1]["reason"] == "insufficient_claims" and denied[-1]["token"]


def test_required_claims_per_issuer_in_the_issuer_list(load_handler: LoadHandler, tmp_path: Path) -> None:
    issuers = json.dumps([{"issuer": ISSUER, "jwks_uri": write_jwks(tmp_path, "rsa-1"), "required_claims": {"tier": "gold"}}])
    module = load_handler(JWT_ISSUER_JWKS_URI="", JWT_ISSUER="", JWT_ISSUERS=issuers)
    assert effect(module.handler(connect_event(mint("rsa-1", live_claims(tier="gold"))), None)) == "Allow"
    assert effect(module.handler(connect_event(mint("rsa-1", live_claims(tier="lead"))), None)) == "Deny"


# -- the authorization hook -----------------------------------------------------------------------
def test_a_hook_denies_a_group_and_allows_its_members(load_handler: LoadHandler, capsys: pytest.CaptureFixture[str]) -> None:
    module = load_handler(FASTAUTHZ_AUTHORIZE="tests.hooks:chat_users_only")
    assert effect(module.handler(connect_event(mint("rsa-1", live_claims(**{"cognito:groups": ["chat-users"]}))), None)) == "Allow"
    assert effect(module.handler(connect_event(mint("rsa-1", live_claims(**{"cognito:groups": ["guests"]}))), None)) == "Deny"
    assert [line["reason"] for line in log_lines(capsys) if line.get("message") == "denied"] == ["denied_by_hook"]


def test_a_hooks_dict_allows_with_extra_context(load_handler: LoadHandler) -> None:
    module = load_handler(FASTAUTHZ_AUTHORIZE="tests.hooks:tenant_context")
    result = module.handler(connect_event(mint("rsa-1", live_claims(tenant="acme"))), None)
    assert effect(result) == "Allow"
    assert result["context"]["tenant"] == "acme" and result["context"]["premium"] is True
    assert result["context"]["stage"] == "production" and result["context"]["exp"]


def test_usage_identifier_key_from_a_claim_in_allows_only(load_handler: LoadHandler) -> None:
    module = load_handler(FASTAUTHZ_USAGE_IDENTIFIER_CLAIM="api_key", JWT_REQUIRED_SCOPES="chat:write")
    token = mint("rsa-1", live_claims(api_key="k-123"))
    result = module.handler(connect_event(token), None)
    assert effect(result) == "Allow" and result["usageIdentifierKey"] == "k-123"
    # From the cache, for another API of the same authorizer: the key stays.
    other = connect_event(token, method_arn="arn:aws:execute-api:us-east-1:123456789012:zzzzzzzzzz/prod/$connect")
    assert module.handler(other, None)["usageIdentifierKey"] == "k-123"
    denied = module.handler(connect_event(mint("rsa-1", live_claims(api_key="k-123", scope="chat:read"))), None)
    assert effect(denied) == "Deny" and "usageIdentifierKey" not in denied
    for missing in (live_claims(), live_claims(api_key=7), live_claims(api_key="")):
        assert "usageIdentifierKey" not in module.handler(connect_event(mint("rsa-1", missing)), None)


def test_usage_identifier_key_from_the_hooks_answer(load_handler: LoadHandler) -> None:
    module = load_handler(FASTAUTHZ_AUTHORIZE="tests.hooks:plan_key", FASTAUTHZ_USAGE_IDENTIFIER_CLAIM="api_key")
    result = module.handler(connect_event(mint("rsa-1", live_claims(plan="pro", api_key="from-claim"))), None)
    assert result["usageIdentifierKey"] == "key-for-pro"  # the hook's answer wins over the claim
    assert result["context"]["plan"] == "pro" and "usageIdentifierKey" not in result["context"]
    broken = load_handler(FASTAUTHZ_AUTHORIZE="tests.hooks:plan_key_of_the_wrong_type")
    unauthorized(broken, connect_event(mint("rsa-1", live_claims())))


def test_a_hook_raising_unauthorized_refuses_with_a_401(
    load_handler: LoadHandler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    revoked = tmp_path / "revoked.json"
    revoked.write_text(json.dumps(["s-2"]))
    monkeypatch.setenv("REVOKED_FILE", str(revoked))
    module = load_handler(FASTAUTHZ_AUTHORIZE="tests.hooks:revoked_sessions")
    assert effect(module.handler(connect_event(mint("rsa-1", live_claims(sid="s-1"))), None)) == "Allow"
    unauthorized(module, connect_event(mint("rsa-1", live_claims(sid="s-2"))))
    line = [line for line in log_lines(capsys) if line.get("message") == "unauthorized"][-1]
    assert line["reason"] == "hook_unauthorized" and line["detail"] == "session revoked"


@pytest.mark.parametrize("hook", ["tests.hooks:broken", "tests.hooks:odd_answer"])
def test_a_failing_hook_fails_closed_loudly_without_the_token(
    load_handler: LoadHandler, capsys: pytest.CaptureFixture[str], hook: str
) -> None:
    module = load_handler(FASTAUTHZ_AUTHORIZE=hook)
    token = mint("rsa-1", live_claims())
    unauthorized(module, connect_event(token))
    lines = log_lines(capsys)
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert errors and errors[-1]["reason"] == "hook_error"
    assert "KeyError" in errors[-1]["error"] or "dict" in errors[-1]["error"]
    assert [line["reason"] for line in lines if line.get("message") == "unauthorized"] == ["hook_error"]
    assert token not in json.dumps(lines)


def test_the_hook_is_asked_on_every_event_unless_declared_to_read_only_the_claims(load_handler: LoadHandler) -> None:
    token = mint("rsa-1", live_claims())
    hooks.CALLS["count"] = 0
    module = load_handler(FASTAUTHZ_AUTHORIZE="tests.hooks:counting")
    for _ in range(3):
        assert effect(module.handler(connect_event(token), None)) == "Allow"
    assert hooks.CALLS["count"] == 3  # the default: it may read the event, so every event asks it
    hooks.CALLS["count"] = 0
    module = load_handler(FASTAUTHZ_AUTHORIZE="tests.hooks:counting", FASTAUTHZ_AUTHORIZE_READS="claims")
    for _ in range(3):
        module.handler(connect_event(token), None)
    assert hooks.CALLS["count"] == 1  # declared to read the claims alone: cached with the token
    hooks.CALLS["count"] = 0
    module = load_handler(
        FASTAUTHZ_AUTHORIZE="tests.hooks:counting", FASTAUTHZ_AUTHORIZE_READS="claims", FASTAUTHZ_AUTHORIZE_CACHE_SECONDS="0"
    )
    for _ in range(3):
        assert effect(module.handler(connect_event(token), None)) == "Allow"
    assert hooks.CALLS["count"] == 3  # every connect: a revocation list takes effect at once


def test_a_hook_runs_after_the_built_in_rules_pass(load_handler: LoadHandler) -> None:
    hooks.CALLS["count"] = 0
    module = load_handler(FASTAUTHZ_AUTHORIZE="tests.hooks:counting", JWT_REQUIRED_SCOPES="chat:admin")
    assert effect(module.handler(connect_event(mint("rsa-1", live_claims())), None)) == "Deny"
    unauthorized(module, connect_event(mint("rsa-1", live_claims(exp=LIVE - 100))))
    assert hooks.CALLS["count"] == 0


# -- Deny mode --------------------------------------------------------------------------------------
def test_deny_mode_answers_every_refusal_with_a_deny_and_its_reason(load_handler: LoadHandler, capsys: pytest.CaptureFixture[str]) -> None:
    module = load_handler(FASTAUTHZ_REFUSE_WITH="deny")
    event = connect_event(mint("rsa-1", live_claims(exp=LIVE - 100)))
    result = module.handler(event, None)
    assert result["principalId"] == "unauthorized" and result["context"] == {"reason": "expired"}
    assert result["policyDocument"]["Statement"][0] == {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": [event["methodArn"]]}
    assert module.handler(connect_event(None), None)["context"] == {"reason": "missing_token"}
    assert module.handler(event, None)["context"] == {"reason": "expired"}  # a replay, from the rejected-token cache
    lines = [line for line in log_lines(capsys) if line.get("message") == "unauthorized"]
    assert [line["reason"] for line in lines] == ["expired", "missing_token", "expired"]  # the same log lines as in 401 mode


def test_deny_mode_denies_everything_when_the_method_arn_is_unusable(load_handler: LoadHandler) -> None:
    module = load_handler(FASTAUTHZ_REFUSE_WITH="deny")
    event = connect_event(mint("rsa-1", live_claims()))
    event["methodArn"] = "not-an-arn"
    result = module.handler(event, None)
    assert result["policyDocument"]["Statement"][0]["Resource"] == ["*"] and effect(result) == "Deny"


def test_deny_mode_still_fails_closed_with_a_500_when_keys_are_unavailable(load_handler: LoadHandler) -> None:
    server = KeyServer()
    url = server.url
    server.close()
    module = load_handler(FASTAUTHZ_REFUSE_WITH="deny", JWT_ISSUER_JWKS_URI=url, JWT_JWKS_TIMEOUT_SECONDS="0.5")
    with pytest.raises(KeysUnavailable):
        module.handler(connect_event(mint("rsa-1", live_claims())), None)


# -- the library API --------------------------------------------------------------------------------
def test_the_library_verifies_a_token_on_the_handlers_configuration(tmp_path: Path) -> None:
    from fastauthz import Authorizer, Rejected

    environ = {
        "JWT_ISSUER_JWKS_URI": write_jwks(tmp_path, "rsa-1"),
        "JWT_ISSUER": ISSUER,
        "JWT_AUTHORIZED_AUDIENCES": AUDIENCE,
        "JWT_REQUIRED_CLAIMS": '{"tier": "gold"}',
        "LOG_LEVEL": "ERROR",
    }
    authorizer = Authorizer.from_env(environ)
    token = mint("rsa-1", live_claims(tier="gold"))
    claims_seen = authorizer.verify(token)
    assert claims_seen["sub"] == "user-1" and claims_seen["tier"] == "gold"
    claims_seen["sub"] = "changed"  # a copy: the cache is not the caller's to change
    assert authorizer.verify(token)["sub"] == "user-1"
    decided = authorizer.decide(connect_event(token))
    assert decided is not None and decided["principalId"] == "user-1"
    for bad, reason in (
        (mint("rsa-1", live_claims(exp=LIVE - 100)), "expired"),
        (mint("rsa-1", live_claims(tier="lead")), "insufficient_claims"),
        (token[:-4] + "AAAA", "bad_signature"),
        ("x.y", "malformed"),
        (None, "malformed"),
        ("", "missing_token"),
        ("  ", "missing_token"),
    ):
        with pytest.raises(Rejected) as raised:
            authorizer.verify(bad)  # type: ignore[arg-type]
        assert raised.value.reason == reason


def test_the_public_surface_is_pinned() -> None:
    import fastauthz

    assert sorted(fastauthz.__all__) == ["Authorizer", "ConfigError", "KeysUnavailable", "Rejected", "Unauthorized", "__version__"]
    for name in fastauthz.__all__:
        assert getattr(fastauthz, name) is not None
    with pytest.raises(AttributeError):
        fastauthz.nothing_here
    assert (Path(fastauthz.__file__).parent / "py.typed").exists()


# -- issuer-only setup and bare-host issuers --------------------------------------------------------
@pytest.fixture
def idp(key_server: KeyServer) -> KeyServer:
    """An OIDC provider on 127.0.0.1: discovery document and keys at paths of their own."""
    key_server.serve(b"not here", status=404)
    key_server.serve_at("/.well-known/openid-configuration", {"issuer": key_server.base, "jwks_uri": key_server.base + "/oauth/keys"})
    key_server.serve_at("/oauth/keys", jwks("rsa-1"))
    return key_server


def test_the_issuer_alone_is_enough_its_keys_are_discovered(
    load_handler: LoadHandler, idp: KeyServer, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_handler(JWT_ISSUER=idp.base, JWT_ISSUER_JWKS_URI="")
    assert effect(module.handler(connect_event(mint("rsa-1", live_claims(iss=idp.base))), None)) == "Allow"
    lines = log_lines(capsys)
    assert any(line.get("message") == "key URL discovered" and line["jwks_uri"] == idp.base + "/oauth/keys" for line in lines)
    unauthorized(module, connect_event(mint("rsa-1", live_claims(iss=idp.base + "/"))))  # a configured issuer is exact


def test_an_issuer_list_entry_without_a_key_url_is_discovered_too(load_handler: LoadHandler, idp: KeyServer) -> None:
    issuers = json.dumps([{"issuer": idp.base}])
    module = load_handler(JWT_ISSUER_JWKS_URI="", JWT_ISSUER="", JWT_ISSUERS=issuers)
    assert effect(module.handler(connect_event(mint("rsa-1", live_claims(iss=idp.base))), None)) == "Allow"


def test_a_discovery_document_naming_another_issuer_fails_closed(load_handler: LoadHandler, idp: KeyServer) -> None:
    idp.serve_at("/.well-known/openid-configuration", {"issuer": "https://evil.example", "jwks_uri": idp.base + "/oauth/keys"})
    module = load_handler(JWT_ISSUER=idp.base, JWT_ISSUER_JWKS_URI="", JWT_JWKS_TIMEOUT_SECONDS="0.5")
    with pytest.raises(KeysUnavailable):
        module.handler(connect_event(mint("rsa-1", live_claims(iss=idp.base))), None)


def test_a_bare_host_issuer_is_accepted_with_and_without_its_trailing_slash(load_handler: LoadHandler, key_server: KeyServer) -> None:
    key_server.serve(jwks("rsa-1"))
    module = load_handler(JWT_ISSUER="", JWT_ISSUER_JWKS_URI=key_server.url)  # https://host/.well-known/jwks.json shape
    for iss in (key_server.base, key_server.base + "/"):
        assert effect(module.handler(connect_event(mint("rsa-1", live_claims(iss=iss))), None)) == "Allow"
    unauthorized(module, connect_event(mint("rsa-1", live_claims(iss=key_server.base + "//"))))


# -- library logging (#34) ---------------------------------------------------------------------------
def library_environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"JWT_ISSUER_JWKS_URI": write_jwks(tmp_path, "rsa-1"), "JWT_ISSUER": ISSUER, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE, **extra}


def test_outside_lambda_the_library_logs_through_the_fastauthz_logger(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    from fastauthz import Authorizer

    with caplog.at_level(logging.INFO, logger="fastauthz"):
        authorizer = Authorizer.from_env(library_environ(tmp_path, JWT_REQUIRED_SCOPE="chat", FASTAUTHZ_METRICS="false"))
        assert authorizer.decide(connect_event(mint("rsa-1", live_claims(exp=LIVE - 100)))) is None
    records = [(record.levelno, json.loads(record.getMessage())) for record in caplog.records if record.name == "fastauthz"]
    assert any(level == logging.WARNING and "JWT_REQUIRED_SCOPES" in line["message"] for level, line in records), records
    assert any(level == logging.INFO and line.get("reason") == "expired" for level, line in records), records
    assert capsys.readouterr().out == ""  # nothing on stdout: a server's own output is its own


def test_a_caller_may_pass_its_own_logger_and_in_lambda_the_lines_stay_on_stdout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    from fastauthz import Authorizer

    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    mine = logging.getLogger("my-server.auth")
    mine.addHandler(Collect())
    mine.setLevel(logging.INFO)
    refused = connect_event(mint("rsa-1", live_claims(exp=LIVE - 100)))
    Authorizer.from_env(library_environ(tmp_path, FASTAUTHZ_METRICS="false"), logger=mine).decide(refused)
    assert any(json.loads(line).get("reason") == "expired" for line in seen)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "authorizer")
    Authorizer.from_env(library_environ(tmp_path, FASTAUTHZ_METRICS="false")).decide(refused)
    assert any(json.loads(line).get("reason") == "expired" for line in capsys.readouterr().out.splitlines() if line.startswith("{"))
