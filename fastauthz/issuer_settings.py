"""The trusted issuers, from JWT_ISSUERS or the single-issuer variables: one IssuerConfig each. Cold path.

The single-issuer variables (JWT_AUTHORIZED_AUDIENCES, JWT_ALGORITHMS, ...) are the defaults of every
entry of JWT_ISSUERS; a bad value raises ConfigError naming what the user wrote: the variable, or
`JWT_ISSUERS[i].field`. Key URLs are derived or discovered here (providers.py, loaded only then).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .settings import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, MIN_HMAC_SECRET_BYTES, Environment, parse_bool, split_csv, split_scopes
from .strictjson import loads

if TYPE_CHECKING:
    from .rules import RequiredClaims

ISSUER_FIELDS = frozenset(
    {
        "issuer",
        "jwks_uri",
        "jwks_snapshot",
        "audiences",
        "verify_audience",
        "algorithms",
        "token_use",
        "required_scopes",
        "required_claims",
        "hmac_secret",
        "tenants",
        "cognito_replica_regions",
    }
)
TENANT_PLACEHOLDER = "{tenantid}"
COGNITO_ISSUER_PREFIXES = ("https://cognito-idp.", "https://issuer-cognito-idp.")


class IssuerConfig:
    """One issuer's configuration. A slotted class, not a NamedTuple: a NamedTuple class costs ~0.7 M
    instructions to create at every cold start (make bench-check)."""

    __slots__ = (
        "algorithms",
        "aliases",
        "audiences",
        "discovery",
        "hmac_secret",
        "issuer",
        "jwks_snapshot",
        "jwks_uri",
        "required_claims",
        "required_scopes",
        "tenants",
        "token_use",
        "verify_audience",
    )

    def __init__(
        self,
        *,
        issuer: str,
        jwks_uri: str,
        audiences: frozenset[str],
        verify_audience: bool,
        algorithms: frozenset[str],
        token_use: frozenset[str] | None,
        required_scopes: frozenset[str],
        hmac_secret: bytes | None = None,
        jwks_snapshot: str = "",
        required_claims: RequiredClaims | None = None,
        aliases: tuple[str, ...] = (),
        discovery: bool = False,
        tenants: tuple[str, ...] = (),
    ) -> None:
        self.issuer = issuer
        self.jwks_uri = jwks_uri
        self.audiences = audiences
        self.verify_audience = verify_audience
        self.algorithms = algorithms
        self.token_use = token_use
        self.required_scopes = required_scopes
        self.hmac_secret = hmac_secret
        self.jwks_snapshot = jwks_snapshot
        self.required_claims = required_claims
        self.aliases = aliases  # other spellings of `issuer` accepted (a derived bare-host issuer: with and without "/")
        self.discovery = discovery  # jwks_uri is empty: found by OIDC discovery from `issuer` at the first key fetch
        self.tenants = tenants  # `issuer` is a template with {tenantid}: the tenants accepted (Entra multi-tenant)

    def replace(self, **changes: Any) -> IssuerConfig:
        """A copy with `changes` applied."""
        return IssuerConfig(**{**{name: getattr(self, name) for name in self.__slots__}, **changes})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, IssuerConfig) and all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the NamedTuple's fields were not: compare, do not hash

    def __repr__(self) -> str:  # never print the secret
        secret = "'***'" if self.hmac_secret else "None"
        return f"IssuerConfig(issuer={self.issuer!r}, jwks_uri={self.jwks_uri!r}, hmac_secret={secret})"

    @property
    def accepted_issuers(self) -> tuple[str, ...]:
        """Every `iss` this issuer's tokens may carry: the issuer and its other spellings; for a
        tenant template, each accepted tenant's issuer (never the template itself)."""
        if self.tenants:
            return self.aliases
        return (self.issuer, *self.aliases)

    def tenant_of(self) -> dict[str, str] | None:
        """For a tenant template: each accepted `iss` -> the tenant its `tid` must name; else None."""
        if not self.tenants:
            return None
        return {self.issuer.replace(TENANT_PLACEHOLDER, tenant): tenant for tenant in self.tenants}

    @property
    def is_firebase(self) -> bool:
        return self.issuer.startswith("https://securetoken.google.com/")  # providers.FIREBASE_ISSUER


