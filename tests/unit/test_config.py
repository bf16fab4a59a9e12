from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from fastauthz.config import load_settings
from fastauthz.errors import ConfigError
from fastauthz.providers import derive_issuer
from fastauthz.settings import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS
from fastauthz.settings import NAMES as SETTING_NAMES
from testkit.authorizers import Logs
from testkit.tokens import AUDIENCE, ISSUER
from tools.readme import settings_markdown

BASE = {"JWT_ISSUER_JWKS_URI": "file:///keys.json", "JWT_ISSUER": ISSUER, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE}
SECRET = "s" * 32


ROOT = Path(__file__).resolve().parents[2]


def variable_of(env: dict[str, str | None]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings({k: v for k, v in env.items() if v is not None})
    assert caught.value.variable in str(caught.value)
    return caught.value.variable


def test_minimal_configuration_and_its_defaults() -> None:
    settings = load_settings(BASE)
    issuer = settings.issuers[0]
    assert issuer.issuer == ISSUER and issuer.audiences == {AUDIENCE}
    assert issuer.algorithms == set(ASYMMETRIC_ALGORITHMS)
    assert settings.verify_expiration and settings.token_sources == ("header", "query", "protocol")
    assert settings.leeway == 5 and settings.cache_size == 4096 and settings.log_level == "INFO"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"JWT_ISSUER_JWKS_URI": None, "JWT_ISSUER": None}, "JWT_ISSUER"),
        ({"JWT_ISSUER_JWKS_URI": None, "JWT_ISSUER": "my-issuer"}, "JWT_ISSUER"),  # nothing to discover from
        ({"JWT_ISSUER_JWKS_URI": "ftp://x"}, "JWT_ISSUER_JWKS_URI"),
        ({"JWT_AUTHORIZED_AUDIENCES": ""}, "JWT_AUTHORIZED_AUDIENCES"),
        ({"JWT_ISSUER": "", "JWT_ISSUER_JWKS_URI": "https://example.com/keys"}, "JWT_ISSUER"),
        ({"JWT_ALGORITHMS": "none"}, "JWT_ALGORITHMS"),
        ({"JWT_ALGORITHMS": "RS256,XX1"}, "JWT_ALGORITHMS"),
        ({"JWT_ALGORITHMS": "HS256"}, "JWT_ALGORITHMS"),
        ({"JWT_HMAC_SECRET": "short"}, "JWT_HMAC_SECRET"),
        ({"JWT_VERIFY_EXPIRATION": "maybe"}, "JWT_VERIFY_EXPIRATION"),
        ({"JWT_LEEWAY_SECONDS": "-1"}, "JWT_LEEWAY_SECONDS"),
        ({"JWT_LEEWAY_SECONDS": "ten"}, "JWT_LEEWAY_SECONDS"),
        ({"JWT_TOKEN_SOURCES": "header,smoke"}, "JWT_TOKEN_SOURCES"),
        ({"JWT_TOKEN_SOURCES": "cookie"}, "JWT_COOKIE_NAME"),
        ({"JWT_TOKEN_USE": "refresh"}, "JWT_TOKEN_USE"),
        ({"AUTHORIZED_APIS": "arn:aws:lambda:x"}, "AUTHORIZED_APIS"),
        ({"AUTHORIZED_APIS": "a/b"}, "AUTHORIZED_APIS"),
        ({"AUTHORIZED_APIS": "arn:aws:execute-api:us-east-1:123456789012:abc/prod/*/*"}, "AUTHORIZED_APIS"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"JWT_ISSUERS": "[]", "JWT_ISSUER_JWKS_URI": None, "JWT_ISSUER": None}, "JWT_ISSUERS"),
        ({"JWT_ISSUERS": "{not json", "JWT_ISSUER_JWKS_URI": None, "JWT_ISSUER": None}, "JWT_ISSUERS"),
        ({"JWT_ISSUERS": "/no/such/file.json", "JWT_ISSUER_JWKS_URI": None, "JWT_ISSUER": None}, "JWT_ISSUERS"),
    ],
)
def test_bad_configuration_names_the_variable(env: dict[str, Any], variable: str) -> None:
    assert variable_of({**BASE, **env}) == variable


