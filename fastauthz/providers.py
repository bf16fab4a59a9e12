"""What a provider's URLs imply: the issuer of a key URL, the key URL of an issuer, and OIDC discovery.
Cold path (configuration, and discovery as part of the first key fetch).

Users know their issuer (`iss`), providers publish keys at a URL. Where a provider's convention makes
one follow from the other it is derived here; any other issuer is resolved by OIDC discovery
(`<issuer>/.well-known/openid-configuration`, whose `issuer` must equal the configured one exactly).

| provider | issuer | key URL |
| --- | --- | --- |
| Cognito | https://cognito-idp.<region>.amazonaws.com/<pool> (also issuer-cognito-idp.<region>, and replica Regions) | <issuer>/.well-known/jwks.json |
| Auth0 | https://<tenant>.auth0.com/ (trailing slash) | <issuer>.well-known/jwks.json |
| Firebase | https://securetoken.google.com/<project> | Google's securetoken x509 map |
| Okta | https://<org>.okta.com/oauth2/<server> | <issuer>/v1/keys |
| Okta org server | https://<org>.okta.com | <issuer>/oauth2/v1/keys |
| Entra ID multi-tenant | https://login.microsoftonline.com/{tenantid}/v2.0 (a template, with JWT_TENANTS) | the common key set |
| anything else | | discovered |
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import ConfigError, KeySetError
from .fetch import Fetched, FetchError, fetch_document, split_url
from .strictjson import loads

WELL_KNOWN_JWKS = "/.well-known/jwks.json"
WELL_KNOWN_OPENID = "/.well-known/openid-configuration"
GOOGLE_SECURETOKEN_KEYS = (
    "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com",
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com",
)
FIREBASE_ISSUER = "https://securetoken.google.com/"
OKTA_HOSTS = (".okta.com", ".oktapreview.com", ".okta-emea.com")
COGNITO_HOSTS = ("cognito-idp.", "issuer-cognito-idp.")
ENTRA_HOSTS = ("login.microsoftonline.com", "sts.windows.net")
TENANT_TEMPLATE = "/{tenantid}/"
ENTRA_COMMON_KEYS = (  # (v1.0, v2.0)
    "https://login.microsoftonline.com/common/discovery/keys",
    "https://login.microsoftonline.com/common/discovery/v2.0/keys",
)


def _host(url: str) -> str:
    """The host of an https URL (or of a loopback http one: the local stage, tests); else ""."""
    if url.startswith("https://"):
        return url[len("https://") :].split("/", 1)[0].lower()
    if url.startswith("http://") and is_loopback_url(url):
        return url[len("http://") :].split("/", 1)[0].lower()
    return ""


def derive_issuer(jwks_uri: str, audiences: frozenset[str]) -> str | None:
    """The `iss` a provider's JWKS URI implies, or None when that would be a guess."""
    if jwks_uri in GOOGLE_SECURETOKEN_KEYS:
        # Firebase: iss is https://securetoken.google.com/<project id>, and aud is the project id.
        return f"{FIREBASE_ISSUER}{next(iter(audiences))}" if len(audiences) == 1 else None
    host = _host(jwks_uri)
    if not host:
        return None
    if jwks_uri.endswith(WELL_KNOWN_JWKS):
        base = jwks_uri[: -len(WELL_KNOWN_JWKS)]
        # Auth0 tenants issue with a trailing slash: iss = https://<tenant>.auth0.com/
        return base + "/" if host.endswith(".auth0.com") and base.count("/") == 2 else base
    if host.endswith(OKTA_HOSTS) and jwks_uri.endswith("/v1/keys"):
        # Okta: https://<org>/oauth2/<server>/v1/keys -> .../oauth2/<server>; the org server's
        # https://<org>/oauth2/v1/keys -> https://<org>
        base = jwks_uri[: -len("/v1/keys")]
        return base[: -len("/oauth2")] if base.endswith("/oauth2") else base
    return None


def issuer_aliases(issuer: str, jwks_uri: str) -> tuple[str, ...]:
    """Other spellings of a derived issuer that mean the same: for a key URL at a bare host
    (https://host/.well-known/jwks.json) providers issue both https://host and https://host/
    (Auth0 custom domains, many OIDC servers)."""
    if not jwks_uri.endswith(WELL_KNOWN_JWKS) or jwks_uri[: -len(WELL_KNOWN_JWKS)].count("/") != 2:
        return ()
    other = issuer[:-1] if issuer.endswith("/") else issuer + "/"
    return (other,)


