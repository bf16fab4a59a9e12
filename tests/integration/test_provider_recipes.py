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
from testkit.authorizers import Logs, outcome
from testkit.events import connect_event
from testkit.keys import key, write_jwks
from testkit.tokens import mint

README = Path(__file__).resolve().parents[2] / "README.md"
NOW = int(time.time())
TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"


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
    field = "client_id" if provider == "Cognito, access tokens" else "aud"
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
    assert found["Keycloak"] == [("", True)] and found["Clerk"] == [("", True)]
    assert found["Google Sign-In"] == [("", True), ("https://www.googleapis.com/oauth2/v3/certs", False)]
    custom = load_settings(recipe("Auth0, custom domain")).issuers[0]
    assert (custom.issuer, custom.aliases) == ("https://login.example.com", ("https://login.example.com/",))
