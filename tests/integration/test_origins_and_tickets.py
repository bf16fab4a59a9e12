"""Browsers: the Origin allow-list (cross-site WebSocket hijacking) and short-lived query-string tickets,
through the Lambda entry point and the Authorizer with API Gateway-shaped events."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from fastauthz.config import load_settings
from fastauthz.errors import ConfigError
from testkit.authorizers import Clock, LoadHandler, Logs, make_authorizer, outcome, unauthorized
from testkit.events import connect_event
from testkit.keys import write_jwks
from testkit.tokens import AUDIENCE, ISSUER, NOW, claims, live_claims, mint, mint_hmac

APP = "https://app.example.com"


def from_page(event: dict[str, Any], origin: str | None) -> dict[str, Any]:
    """The event of a handshake a browser page at `origin` opened (None: not a browser)."""
    if origin is not None:
        event["headers"]["Origin"] = origin
        event["multiValueHeaders"]["Origin"] = [origin]
    return event


@pytest.fixture
def keys(tmp_path: Path) -> str:
    return write_jwks(tmp_path, "rsa-1", "es256-1")


def test_a_victims_cookie_sent_from_another_site_is_denied_through_the_handler(load_handler: LoadHandler, keys: str) -> None:
    module = load_handler(
        JWT_ISSUER_JWKS_URI=keys, JWT_ISSUER=ISSUER, JWT_AUTHORIZED_AUDIENCES=AUDIENCE, JWT_TOKEN_SOURCES="cookie,header",
        JWT_COOKIE_NAME="session", JWT_ALLOWED_ORIGINS=APP,
    )  # fmt: skip
    token = mint("rsa-1", live_claims())
    allowed = module.handler(from_page(connect_event(token, "cookie"), APP), None)
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    # The same cookie, now cached as allowed, from a page on another site: a Deny (403), not the cached Allow.
    hijack = module.handler(from_page(connect_event(token, "cookie"), "https://evil.example"), None)
    assert hijack["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert hijack["context"] == {"reason": "bad_origin"}
    assert hijack["principalId"] == "unauthorized"


def test_bad_origin_is_denied_in_both_refusal_modes_and_logged_and_counted(keys: str) -> None:
    for mode in ("unauthorized", "deny"):
        logs = Logs()
        authorizer = make_authorizer(keys, logs=logs, JWT_ALLOWED_ORIGINS=APP, FASTAUTHZ_REFUSE_WITH=mode, FASTAUTHZ_METRICS="true")
        result = authorizer.decide(from_page(connect_event(mint()), "https://evil.example"))
        assert result is not None and result["context"] == {"reason": "bad_origin"}
        line = next(record for record in logs if record.get("reason") == "bad_origin")
        assert line["message"] == "denied" and line["detail"] == "https://evil.example"
        assert authorizer.metrics.counts == {"KeyFetch": 1, "Deny": 1, "Rejected.bad_origin": 1}
        assert outcome(authorizer, from_page(connect_event(mint()), "https://evil.example")) == ("unauthorized", "bad_origin")


def test_clients_without_origin_pass_unless_an_origin_is_required(keys: str) -> None:
    assert outcome(make_authorizer(keys, JWT_ALLOWED_ORIGINS=APP), connect_event(mint()))[0] == "allow"
    strict = make_authorizer(keys, JWT_ALLOWED_ORIGINS=APP, JWT_REQUIRE_ORIGIN="true")
    assert outcome(strict, connect_event(mint())) == ("unauthorized", "bad_origin")
    assert outcome(strict, from_page(connect_event(mint()), APP))[0] == "allow"


def test_a_wildcard_allows_one_subdomain_level(keys: str) -> None:
    authorizer = make_authorizer(keys, JWT_ALLOWED_ORIGINS="https://*.example.com")
    assert outcome(authorizer, from_page(connect_event(mint()), "https://chat.example.com"))[0] == "allow"
    assert outcome(authorizer, from_page(connect_event(mint()), "https://a.chat.example.com")) == ("unauthorized", "bad_origin")


def test_the_origin_check_comes_before_the_token_so_a_page_without_one_is_still_denied(keys: str) -> None:
    authorizer = make_authorizer(keys, JWT_ALLOWED_ORIGINS=APP)
    assert outcome(authorizer, from_page(connect_event(None), "https://evil.example")) == ("unauthorized", "bad_origin")
    assert outcome(authorizer, from_page(connect_event(None), APP)) == ("unauthorized", "missing_token")


@pytest.mark.parametrize(
    ("env", "variable", "names"),
    [
        ({"JWT_COOKIE_NAME": "session"}, "JWT_ALLOWED_ORIGINS", ("JWT_TOKEN_SOURCES", "JWT_COOKIE_NAME")),
        ({"JWT_TOKEN_SOURCES": "cookie", "JWT_COOKIE_NAME": "s"}, "JWT_ALLOWED_ORIGINS", ("JWT_TOKEN_SOURCES",)),
        ({"JWT_ALLOWED_ORIGINS": "app.example.com"}, "JWT_ALLOWED_ORIGINS", ()),
        ({"JWT_REQUIRE_ORIGIN": "true"}, "JWT_REQUIRE_ORIGIN", ("JWT_ALLOWED_ORIGINS",)),
        ({"JWT_REQUIRE_ORIGIN": "true", "JWT_ALLOWED_ORIGINS": "*"}, "JWT_REQUIRE_ORIGIN", ()),
        ({"JWT_TOKEN_SOURCES": "header", "JWT_QUERY_TOKEN_MAX_AGE_SECONDS": "60"}, "JWT_QUERY_TOKEN_MAX_AGE_SECONDS", ()),
        ({"JWT_QUERY_TOKEN_MAX_AGE_SECONDS": "0"}, "JWT_QUERY_TOKEN_MAX_AGE_SECONDS", ()),
    ],
)
def test_configuration_mistakes_stop_the_cold_start_naming_the_variables(
    keys: str, env: dict[str, str], variable: str, names: tuple[str, ...]
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({"JWT_ISSUER_JWKS_URI": keys, "JWT_ISSUER": ISSUER, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE, **env})
    assert raised.value.variable == variable
    for name in names:
        assert name in str(raised.value)


def test_any_origin_is_an_explicit_choice_with_a_warning(keys: str) -> None:
    logs = Logs()
    authorizer = make_authorizer(keys, logs=logs, JWT_COOKIE_NAME="session", JWT_ALLOWED_ORIGINS="*")
    assert outcome(authorizer, from_page(connect_event(mint(), "cookie"), "https://evil.example"))[0] == "allow"
    assert any(record["level"] == "WARN" and "JWT_ALLOWED_ORIGINS=*" in record["message"] for record in logs)


# -- short-lived query-string tickets -------------------------------------------------------------------
def test_a_fresh_ticket_in_the_query_string_is_allowed_and_an_old_one_refused(keys: str) -> None:
    clock = Clock()
    authorizer = make_authorizer(keys, clock, JWT_QUERY_TOKEN_MAX_AGE_SECONDS="30", JWT_LEEWAY_SECONDS="0")
    ticket = mint("rsa-1", claims(iat=NOW - 10))
    assert outcome(authorizer, connect_event(ticket, "query"))[0] == "allow"
    clock.advance(25)  # 35 s old now: the cached Allow must not answer for it
    assert outcome(authorizer, connect_event(ticket, "query")) == ("unauthorized", "query_token_too_old")
    # The same token in a header is no ticket: its age is not limited, and it was not remembered as refused.
    assert outcome(authorizer, connect_event(ticket, "header"))[0] == "allow"


@pytest.mark.parametrize(
    ("iat", "reason"),
    [
        (None, "query_token_too_old"),
        ("1800000000", "bad_claim_type"),
        (True, "bad_claim_type"),
        ([NOW], "bad_claim_type"),
        (NOW - 3600, "query_token_too_old"),
    ],
)
def test_tickets_without_a_usable_iat_are_refused_cleanly(keys: str, iat: Any, reason: str) -> None:
    authorizer = make_authorizer(keys, JWT_QUERY_TOKEN_MAX_AGE_SECONDS="60")
    assert outcome(authorizer, connect_event(mint("rsa-1", claims(iat=iat)), "query")) == ("unauthorized", reason)


def test_a_malformed_ticket_is_refused_as_malformed(keys: str) -> None:
    authorizer = make_authorizer(keys, JWT_QUERY_TOKEN_MAX_AGE_SECONDS="60")
    for ticket in ("a.b", "a.!!.c", "é.é.é", "a." + "b" * 70000 + ".c"):
        assert outcome(authorizer, connect_event(ticket, "query")) == ("unauthorized", "malformed")


def test_a_ticket_through_the_handler(load_handler: LoadHandler, keys: str) -> None:
    module = load_handler(
        JWT_ISSUER_JWKS_URI=keys, JWT_ISSUER=ISSUER, JWT_AUTHORIZED_AUDIENCES=AUDIENCE, JWT_QUERY_TOKEN_MAX_AGE_SECONDS="60"
    )
    issued = int(time.time())  # the handler's own clock: a ticket minted now, not at the session's start
    assert module.handler(connect_event(mint("rsa-1", live_claims(iat=issued - 5)), "query"), None)["principalId"] == "user-1"
    unauthorized(module, connect_event(mint("rsa-1", live_claims(iat=issued - 600)), "query"))


def test_the_readme_ticket_recipe_a_socket_ticket_from_an_issuer_of_ones_own(load_handler: LoadHandler, keys: str) -> None:
    secret = "t" * 32
    issuers = [
        {"issuer": ISSUER, "jwks_uri": keys, "audiences": [AUDIENCE]},
        {"issuer": "https://tickets.example.com", "hmac_secret": secret, "audiences": ["chat-socket"], "algorithms": ["HS256"]},
    ]
    module = load_handler(JWT_ISSUERS=json.dumps(issuers), JWT_QUERY_TOKEN_MAX_AGE_SECONDS="60")
    now = int(time.time())
    ticket = {"iss": "https://tickets.example.com", "aud": "chat-socket", "sub": "user-9", "iat": now, "exp": now + 30}
    assert module.handler(connect_event(mint_hmac(secret, ticket), "query"), None)["principalId"] == "user-9"
    unauthorized(module, connect_event(mint_hmac(secret, {**ticket, "iat": now - 120, "exp": now + 30}), "query"))
    unauthorized(module, connect_event(mint_hmac("x" * 32, ticket), "query"))  # not the ticket issuer's secret
