"""README's provider recipes, each with tokens shaped like that provider's.

The configuration is read from the README's recipe row itself, so the documentation cannot drift
from what is tested. It goes through the real configuration code, which derives the key URL or plans
OIDC discovery exactly as in Lambda; only the key source is then swapped for a local file (this
machine reaches no provider), keeping every rule: issuer and its spellings, audience, token_use,
required claims. Each recipe must allow its provider's token and refuse the same token for another
audience (or, where the audience is not checked, another origin).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from fastauthz.authorizer import Authorizer
from fastauthz.config import load_settings
from fastauthz.dev.issuer import certificate_pem
from fastauthz.errors import ConfigError
from testkit.authorizers import Logs, outcome
from testkit.events import connect_event
from testkit.keys import key, write_jwks
from testkit.tokens import mint

README = Path(__file__).resolve().parents[2] / "README.md"
NOW = int(time.time())
TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
OTHER_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def recipe(provider: str) -> dict[str, str]:
    """The environment variables of the README row `| provider | ... |`."""
    row = next(line for line in README.read_text().splitlines() if line.startswith(f"| {provider} |"))
    return {name: value.strip("'") for name, value in re.findall(r"`([A-Z_]+)=([^`]*)`", row)}


def shaped(**claims: Any) -> dict[str, Any]:
    return {"iat": NOW - 10, "exp": NOW + 3600, "jti": "b3b1a6c0-2a5e-4d0a-9a7e-3c1f1b9d8e7f", **claims}


# provider: (the token's claims, as that provider issues them; the key that signs it)
TOKENS: dict[str, tuple[dict[str, Any], str]] = {
    "Cognito, access tokens": (
        shaped(
            sub="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
            iss="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123",
            client_id="3n4b5urk1ft4fl3mg5e62d9ado",
            token_use="access",
            scope="aws.cognito.signin.user.admin",
            auth_time=NOW - 10,
            username="ada",
            origin_jti="e7c1",
            event_id="d6a1",
        ),
        "rsa-1",
    ),
    "Cognito, ID tokens": (
        shaped(
            sub="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
            iss="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123",
            aud="3n4b5urk1ft4fl3mg5e62d9ado",
            token_use="id",
            auth_time=NOW - 10,
            email="ada@example.com",
            email_verified=True,
            **{"cognito:username": "ada", "cognito:groups": ["chat-users"]},
        ),
        "rsa-1",
    ),
    "Cognito, multi-Region pool": (
        shaped(
            sub="aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
            iss="https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123",
            client_id="3n4b5urk1ft4fl3mg5e62d9ado",
            token_use="access",
            scope="aws.cognito.signin.user.admin",
            auth_time=NOW - 10,
            username="ada",
        ),
        "rsa-1",
    ),
    "Auth0": (
        shaped(
            iss="https://acme.eu.auth0.com/",
            sub="auth0|64f1c2",
            aud=["https://chat.example.com/api", "https://acme.eu.auth0.com/userinfo"],
            azp="kq3Vn1",
            scope="openid profile chat:write",
        ),
        "rsa-1",
    ),
    "Auth0, custom domain": (
        shaped(iss="https://login.example.com/", sub="auth0|64f1c2", aud="https://chat.example.com/api", azp="kq3Vn1"),
        "rsa-1",
    ),
    "Firebase": (
        shaped(
            iss="https://securetoken.google.com/my-project",
            aud="my-project",
            auth_time=NOW - 60,
            user_id="Kq3Vn1",
            sub="Kq3Vn1",
            email="ada@example.com",
            firebase={"identities": {"email": ["ada@example.com"]}, "sign_in_provider": "password"},
        ),
        "rsa-1",
    ),
    "Okta": (
        shaped(
            ver=1,
            iss="https://acme.okta.com/oauth2/default",
            aud="api://default",
            cid="0oa1b2c3",
            uid="00u1b2c3",
            scp=["openid", "email"],
            auth_time=NOW - 60,
            sub="ada@example.com",
        ),
        "rsa-1",
    ),
    "Microsoft Entra ID (v2)": (
        shaped(
            aud="6cb04018-a3f5-46a7-b995-940c78f5aef3",
            iss=f"https://login.microsoftonline.com/{TENANT}/v2.0",
            nbf=NOW - 10,
            azp="6cb04018-a3f5-46a7-b995-940c78f5aef3",
            azpacr="0",
            name="Ada",
            oid="690222be",
            preferred_username="ada@example.com",
            scp="access_as_user",
            sub="AAAAAAAAAAAAAAAAAAAAAIkzqF",
            tid=TENANT,
            uti="fqiBqXLPj0eQa82S",
            ver="2.0",
        ),
        "rsa-1",
    ),
    "Microsoft Entra ID, multi-tenant": (
        shaped(
            aud="6cb04018-a3f5-46a7-b995-940c78f5aef3",
            iss=f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0",
            nbf=NOW - 10,
            azp="6cb04018-a3f5-46a7-b995-940c78f5aef3",
            name="Ada",
            oid="690222be",
            preferred_username="ada@contoso.com",
            scp="access_as_user",
            sub="AAAAAAAAAAAAAAAAAAAAAIkzqF",
            tid=OTHER_TENANT,
            ver="2.0",
        ),
        "rsa-1",
    ),
    "Keycloak": (
        shaped(
            iss="https://sso.example.com/realms/chat",
            aud=["chat-api", "account"],
            sub="f1e2d3c4",
            typ="Bearer",
            azp="chat-web",
            session_state="s1",
            acr="1",
            realm_access={"roles": ["offline_access"]},
            scope="openid email",
            sid="s1",
            email_verified=False,
            preferred_username="ada",
        ),
        "rsa-1",
    ),
    "Clerk": (shaped(azp="https://chat.example.com", iss="https://clerk.example.com", nbf=NOW - 10, sid="sess_2a", sub="user_2a"), "rsa-1"),
    "Supabase": (
        shaped(
            iss="https://abcdefghijklmnop.supabase.co/auth/v1",
            sub="f1e2d3c4-0000-4000-8000-000000000000",
            aud="authenticated",
            email="ada@example.com",
            phone="",
            app_metadata={"provider": "email"},
            user_metadata={},
            role="authenticated",
            aal="aal1",
            amr=[{"method": "password", "timestamp": NOW - 60}],
            session_id="9f8e",
            is_anonymous=False,
        ),
        "es256-1",
    ),
    "Google Sign-In": (
        shaped(
            iss="https://accounts.google.com",
            azp="1234567890-abc.apps.googleusercontent.com",
            aud="1234567890-abc.apps.googleusercontent.com",
            sub="110169484474386276334",
            email="ada@gmail.com",
            email_verified=True,
            at_hash="HK6E_P6Dh8Y93mRNtsDB1Q",
            nbf=NOW - 10,
        ),
        "rsa-1",
    ),
}


def authorizer_for(provider: str, tmp_path: Path) -> Authorizer:
    settings = load_settings(recipe(provider))
    for config in settings.issuers:
        assert config.jwks_uri or config.discovery, f"{provider}: neither a key URL nor discovery"
        assert not config.jwks_uri.startswith("http://")
    key_name = TOKENS[provider][1]
    if provider == "Firebase":  # Google's securetoken keys are an x509 certificate map
        source = tmp_path / "x509.json"
        source.write_text(json.dumps({key_name: certificate_pem(key(key_name))}))
        uri = f"file://{source}"
    else:
        uri = write_jwks(tmp_path, key_name)
    local = settings._replace(issuers=tuple(config.replace(jwks_uri=uri, discovery=False) for config in settings.issuers))
    return Authorizer(local, write=Logs().write)


@pytest.mark.parametrize("provider", sorted(TOKENS))
def test_a_providers_token_is_allowed_by_its_recipe(provider: str, tmp_path: Path) -> None:
    claims, key_name = TOKENS[provider]
    assert outcome(authorizer_for(provider, tmp_path), connect_event(mint(key_name, claims)))[0] == "allow"


@pytest.mark.parametrize("provider", sorted(TOKENS))
def test_the_same_token_for_someone_else_is_refused(provider: str, tmp_path: Path) -> None:
    claims, key_name = TOKENS[provider]
    authorizer = authorizer_for(provider, tmp_path)
    if provider == "Clerk":  # no aud: the origin in azp is what the recipe requires
        assert outcome(authorizer, connect_event(mint(key_name, {**claims, "azp": "https://evil.example"})))[0] == "deny"
        return
    field = "client_id" if provider.startswith("Cognito") and "ID tokens" not in provider else "aud"
    assert outcome(authorizer, connect_event(mint(key_name, {**claims, field: "someone-else"}))) == ("unauthorized", "bad_audience")


def test_google_issues_both_spellings_and_both_are_accepted(tmp_path: Path) -> None:
    claims, key_name = TOKENS["Google Sign-In"]
    authorizer = authorizer_for("Google Sign-In", tmp_path)
    for iss in ("https://accounts.google.com", "accounts.google.com"):
        assert outcome(authorizer, connect_event(mint(key_name, {**claims, "iss": iss})))[0] == "allow"


def test_cognito_recipes_keep_access_and_id_tokens_apart(tmp_path: Path) -> None:
    access, _ = TOKENS["Cognito, access tokens"]
    identity, _ = TOKENS["Cognito, ID tokens"]
    assert outcome(authorizer_for("Cognito, access tokens", tmp_path), connect_event(mint("rsa-1", identity))) == (
        "unauthorized",
        "bad_token_use",
    )
    assert outcome(authorizer_for("Cognito, ID tokens", tmp_path), connect_event(mint("rsa-1", access)))[1] in (
        "bad_audience",
        "bad_token_use",
    )


def test_how_each_recipe_finds_its_keys() -> None:
    """What the configuration code derives, and what it leaves to discovery (which the unit tests of
    providers.py and test_extension_points run against a real server)."""
    found = {provider: [(c.jwks_uri, c.discovery) for c in load_settings(recipe(provider)).issuers] for provider in TOKENS}
    assert found["Cognito, access tokens"] == [
        ("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123/.well-known/jwks.json", False)
    ]
    assert found["Auth0"] == [("https://acme.eu.auth0.com/.well-known/jwks.json", False)]
    assert found["Okta"] == [("https://acme.okta.com/oauth2/default/v1/keys", False)]
    assert found["Microsoft Entra ID (v2)"] == [("", True)]
    assert found["Microsoft Entra ID, multi-tenant"] == [("https://login.microsoftonline.com/common/discovery/v2.0/keys", False)]
    assert found["Cognito, multi-Region pool"] == [
        ("https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123/.well-known/jwks.json", False)
    ]
    assert found["Keycloak"] == [("", True)] and found["Clerk"] == [("", True)]
    assert found["Google Sign-In"] == [("", True), ("https://www.googleapis.com/oauth2/v3/certs", False)]
    custom = load_settings(recipe("Auth0, custom domain")).issuers[0]
    assert (custom.issuer, custom.aliases) == ("https://login.example.com", ("https://login.example.com/",))


@pytest.mark.parametrize(
    ("iss", "answer"),
    [
        ("https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123", "allow"),
        ("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123", "allow"),  # the original form, same pool
        ("https://cognito-idp.eu-central-1.amazonaws.com/eu-west-1_AbC123", "allow"),  # a configured replica Region
        ("https://cognito-idp.us-east-1.amazonaws.com/eu-west-1_AbC123", "bad_issuer"),  # a Region not configured
        ("https://issuer-cognito-idp.eu-central-1.amazonaws.com/eu-west-1_AbC123", "bad_issuer"),
        ("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other", "bad_issuer"),
    ],
)
def test_a_multi_region_cognito_pool_accepts_its_issuer_forms_and_no_other(iss: str, answer: str, tmp_path: Path) -> None:
    claims, key_name = TOKENS["Cognito, multi-Region pool"]
    decided = outcome(authorizer_for("Cognito, multi-Region pool", tmp_path), connect_event(mint(key_name, {**claims, "iss": iss})))
    assert (decided[0] if answer == "allow" else decided[1]) == answer


def test_a_cognito_pool_configured_by_either_form_or_its_key_url_accepts_both() -> None:
    original = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
    updated = "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"
    for env in ({"JWT_ISSUER": original}, {"JWT_ISSUER": updated}, {"JWT_ISSUER_JWKS_URI": original + "/.well-known/jwks.json"}):
        config = load_settings({**env, "JWT_AUTHORIZED_AUDIENCES": "x"}).issuers[0]
        assert set(config.accepted_issuers) == {original, updated}


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        (
            {"JWT_ISSUER": "https://sso.example.com/realms/chat", "JWT_COGNITO_REPLICA_REGIONS": "eu-central-1"},
            "JWT_COGNITO_REPLICA_REGIONS",
        ),
        (
            {"JWT_ISSUER": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_A", "JWT_COGNITO_REPLICA_REGIONS": "EU/1"},
            "JWT_COGNITO_REPLICA_REGIONS",
        ),
        ({"JWT_ISSUER": "https://login.microsoftonline.com/{tenantid}/v2.0"}, "JWT_TENANTS"),
        ({"JWT_ISSUER": "https://login.microsoftonline.com/{tenantid}/v2.0", "JWT_TENANTS": "a/b"}, "JWT_TENANTS"),
        ({"JWT_ISSUER": "https://sso.example.com", "JWT_TENANTS": TENANT}, "JWT_TENANTS"),
        ({"JWT_ISSUER": "https://sso.example.com/{tenantid}", "JWT_TENANTS": TENANT}, "JWT_ISSUER_JWKS_URI"),
        ({"JWT_ISSUER": "https://x/{tenantid}/{tenantid}", "JWT_TENANTS": TENANT, "JWT_ISSUER_JWKS_URI": "https://x/k"}, "JWT_ISSUER"),
    ],
)
def test_issuer_form_mistakes_stop_the_cold_start_naming_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({**env, "JWT_AUTHORIZED_AUDIENCES": "x"})
    assert raised.value.variable == variable


@pytest.mark.parametrize(
    ("changes", "answer"),
    [
        ({}, "allow"),
        ({"iss": f"https://login.microsoftonline.com/{TENANT}/v2.0", "tid": TENANT}, "allow"),  # the other listed tenant
        ({"tid": TENANT}, "bad_tenant"),  # a token whose tid is not the tenant of its iss
        ({"tid": None}, "bad_tenant"),
        ({"tid": [OTHER_TENANT]}, "bad_tenant"),
        ({"tid": 7}, "bad_tenant"),
        (
            {
                "iss": "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0",
                "tid": "11111111-2222-3333-4444-555555555555",
            },
            "bad_issuer",
        ),
        ({"iss": "https://login.microsoftonline.com/{tenantid}/v2.0"}, "bad_issuer"),  # the template is no issuer
        ({"iss": "https://login.microsoftonline.com/common/v2.0"}, "bad_issuer"),
    ],
)
def test_entra_multi_tenant_accepts_listed_tenants_whose_tid_matches(changes: dict[str, Any], answer: str, tmp_path: Path) -> None:
    claims, key_name = TOKENS["Microsoft Entra ID, multi-tenant"]
    payload = {k: v for k, v in {**claims, **changes}.items() if v is not None}
    decided = outcome(authorizer_for("Microsoft Entra ID, multi-tenant", tmp_path), connect_event(mint(key_name, payload)))
    assert (decided[0] if answer == "allow" else decided[1]) == answer


def test_entra_tenants_in_an_issuer_list_and_the_v1_issuer() -> None:
    issuers = json.dumps([{"issuer": "https://sts.windows.net/{tenantid}/", "tenants": [TENANT], "audiences": ["api://chat"]}])
    config = load_settings({"JWT_ISSUERS": issuers}).issuers[0]
    assert config.jwks_uri == "https://login.microsoftonline.com/common/discovery/keys"
    assert config.accepted_issuers == (f"https://sts.windows.net/{TENANT}/",)