def test_hmac_algorithms_are_enabled_only_by_an_explicit_secret() -> None:
    settings = load_settings({**BASE, "JWT_HMAC_SECRET": SECRET})
    assert set(HMAC_ALGORITHMS) <= settings.issuers[0].algorithms
    assert settings.issuers[0].hmac_secret == SECRET.encode()


def test_audience_check_off_must_be_explicit() -> None:
    settings = load_settings({**BASE, "JWT_AUTHORIZED_AUDIENCES": "", "JWT_VERIFY_AUDIENCE": "false"})
    assert not settings.issuers[0].verify_audience


def test_cookie_source_is_appended_by_default_when_a_cookie_name_is_set() -> None:
    assert (
        load_settings({**BASE, "JWT_COOKIE_NAME": "session", "JWT_ALLOWED_ORIGINS": "https://app.example.com"}).token_sources[-1]
        == "cookie"
    )


def test_lambda_log_level_wins_over_log_level() -> None:
    assert load_settings({**BASE, "LOG_LEVEL": "DEBUG", "AWS_LAMBDA_LOG_LEVEL": "ERROR"}).log_level == "ERROR"


@pytest.mark.parametrize(
    ("uri", "audiences", "issuer"),
    [
        (
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123/.well-known/jwks.json",
            {"x"},
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123",
        ),
        ("https://login.example.com/realms/main/.well-known/jwks.json", {"x"}, "https://login.example.com/realms/main"),
        ("https://tenant.eu.auth0.com/.well-known/jwks.json", {"x"}, "https://tenant.eu.auth0.com/"),
        ("https://dev-1.okta.com/oauth2/default/v1/keys", {"x"}, "https://dev-1.okta.com/oauth2/default"),
        (
            "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com",
            {"my-proj"},
            "https://securetoken.google.com/my-proj",
        ),
        ("https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com", {"a", "b"}, None),
        ("https://example.com/keys", {"x"}, None),
        ("file:///var/task/jwks.json", {"x"}, None),
        ("http://insecure.example/.well-known/jwks.json", {"x"}, None),
    ],
)
def test_issuer_is_derived_only_where_the_provider_makes_it_unambiguous(uri: str, audiences: set[str], issuer: str | None) -> None:
    assert derive_issuer(uri, frozenset(audiences)) == issuer


def test_derived_issuer_is_reported_for_the_cold_start_log() -> None:
    settings = load_settings(
        {**BASE, "JWT_ISSUER": "", "JWT_ISSUER_JWKS_URI": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X/.well-known/jwks.json"}
    )
    assert settings.issuers[0].issuer == "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X"
    assert "derived issuer" in settings.notes[0]


def test_several_issuers_inline_with_single_issuer_variables_as_defaults() -> None:
    issuers = [
        {"issuer": "https://a.test", "jwks_uri": "file:///a.json"},
        {"issuer": "https://b.test", "jwks_uri": "https://b.test/keys", "audiences": ["b1", "b2"], "token_use": "access"},
    ]
    settings = load_settings({"JWT_ISSUERS": json.dumps(issuers), "JWT_AUTHORIZED_AUDIENCES": "shared"})
    a, b = settings.issuers
    assert a.audiences == {"shared"} and b.audiences == {"b1", "b2"} and b.token_use == frozenset({"access"})


def test_several_issuers_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "issuers.json"
    path.write_text(json.dumps({"issuers": [{"issuer": "https://a.test", "jwks_uri": "file:///a.json", "audiences": "x"}]}))
    assert load_settings({"JWT_ISSUERS": f"file://{path}"}).issuers[0].issuer == "https://a.test"


def test_issuer_list_errors_name_the_entry_and_field() -> None:
    entries = json.dumps([{"issuer": "https://a.test", "jwks_uri": "file:///a", "audiences": "x", "algorithms": ["none"]}])
    assert variable_of({"JWT_ISSUERS": entries}) == "JWT_ISSUERS[0].algorithms"
    typo = json.dumps([{"issuer": "https://a.test", "jwks_url": "file:///a"}])
    assert variable_of({"JWT_ISSUERS": typo}) == "JWT_ISSUERS[0]"
    twice = json.dumps([{"issuer": "https://a.test", "jwks_uri": "file:///a", "audiences": "x"}] * 2)
    assert variable_of({"JWT_ISSUERS": twice}) == "JWT_ISSUERS"


def test_issuer_list_and_single_issuer_variables_are_exclusive() -> None:
    assert variable_of({**BASE, "JWT_ISSUERS": "[]"}) == "JWT_ISSUER_JWKS_URI"


def test_every_variable_read_by_the_lambda_package_is_declared_in_config() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "fastauthz").glob("*.py"))  # dev/ tooling is not the handler
    read = set(re.findall(r'\.(?:raw|value|is_set)\("([A-Z_]+)"', source))
    assert read <= SETTING_NAMES and len(read) > 25
    assert "os.environ[" not in source and "getenv(" not in source