def key_url_for_issuer(issuer: str) -> str | None:
    """The key URL a known provider's issuer implies, or None (then: OIDC discovery)."""
    if issuer.startswith(FIREBASE_ISSUER) and len(issuer) > len(FIREBASE_ISSUER):
        return GOOGLE_SECURETOKEN_KEYS[0]
    host = _host(issuer)
    if not host or not issuer.startswith("https://"):
        return None
    path = issuer[len("https://") + len(host) :]
    if host.startswith(COGNITO_HOSTS) and host.endswith(".amazonaws.com") and path.count("/") == 1 and len(path) > 1:
        return issuer + WELL_KNOWN_JWKS
    if host in ENTRA_HOSTS and TENANT_TEMPLATE in path:
        # One key set for every tenant (Entra ID multi-tenant apps): v2.0 issuers, and v1.0's sts.windows.net.
        return ENTRA_COMMON_KEYS[path.endswith("/v2.0")]
    if host.endswith(".auth0.com") and path == "/":
        return issuer.rstrip("/") + WELL_KNOWN_JWKS
    if host.endswith(OKTA_HOSTS):
        if path.startswith("/oauth2/") and path.count("/") == 2:
            return issuer + "/v1/keys"
        if path in ("", "/"):
            return issuer.rstrip("/") + "/oauth2/v1/keys"
    return None


def cognito_issuers(issuer: str, replica_regions: tuple[str, ...], variable: str) -> tuple[str, ...]:
    """Every `iss` a Cognito user pool's tokens may carry, given one of them: the original
    (`cognito-idp.<region>`) and the updated (`issuer-cognito-idp.<region>`) form, and the original
    form in each replica Region of a multi-Region pool. () for an issuer that is not a pool's;
    ConfigError (naming `variable`) when replica Regions are given for one."""
    host = _host(issuer)
    path = issuer[len("https://") + len(host) :]
    region = host.split(".")[1] if host.startswith(COGNITO_HOSTS) and host.endswith(".amazonaws.com") and host.count(".") == 3 else ""
    if not region or not issuer.startswith("https://") or path.count("/") != 1 or not path[1:].startswith(region + "_"):
        if replica_regions:
            raise ConfigError(variable, f"replica Regions apply to a Cognito user pool's issuer, not {issuer!r}")
        return ()
    for replica in replica_regions:
        if not replica or not all(c.isascii() and (c.islower() or c.isdigit() or c == "-") for c in replica):
            raise ConfigError(variable, f"{replica!r} is not an AWS Region name")
    return (
        f"https://cognito-idp.{region}.amazonaws.com{path}",
        f"https://issuer-cognito-idp.{region}.amazonaws.com{path}",
        *(f"https://cognito-idp.{replica}.amazonaws.com{path}" for replica in replica_regions),
    )


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + WELL_KNOWN_OPENID


def discover_jwks_uri(issuer: str, timeout: float, retries: int = 2, fetch: Callable[[str, float, int], Fetched] = fetch_document) -> str:
    """OIDC discovery: the `jwks_uri` of `issuer`'s openid-configuration, whose `issuer` must equal
    ours exactly (OpenID Connect Discovery §4.3: a document claiming another issuer is a mix-up or
    an attack). Raises FetchError (the source) or KeySetError (the document)."""
    url = discovery_url(issuer)
    body = fetch(url, timeout, retries).body
    try:
        document = loads(body)
    except ValueError:
        raise KeySetError(f"{url} is not JSON") from None
    if not isinstance(document, dict):
        raise KeySetError(f"{url} is not a JSON object")
    if document.get("issuer") != issuer:
        raise KeySetError(f"{url} names issuer {str(document.get('issuer'))[:80]!r}, not {issuer!r}")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri:
        raise KeySetError(f"{url} has no jwks_uri")
    if not (jwks_uri.startswith("https://") or (jwks_uri.startswith("http://") and is_loopback_url(jwks_uri))):
        raise KeySetError(f"{url}: jwks_uri {jwks_uri[:80]!r} is not https")
    return jwks_uri


def is_loopback_url(uri: str) -> bool:
    """Whether an http(s) URL names this machine (127.0.0.0/8, ::1, localhost): the local stage,
    tests, a sidecar. Nothing crosses a network to reach it."""
    try:
        (_, host, _), _ = split_url(uri)
    except FetchError:
        return False
    host = host.lower().rstrip(".")
    if host in ("localhost", "::1") or host.endswith(".localhost"):
        return True
    octets = host.split(".")
    return len(octets) == 4 and octets[0] == "127" and all(o.isdigit() and int(o) < 256 for o in octets)