def load_issuers(env: Environment, notes: list[str], warnings: list[str]) -> tuple[IssuerConfig, ...]:
    """Every configured issuer; `notes` and `warnings` collect what the cold start logs. Raises ConfigError."""
    defaults: dict[str, Any] = {
        "audiences": env.raw("JWT_AUTHORIZED_AUDIENCES"),
        "verify_audience": env.raw("JWT_VERIFY_AUDIENCE"),
        "algorithms": env.raw("JWT_ALGORITHMS"),
        "token_use": env.raw("JWT_TOKEN_USE"),
        "required_scopes": env.raw("JWT_REQUIRED_SCOPES"),
        "hmac_secret": env.raw("JWT_HMAC_SECRET"),
        "jwks_snapshot": env.raw("JWT_JWKS_SNAPSHOT"),
        "required_claims": _json_object(env.raw("JWT_REQUIRED_CLAIMS"), "JWT_REQUIRED_CLAIMS"),
        "tenants": env.raw("JWT_TENANTS"),
        "cognito_replica_regions": env.raw("JWT_COGNITO_REPLICA_REGIONS"),
    }
    allow_insecure_http = env.value("JWT_ALLOW_INSECURE_HTTP")
    if env.is_set("JWT_ISSUERS"):
        for single in ("JWT_ISSUER_JWKS_URI", "JWT_ISSUER"):
            if env.is_set(single):
                raise ConfigError(single, "unset it when JWT_ISSUERS is used (put that issuer in the list)")
        entries = _read_issuer_list(env.raw("JWT_ISSUERS"))
        origin = "JWT_ISSUERS"
    else:
        if not env.is_set("JWT_ISSUER_JWKS_URI") and not env.is_set("JWT_ISSUER") and not env.is_set("JWT_HMAC_SECRET"):
            raise ConfigError(
                "JWT_ISSUER", "set the issuer (its keys are then derived or discovered), or JWT_ISSUER_JWKS_URI, or configure JWT_ISSUERS"
            )
        entries = [{"issuer": env.raw("JWT_ISSUER"), "jwks_uri": env.raw("JWT_ISSUER_JWKS_URI")}]
        origin = ""
    issuers = tuple(
        _issuer_config(entry, defaults, origin, index, notes, warnings if allow_insecure_http else None)
        for index, entry in enumerate(entries)
    )
    # Tokens are routed by their `iss`: an `iss` two entries accept would be routed to one of them,
    # and the other's audience, scopes, tenant check and required claims would silently not apply.
    owner: dict[str, int] = {}
    for index, issuer in enumerate(issuers):
        for name in dict.fromkeys((issuer.issuer, *issuer.accepted_issuers)):
            if name in owner:
                first = owner[name]
                raise ConfigError(
                    "JWT_ISSUERS",
                    f"issuer {name!r} is listed twice"
                    if issuers[first].issuer == issuer.issuer == name
                    else f"entries {first} and {index} both accept iss {name!r} (one issuer's spellings, a tenant of a "
                    "template, a replica Region): merge them into one entry",
                )
            owner[name] = index
    return issuers


def _read_issuer_list(raw: str) -> list[dict[str, Any]]:
    text = raw
    if not raw.lstrip().startswith(("[", "{")):
        path = raw[len("file://") :] if raw.startswith("file://") else raw
        try:
            with open(path, "rb") as handle:
                text = handle.read().decode()
        except OSError as error:
            raise ConfigError("JWT_ISSUERS", f"cannot read {path!r} ({error.strerror}); give inline JSON or a readable file") from None
    try:
        document = loads(text)
    except ValueError as error:
        raise ConfigError("JWT_ISSUERS", f"not valid JSON ({error})") from None
    if isinstance(document, dict) and isinstance(document.get("issuers"), list):
        document = document["issuers"]
    if not isinstance(document, list) or not document or not all(isinstance(e, dict) for e in document):
        raise ConfigError("JWT_ISSUERS", "expected a non-empty JSON list of issuer objects")
    return document