def test_readme_table_matches_the_settings_declared_in_config() -> None:
    readme = (ROOT / "README.md").read_text()
    assert settings_markdown() in readme, "regenerate: make readme"


@pytest.mark.parametrize("uri", ["http://keys.example.com/jwks.json", "http://10.0.0.5/jwks.json", "http://127.evil.example/jwks.json"])
def test_plain_http_keys_off_this_machine_stop_the_cold_start(uri: str) -> None:
    with pytest.raises(ConfigError, match="plain http") as raised:
        load_settings({"JWT_ISSUER_JWKS_URI": uri, "JWT_ISSUER": ISSUER, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE})
    assert raised.value.variable == "JWT_ISSUER_JWKS_URI"
    issuers = json.dumps([{"issuer": ISSUER, "jwks_uri": uri}])
    with pytest.raises(ConfigError, match="plain http") as raised:
        load_settings({"JWT_ISSUERS": issuers, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE})
    assert raised.value.variable == "JWT_ISSUERS[0].jwks_uri"


@pytest.mark.parametrize(
    "uri",
    ["http://127.0.0.1:8766/jwks.json", "http://localhost/jwks.json", "http://[::1]:80/k", "http://127.1.2.3/k", "http://api.localhost/k"],
)
def test_plain_http_keys_on_loopback_are_accepted_quietly(uri: str) -> None:
    settings = load_settings({"JWT_ISSUER_JWKS_URI": uri, "JWT_ISSUER": ISSUER, "JWT_AUTHORIZED_AUDIENCES": AUDIENCE})
    assert settings.warnings == ()


def test_plain_http_keys_on_a_private_network_need_the_explicit_escape_and_are_warned_of() -> None:
    from fastauthz.authorizer import Authorizer

    settings = load_settings(
        {
            "JWT_ISSUER_JWKS_URI": "http://keys.internal/jwks.json",
            "JWT_ISSUER": ISSUER,
            "JWT_AUTHORIZED_AUDIENCES": AUDIENCE,
            "JWT_ALLOW_INSECURE_HTTP": "true",
        }
    )
    assert len(settings.warnings) == 1 and "plain http" in settings.warnings[0]
    logs = Logs()
    Authorizer(settings, write=logs.write, load_keys=False)
    assert [line["message"] for line in logs if line["level"] == "WARN"] == [settings.warnings[0]]


def test_each_default_is_written_once_in_its_settings_row() -> None:
    """Settings has no defaults of its own and KeyStore takes the rows' (a default written twice drifts)."""
    import inspect

    from fastauthz.config import Settings
    from fastauthz.keystore import KeyTiming
    from fastauthz.settings import VARIABLES, default

    for row in VARIABLES:
        default(row.name)  # every row's default passes its own parser
    assert Settings._field_defaults == {}
    parameters = inspect.signature(KeyTiming).parameters
    assert parameters["max_stale"].default == default("JWT_JWKS_MAX_STALE_SECONDS") == 86400
    assert parameters["cooldown"].default == default("JWT_JWKS_COOLDOWN_SECONDS") == 30
    assert parameters["timeout"].default == default("JWT_JWKS_TIMEOUT_SECONDS") == 2
    assert parameters["ttl"].default is default("JWT_JWKS_TTL_SECONDS") is None
