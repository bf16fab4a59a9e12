"""providers.py: what a provider's URLs imply (issuer <-> key URL), bare-host issuer spellings, and
OIDC discovery against a real server on 127.0.0.1."""

from __future__ import annotations

import pytest

from fastauthz.errors import KeySetError
from fastauthz.fetch import FetchError
from fastauthz.providers import GOOGLE_SECURETOKEN_KEYS, derive_issuer, discover_jwks_uri, issuer_aliases, key_url_for_issuer
from testkit.server import KeyServer

COGNITO = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123"


@pytest.mark.parametrize(
    ("issuer", "key_url"),
    [
        (COGNITO, COGNITO + "/.well-known/jwks.json"),
        ("https://acme.auth0.com/", "https://acme.auth0.com/.well-known/jwks.json"),
        ("https://acme.eu.auth0.com/", "https://acme.eu.auth0.com/.well-known/jwks.json"),
        ("https://securetoken.google.com/my-project", GOOGLE_SECURETOKEN_KEYS[0]),
        ("https://acme.okta.com/oauth2/default", "https://acme.okta.com/oauth2/default/v1/keys"),
        ("https://acme.okta.com/oauth2/aus1a2b3c", "https://acme.okta.com/oauth2/aus1a2b3c/v1/keys"),
        ("https://acme.okta.com", "https://acme.okta.com/oauth2/v1/keys"),
        # everything else is discovered, not guessed
        ("https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0", None),
        ("https://auth.example.com/realms/chat", None),
        ("https://login.example.com/", None),
        ("https://accounts.google.com", None),
        ("http://keys.example.com", None),
    ],
)
def test_the_key_url_a_providers_issuer_implies(issuer: str, key_url: str | None) -> None:
    assert key_url_for_issuer(issuer) == key_url


@pytest.mark.parametrize("issuer", [COGNITO, "https://acme.auth0.com/", "https://acme.okta.com/oauth2/default", "https://acme.okta.com"])
def test_issuer_and_key_url_derive_each_other_both_ways(issuer: str) -> None:
    key_url = key_url_for_issuer(issuer)
    assert key_url is not None and derive_issuer(key_url, frozenset({"client"})) == issuer


def test_a_bare_host_issuer_is_accepted_with_and_without_its_slash() -> None:
    assert derive_issuer("https://login.example.com/.well-known/jwks.json", frozenset()) == "https://login.example.com"
    assert issuer_aliases("https://login.example.com", "https://login.example.com/.well-known/jwks.json") == ("https://login.example.com/",)
    assert issuer_aliases("https://tenant.auth0.com/", "https://tenant.auth0.com/.well-known/jwks.json") == ("https://tenant.auth0.com",)
    assert issuer_aliases(COGNITO, COGNITO + "/.well-known/jwks.json") == ()  # a path: no other spelling


@pytest.fixture
def idp(key_server: KeyServer) -> KeyServer:
    key_server.serve_at("/.well-known/openid-configuration", {"issuer": key_server.base, "jwks_uri": key_server.base + "/keys"})
    return key_server


def test_discovery_finds_the_key_url(idp: KeyServer) -> None:
    assert discover_jwks_uri(idp.base, timeout=2) == idp.base + "/keys"


def test_discovery_refuses_a_document_for_another_issuer(idp: KeyServer) -> None:
    idp.serve_at("/.well-known/openid-configuration", {"issuer": "https://evil.example", "jwks_uri": idp.base + "/keys"})
    with pytest.raises(KeySetError, match="names issuer"):
        discover_jwks_uri(idp.base, timeout=2)


@pytest.mark.parametrize("document", [{"issuer": "X"}, [], b"not json", {"jwks_uri": "http://keys.example.com/jwks"}])
def test_discovery_refuses_unusable_documents(idp: KeyServer, document: object) -> None:
    if isinstance(document, dict) and document.get("issuer") == "X":
        document = {"issuer": idp.base}  # no jwks_uri
    elif isinstance(document, dict):
        document = {"issuer": idp.base, **document}  # plain http off this machine
    idp.serve_at("/.well-known/openid-configuration", document)
    with pytest.raises(KeySetError):
        discover_jwks_uri(idp.base, timeout=2)


def test_discovery_of_a_source_that_is_down_is_a_fetch_error(key_server: KeyServer) -> None:
    key_server.serve(b"down", status=503)
    with pytest.raises(FetchError):
        discover_jwks_uri(key_server.base, timeout=0.5, retries=0)