def _issuer_config(
    entry: dict[str, Any], defaults: dict[str, Any], origin: str, index: int, notes: list[str], insecure_http: list[str] | None
) -> IssuerConfig:
    """One issuer. `insecure_http`: where to warn of a plain-http key URL (JWT_ALLOW_INSECURE_HTTP), or
    None to refuse one."""

    def name(field_name: str, flat: str) -> str:
        # Errors name the variable the user actually wrote.
        return f"{origin}[{index}].{field_name}" if origin and field_name in entry else flat

    unknown = set(entry) - ISSUER_FIELDS
    if unknown:
        raise ConfigError(f"{origin}[{index}]", f"unknown field(s) {sorted(unknown)}; allowed: {sorted(ISSUER_FIELDS)}")
    merged = {**defaults, **entry}

    jwks_uri = str(merged.get("jwks_uri") or "").strip()
    uri_var = name("jwks_uri", "JWT_ISSUER_JWKS_URI")
    issuer = str(merged.get("issuer") or "").strip()
    issuer_var = name("issuer", "JWT_ISSUER")
    discovery = False
    if not jwks_uri and issuer and not merged.get("hmac_secret"):
        # Issuer-only setup: a known provider's key URL, else OIDC discovery at the first key fetch.
        from .providers import discovery_url, is_loopback_url, key_url_for_issuer

        jwks_uri = key_url_for_issuer(issuer) or ""
        if jwks_uri:
            notes.append(f"derived key URL {jwks_uri} from issuer {issuer}")
        elif TENANT_PLACEHOLDER in issuer:
            raise ConfigError(uri_var, f"set the key URL shared by the tenants of {issuer}")
        elif issuer.startswith("https://") or (issuer.startswith("http://") and is_loopback_url(issuer)):
            discovery = True
            notes.append(f"keys of {issuer} by OIDC discovery ({discovery_url(issuer)})")
        else:
            raise ConfigError(
                issuer_var, f"{issuer!r}: an issuer whose keys are to be discovered must be an https:// URL (or set the key URL)"
            )
    if jwks_uri and not jwks_uri.startswith(("https://", "http://", "file://")):
        raise ConfigError(uri_var, f"expected an https://, http:// or file:// URL, got {jwks_uri!r}")
    if jwks_uri.startswith("http://") and not _is_loopback_url(jwks_uri):
        if insecure_http is None:
            raise ConfigError(
                uri_var,
                f"{jwks_uri} is plain http: keys fetched over it can be replaced in transit. Use https://, "
                "or set JWT_ALLOW_INSECURE_HTTP=true for a private network",
            )
        insecure_http.append(f"keys fetched over plain http ({jwks_uri}): JWT_ALLOW_INSECURE_HTTP=true")

    verify_audience = parse_bool(name("verify_audience", "JWT_VERIFY_AUDIENCE"), merged["verify_audience"])
    audiences = frozenset(split_csv(merged["audiences"]))
    if verify_audience and not audiences:
        raise ConfigError(
            name("audiences", "JWT_AUTHORIZED_AUDIENCES"),
            "set the accepted audience(s) (or client ids), or JWT_VERIFY_AUDIENCE=false to switch the check off",
        )

    if origin and "hmac_secret" not in entry and defaults.get("hmac_secret") and (jwks_uri or discovery):
        # An identity provider's `iss` would accept HS* tokens signed with a secret it never knew.
        raise ConfigError(
            "JWT_HMAC_SECRET",
            f"would be inherited by {origin}[{index}] ({issuer or jwks_uri}), whose keys come from a URL: "
            "set hmac_secret on the entries that sign with it, and unset JWT_HMAC_SECRET",
        )
    secret_raw = merged.get("hmac_secret") or ""
    secret = str(secret_raw).encode() if secret_raw else None
    secret_var = name("hmac_secret", "JWT_HMAC_SECRET")
    if secret is not None and len(secret) < MIN_HMAC_SECRET_BYTES:
        raise ConfigError(secret_var, f"an HMAC secret must be at least {MIN_HMAC_SECRET_BYTES} bytes")

    algorithms_var = name("algorithms", "JWT_ALGORITHMS")
    listed = split_csv(merged["algorithms"])
    if not listed:
        listed = ASYMMETRIC_ALGORITHMS + (HMAC_ALGORITHMS if secret else ())
    for alg in listed:
        if alg.lower() == "none":
            raise ConfigError(algorithms_var, "'none' is never accepted (RFC 8725 §3.1)")
        if alg not in ASYMMETRIC_ALGORITHMS and alg not in HMAC_ALGORITHMS:
            raise ConfigError(algorithms_var, f"unknown algorithm {alg!r}; use any of {', '.join(ASYMMETRIC_ALGORITHMS + HMAC_ALGORITHMS)}")
        if alg in HMAC_ALGORITHMS and secret is None:
            raise ConfigError(algorithms_var, f"{alg} needs JWT_HMAC_SECRET (HS* is only accepted with an explicit secret)")
    if not jwks_uri and not discovery and not any(alg in HMAC_ALGORITHMS for alg in listed):
        raise ConfigError(uri_var, "set the issuer's JWKS URL (or file://), or the issuer to discover it")

    token_use = frozenset(split_csv(merged["token_use"])) or None
    if token_use and not token_use <= {"access", "id"}:
        raise ConfigError(name("token_use", "JWT_TOKEN_USE"), f"expected access and/or id, got {sorted(token_use)}")

    tenants = _tenants(issuer, split_csv(merged["tenants"]), name("tenants", "JWT_TENANTS"), issuer_var)
    aliases: tuple[str, ...] = ()
    if tenants:
        aliases = tuple(issuer.replace(TENANT_PLACEHOLDER, tenant) for tenant in tenants)
    if not issuer:
        from .providers import derive_issuer, issuer_aliases

        issuer = derive_issuer(jwks_uri, audiences) or ""
        if not issuer:
            raise ConfigError(
                issuer_var,
                f"cannot derive the issuer from {jwks_uri or 'the configuration'!r}; set it to the exact `iss` your tokens carry",
            )
        aliases = issuer_aliases(issuer, jwks_uri)
        notes.append(f"derived issuer {issuer} from {jwks_uri}" + (f" (also accepted: {', '.join(aliases)})" if aliases else ""))
    replicas = split_csv(merged["cognito_replica_regions"])
    if replicas or issuer.startswith(COGNITO_ISSUER_PREFIXES):
        from .providers import cognito_issuers

        forms = cognito_issuers(issuer, replicas, name("cognito_replica_regions", "JWT_COGNITO_REPLICA_REGIONS"))
        aliases += tuple(form for form in forms if form != issuer and form not in aliases)

    return IssuerConfig(
        issuer=issuer,
        jwks_uri=jwks_uri,
        audiences=audiences,
        verify_audience=verify_audience,
        algorithms=frozenset(listed),
        token_use=token_use,
        required_scopes=frozenset(split_scopes(merged["required_scopes"])),
        hmac_secret=secret,
        jwks_snapshot=_snapshot_uri(str(merged.get("jwks_snapshot") or "").strip(), name("jwks_snapshot", "JWT_JWKS_SNAPSHOT"), jwks_uri),
        required_claims=_required_claims(merged.get("required_claims"), name("required_claims", "JWT_REQUIRED_CLAIMS")),
        aliases=aliases,
        discovery=discovery,
        tenants=tenants,
    )


def _tenants(issuer: str, tenants: tuple[str, ...], variable: str, issuer_variable: str) -> tuple[str, ...]:
    """The accepted tenants of an issuer template (Entra ID multi-tenant apps). Raises ConfigError."""
    if TENANT_PLACEHOLDER not in issuer:
        if tenants:
            raise ConfigError(
                variable,
                f"tenants need an issuer template with {TENANT_PLACEHOLDER}, e.g. https://login.microsoftonline.com/{TENANT_PLACEHOLDER}/v2.0",
            )
        return ()
    if issuer.count(TENANT_PLACEHOLDER) != 1 or not issuer.startswith("https://"):
        raise ConfigError(issuer_variable, f"an issuer template is an https:// URL with {TENANT_PLACEHOLDER} once")
    if not tenants:
        # Accepting every tenant would accept any Entra ID customer's users: the list is required.
        raise ConfigError(variable, f"list the tenant ids accepted by {issuer}")
    for tenant in tenants:
        if not all(c.isascii() and (c.isalnum() or c in "-.") for c in tenant):
            raise ConfigError(variable, f"{tenant!r} is not a tenant id")
    return tenants


def _is_loopback_url(uri: str) -> bool:
    from .providers import is_loopback_url  # only for plain-http URLs: most configurations never load providers.py

    return is_loopback_url(uri)


def _required_claims(document: object, variable: str) -> RequiredClaims | None:
    if document is None:
        return None
    from .rules import parse_required_claims  # only where required claims are configured

    return parse_required_claims(document, variable)


def _json_object(raw: str, variable: str) -> Any:
    """A variable holding JSON (parsed here so that errors name it); None when unset."""
    if not raw:
        return None
    try:
        return loads(raw)
    except ValueError as error:
        raise ConfigError(variable, f"not valid JSON ({error})") from None


def _snapshot_uri(raw: str, variable: str, jwks_uri: str) -> str:
    if not raw:
        return ""
    if jwks_uri.startswith("file://"):
        raise ConfigError(variable, "the keys already ship as a file: a snapshot is only for an https:// source")
    uri = raw if raw.startswith("file://") else "file://" + raw
    if not os.path.isfile(uri[len("file://") :]):
        raise ConfigError(variable, f"{raw!r} is not a readable file")
    return uri
