"""Every environment variable fastauthz reads, declared once, parsed once at cold start.

Cold path only. load_settings(environ) reads the mapping it is given (os.environ by default:
tests and tooling pass their own), each variable through its row in SETTINGS, which holds its
default and parser. A bad value raises ConfigError naming the variable and the fix, which fails the
cold start: a misconfigured authorizer must never run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from .errors import ConfigError
from .policy import connect_pattern_problem
from .strictjson import loads

if TYPE_CHECKING:
    from .rules import RequiredClaims

ASYMMETRIC_ALGORITHMS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
    "Ed25519", "Ed448",  # RFC 9864's fully specified names for EdDSA
)
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
TOKEN_SOURCES = ("header", "query", "protocol", "cookie")
MAX_LEEWAY_SECONDS = 300  # JWT_LEEWAY_SECONDS' upper bound: `fastauthz token --expired` expires past it
# RFC 7518 §3.2: an HMAC key must be at least as long as the hash output; 32 bytes covers HS256.
MIN_HMAC_SECRET_BYTES = 32


# NamedTuples rather than dataclasses: @dataclass generates and execs code at import, 2.4 ms of
# cold start for these three classes (bench/coldstart.py); a NamedTuple costs a tenth of that.
Parser = Callable[["Setting", str], Any]  # (the row, the raw text) -> the typed value; ConfigError names the row's variable


def text(setting: Setting, raw: str) -> str:
    return raw


def text_or_default(setting: Setting, raw: str) -> str:
    """Set but blank means the default (LOG_LEVEL=, FASTAUTHZ_METRICS_NAMESPACE=)."""
    return raw or setting.default


def boolean(setting: Setting, raw: str) -> bool:
    return parse_bool(setting.name, raw)


def csv(setting: Setting, raw: str) -> tuple[str, ...]:
    return split_csv(raw)


def number(low: float, high: float, kind: type = float, optional: bool = False) -> Parser:
    """A number within [low, high], as `kind`; with `optional`, blank is None (no value)."""

    def parse(setting: Setting, raw: str) -> Any:
        if optional and not raw:
            return None
        return kind(parse_number(setting.name, raw, low, high))

    return parse


def choice(*options: str) -> Parser:
    def parse(setting: Setting, raw: str) -> str:
        value = raw.lower()
        if value not in options:
            raise ConfigError(setting.name, f"expected {' or '.join(options)}, got {raw!r}")
        return value

    return parse


class Setting(NamedTuple):
    name: str
    default: str
    doc: str
    parse: Parser = text


# The one table of variables. README.md's configuration table is checked against it by
# tests/unit/test_config.py::test_readme_table_matches_the_settings_declared_in_config.
SETTINGS: tuple[Setting, ...] = (
    Setting("JWT_ISSUER_JWKS_URI", "", "Where the issuer's keys are: `https://…` or `file://…` (a key set shipped with the function). The content decides the format: RFC 7517 JWKS or Google's x509 certificate map."),
    Setting("JWT_ISSUER", "", "Exact `iss` to accept. When unset it is derived from a Cognito, Okta, Auth0 or `<issuer>/.well-known/jwks.json` URI, or Firebase's audience, and logged; otherwise the cold start fails."),
    Setting("JWT_JWKS_SNAPSHOT", "", "A key set shipped with the function (path or `file://`) for a URL source: served from the first call, revalidated against `JWT_ISSUER_JWKS_URI` in the background."),
    Setting("JWT_AUTHORIZED_AUDIENCES", "", "Comma list; a token is accepted if its `aud` (string or array) holds any of them. Cognito access tokens (no `aud`) are matched on `client_id`. Required unless `JWT_VERIFY_AUDIENCE=false`."),
    Setting("JWT_VERIFY_AUDIENCE", "true", "`false` switches the audience check off (explicitly; never by omission)."),
    Setting("JWT_VERIFY_EXPIRATION", "true", "`false` stops requiring and checking `exp` (not recommended).", boolean),
    Setting("JWT_LEEWAY_SECONDS", "5", "Clock skew allowed on `exp`, `nbf`, `iat`, `auth_time` (0–300).", number(0, MAX_LEEWAY_SECONDS, int)),
    Setting("JWT_ALGORITHMS", "", "Comma allow-list. Default: RS256/384/512, PS256/384/512, ES256/384/512, EdDSA (and RFC 9864's Ed25519, Ed448), plus HS256/384/512 when `JWT_HMAC_SECRET` is set. `none` is never accepted."),
    Setting("JWT_HMAC_SECRET", "", "Shared secret for HS* tokens (at least 32 bytes). Without it HS* is refused."),
    Setting("JWT_TOKEN_USE", "", "Comma list of accepted Cognito `token_use` values (`access`, `id`); unset: not checked."),
    Setting("JWT_REQUIRED_SCOPES", "", "Scopes that must all be in `scope` (space separated) or `scp`; a valid token without them gets a Deny (403)."),
    Setting("JWT_REQUIRED_CLAIMS", "", "A JSON object, claim name → expected value: a scalar must equal the claim or be one of its elements (`{\"cognito:groups\": \"chat-users\"}`); a list of values means any of them. A valid token that fails it gets a Deny (403, `insufficient_claims`)."),
    Setting("JWT_ISSUERS", "", "Several issuers: a JSON list (inline, or a path / `file://` to a JSON file) of objects with `issuer`, `jwks_uri` and optionally `jwks_snapshot`, `audiences`, `verify_audience`, `algorithms`, `token_use`, `required_scopes`, `required_claims`, `hmac_secret`. The single-issuer variables above are the defaults for omitted fields; `JWT_ISSUER_JWKS_URI` / `JWT_ISSUER` must then be unset."),
    Setting("JWT_TOKEN_SOURCES", "header,query,protocol", "Where to look for the token, in order: `header` (Authorization, `Bearer` optional), `query`, `protocol` (a JWT entry in Sec-WebSocket-Protocol), `cookie`. The first present source is used. `cookie` is appended by default when `JWT_COOKIE_NAME` is set.", csv),
    Setting("JWT_QUERY_PARAMETER", "authorization", "Query-string parameter holding the token (matched exactly, then case-insensitively)."),
    Setting("JWT_COOKIE_NAME", "", "Cookie holding the token; enables the `cookie` source."),
    Setting("JWT_CONTEXT_CLAIMS", "iss,aud,scope,client_id,token_use,email", "Claims copied into the authorizer `context` (flattened: lists joined with `,`, objects as JSON); `*` for all. `exp` is always added.", csv),
    Setting("FASTAUTHZ_AUTHORIZE", "", "Your own rule, `package.module:function`, imported at cold start and called as `function(claims, event)` after the built-in checks pass: `True`/`None` allows, `False` denies (403, `denied_by_hook`), a dict allows with extra context entries; raising `fastauthz.Unauthorized` refuses (401); any other exception fails closed (401, `hook_error`)."),
    Setting("FASTAUTHZ_AUTHORIZE_CACHE_SECONDS", "", "How long the hook's answer is reused for the same token (0–86400). Default: the token's life, like the rest of the decision. `0` verifies and asks the hook on every connect (revocation lists).", number(0, 86400, optional=True)),
    Setting("FASTAUTHZ_REFUSE_WITH", "unauthorized", "`unauthorized`: refusals raise `Unauthorized` (401, a Lambda error). `deny`: they return a Deny policy with `context.reason` (403): no function error, no traceback for the runtime to format. Log lines and metrics are the same.", choice("unauthorized", "deny")),
    Setting("JWT_MAX_TOKEN_BYTES", "8192", "Longer tokens are refused before any decoding.", number(256, 65536, int)),
    Setting("JWT_CACHE_SIZE", "4096", "Verified tokens remembered (by exact token, never past `exp`); 0 disables.", number(0, 1_000_000, int)),
    Setting("AUTHORIZED_APIS", "", "Comma list of API ids or execute-api ARN patterns the Allow covers. Default: the event's own `<api>/<stage>/*`.", csv),
    Setting("JWT_JWKS_TTL_SECONDS", "", "How long fetched keys are fresh. Default: the response's `Cache-Control: max-age` clamped to 60–86400, else 3600.", number(1, 7 * 86400, optional=True)),
    Setting("JWT_JWKS_MAX_STALE_SECONDS", "86400", "How long past freshness the last good keys are served while the source fails; then fail closed (500).", number(0, 30 * 86400)),
    Setting("JWT_JWKS_COOLDOWN_SECONDS", "30", "Minimum spacing of refetches caused by unknown `kid`s.", number(0, 3600)),
    Setting("JWT_JWKS_TIMEOUT_SECONDS", "2", "Connect + read timeout of one key fetch.", number(0.1, 30)),
    Setting("JWT_ALLOW_INSECURE_HTTP", "false", "`true` accepts plain `http://` key URLs for hosts other than loopback (a private network; logged as a warning). Otherwise they stop the cold start: keys fetched over http can be replaced in transit.", boolean),
    Setting("FASTAUTHZ_METRICS", "true", "Emit CloudWatch Embedded Metric Format records (one per interval, aggregated).", boolean),
    Setting("FASTAUTHZ_METRICS_NAMESPACE", "fastauthz", "CloudWatch namespace of the metrics.", text_or_default),
    Setting("FASTAUTHZ_METRICS_INTERVAL_SECONDS", "60", "How often aggregated metrics are flushed.", number(1, 3600)),
    Setting("AWS_LAMBDA_LOG_LEVEL", "", "Set by Lambda's advanced logging controls; wins over `LOG_LEVEL`."),
    Setting("LOG_LEVEL", "INFO", "DEBUG, INFO, WARN or ERROR. Denials log at INFO, allows at DEBUG.", text_or_default),
)
SETTING_NAMES = frozenset(s.name for s in SETTINGS)
SETTING_ROWS = {s.name: s for s in SETTINGS}


def default(name: str) -> Any:
    """A setting's default, parsed: for code outside load_settings that needs one (KeyStore)."""
    return SETTING_ROWS[name].parse(SETTING_ROWS[name], SETTING_ROWS[name].default)
ISSUER_FIELDS = frozenset(
    {"issuer", "jwks_uri", "jwks_snapshot", "audiences", "verify_audience", "algorithms", "token_use",
     "required_scopes", "required_claims", "hmac_secret"}
)


class IssuerConfig(NamedTuple):
    issuer: str
    jwks_uri: str
    audiences: frozenset[str]
    verify_audience: bool
    algorithms: frozenset[str]
    token_use: frozenset[str] | None
    required_scopes: frozenset[str]
    hmac_secret: bytes | None = None
    jwks_snapshot: str = ""
    required_claims: RequiredClaims | None = None
    aliases: tuple[str, ...] = ()  # other spellings of `issuer` accepted (a derived bare-host issuer: with and without "/")
    discovery: bool = False  # jwks_uri is empty: found by OIDC discovery from `issuer` at the first key fetch

    def __repr__(self) -> str:  # never print the secret
        secret = "'***'" if self.hmac_secret else "None"
        return f"IssuerConfig(issuer={self.issuer!r}, jwks_uri={self.jwks_uri!r}, hmac_secret={secret})"

    @property
    def is_firebase(self) -> bool:
        return self.issuer.startswith("https://securetoken.google.com/")  # providers.FIREBASE_ISSUER


class Settings(NamedTuple):
    """The parsed configuration. Built by load_settings only: every default is in SETTINGS."""

    issuers: tuple[IssuerConfig, ...]
    verify_expiration: bool
    leeway: int
    token_sources: tuple[str, ...]
    query_parameter: str
    cookie_name: str
    context_claims: tuple[str, ...]
    max_token_bytes: int
    cache_size: int
    authorized_apis: tuple[str, ...]
    jwks_ttl: float | None
    jwks_max_stale: float
    jwks_cooldown: float
    jwks_timeout: float
    metrics: bool
    metrics_namespace: str
    metrics_interval: float
    log_level: str
    authorize: str  # FASTAUTHZ_AUTHORIZE, imported by the Authorizer at cold start
    authorize_cache_seconds: float | None
    refuse_with: str
    # What the loader worked out by itself (derived issuers), for the cold-start log line.
    notes: tuple[str, ...]
    # What the loader accepted but an operator should see (logged at WARN at cold start).
    warnings: tuple[str, ...]


class _Env:
    """Reads declared variables only, so a typo in this module cannot read an undeclared one."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._defaults = {s.name: s.default for s in SETTINGS}

    def raw(self, name: str) -> str:
        assert name in SETTING_NAMES, name
        value = self._environ.get(name)
        return (self._defaults[name] if value is None else value).strip()

    def value(self, name: str) -> Any:
        """The variable parsed by its row's parser (the row says the type, the range and the default)."""
        return SETTING_ROWS[name].parse(SETTING_ROWS[name], self.raw(name))

    def is_set(self, name: str) -> bool:
        return bool(self._environ.get(name, "").strip())



def split_scopes(raw: object) -> tuple[str, ...]:
    """Scopes are space separated in OAuth (RFC 6749 §3.3); commas are accepted too."""
    return split_csv(raw if isinstance(raw, (list, tuple)) else str(raw).replace(" ", ","))


def parse_bool(name: str, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ConfigError(name, f"expected true or false, got {raw!r}")


def parse_number(name: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"expected a number from {low:g} to {high:g}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(name, f"expected a number from {low:g} to {high:g}, got {raw!r}")
    return value


def split_csv(raw: object) -> tuple[str, ...]:
    if isinstance(raw, (list, tuple)):
        return tuple(str(item).strip() for item in raw if str(item).strip())
    return tuple(part.strip() for part in str(raw).split(",") if part.strip())


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse the environment (default: os.environ). Raises ConfigError naming the variable."""
    env = _Env(os.environ if environ is None else environ)
    notes: list[str] = []
    warnings: list[str] = []
    issuers = _load_issuers(env, notes, warnings)

    sources = env.value("JWT_TOKEN_SOURCES")
    cookie_name = env.raw("JWT_COOKIE_NAME")
    if not env.is_set("JWT_TOKEN_SOURCES") and cookie_name:
        sources = (*sources, "cookie")
    for source in sources:
        if source not in TOKEN_SOURCES:
            raise ConfigError("JWT_TOKEN_SOURCES", f"unknown source {source!r}; use any of {', '.join(TOKEN_SOURCES)}")
    if not sources:
        raise ConfigError("JWT_TOKEN_SOURCES", "name at least one of " + ", ".join(TOKEN_SOURCES))
    if len(set(sources)) != len(sources):
        raise ConfigError("JWT_TOKEN_SOURCES", "a source is listed twice")
    if "cookie" in sources and not cookie_name:
        raise ConfigError("JWT_COOKIE_NAME", "the cookie source is enabled: set the cookie's name")
    query_parameter = env.raw("JWT_QUERY_PARAMETER")
    if "query" in sources and not query_parameter:
        raise ConfigError("JWT_QUERY_PARAMETER", "the query source is enabled: name the parameter")

    log_level = (env.raw("AWS_LAMBDA_LOG_LEVEL") or env.value("LOG_LEVEL")).upper()
    log_level = {"WARNING": "WARN", "TRACE": "DEBUG", "FATAL": "ERROR", "CRITICAL": "ERROR"}.get(log_level, log_level)
    if log_level not in ("DEBUG", "INFO", "WARN", "ERROR"):
        variable = "AWS_LAMBDA_LOG_LEVEL" if env.raw("AWS_LAMBDA_LOG_LEVEL") else "LOG_LEVEL"
        raise ConfigError(variable, f"expected DEBUG, INFO, WARN or ERROR, got {log_level!r}")

    authorized_apis = env.value("AUTHORIZED_APIS")
    for api in authorized_apis:
        if api.startswith("arn:") and ":execute-api:" not in api:
            raise ConfigError("AUTHORIZED_APIS", f"{api!r} is not an execute-api ARN")
        if not api.startswith("arn:") and not api.replace("*", "").isalnum():
            raise ConfigError("AUTHORIZED_APIS", f"{api!r} is neither an API id nor an execute-api ARN")
        problem = connect_pattern_problem(api)
        if problem:
            raise ConfigError("AUTHORIZED_APIS", problem + "; use arn:…:<api>/<stage>/* or the API id")

    return Settings(
        issuers=issuers,
        verify_expiration=env.value("JWT_VERIFY_EXPIRATION"),
        leeway=env.value("JWT_LEEWAY_SECONDS"),
        token_sources=sources,
        query_parameter=query_parameter,
        cookie_name=cookie_name,
        context_claims=env.value("JWT_CONTEXT_CLAIMS"),
        max_token_bytes=env.value("JWT_MAX_TOKEN_BYTES"),
        cache_size=env.value("JWT_CACHE_SIZE"),
        authorized_apis=authorized_apis,
        jwks_ttl=env.value("JWT_JWKS_TTL_SECONDS"),
        jwks_max_stale=env.value("JWT_JWKS_MAX_STALE_SECONDS"),
        jwks_cooldown=env.value("JWT_JWKS_COOLDOWN_SECONDS"),
        jwks_timeout=env.value("JWT_JWKS_TIMEOUT_SECONDS"),
        metrics=env.value("FASTAUTHZ_METRICS"),
        metrics_namespace=env.value("FASTAUTHZ_METRICS_NAMESPACE"),
        metrics_interval=env.value("FASTAUTHZ_METRICS_INTERVAL_SECONDS"),
        log_level=log_level,
        authorize=env.raw("FASTAUTHZ_AUTHORIZE"),
        authorize_cache_seconds=env.value("FASTAUTHZ_AUTHORIZE_CACHE_SECONDS"),
        refuse_with=env.value("FASTAUTHZ_REFUSE_WITH"),
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


def _load_issuers(env: _Env, notes: list[str], warnings: list[str]) -> tuple[IssuerConfig, ...]:
    defaults: dict[str, Any] = {
        "audiences": env.raw("JWT_AUTHORIZED_AUDIENCES"),
        "verify_audience": env.raw("JWT_VERIFY_AUDIENCE"),
        "algorithms": env.raw("JWT_ALGORITHMS"),
        "token_use": env.raw("JWT_TOKEN_USE"),
        "required_scopes": env.raw("JWT_REQUIRED_SCOPES"),
        "hmac_secret": env.raw("JWT_HMAC_SECRET"),
        "jwks_snapshot": env.raw("JWT_JWKS_SNAPSHOT"),
        "required_claims": _json_object(env.raw("JWT_REQUIRED_CLAIMS"), "JWT_REQUIRED_CLAIMS"),
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
            raise ConfigError("JWT_ISSUER", "set the issuer (its keys are then derived or discovered), or JWT_ISSUER_JWKS_URI, "
                                            "or configure JWT_ISSUERS")
        entries = [{"issuer": env.raw("JWT_ISSUER"), "jwks_uri": env.raw("JWT_ISSUER_JWKS_URI")}]
        origin = ""
    issuers = tuple(_issuer_config(entry, defaults, origin, index, notes, warnings if allow_insecure_http else None)
                    for index, entry in enumerate(entries))
    seen: set[str] = set()
    for issuer in issuers:
        if issuer.issuer in seen:
            raise ConfigError("JWT_ISSUERS", f"issuer {issuer.issuer!r} is listed twice")
        seen.add(issuer.issuer)
    return issuers


def _read_issuer_list(raw: str) -> list[dict[str, Any]]:
    text = raw
    if not raw.lstrip().startswith(("[", "{")):
        path = raw[len("file://"):] if raw.startswith("file://") else raw
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


def _issuer_config(entry: dict[str, Any], defaults: dict[str, Any], origin: str, index: int, notes: list[str],
                   insecure_http: list[str] | None) -> IssuerConfig:
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
        elif issuer.startswith("https://") or (issuer.startswith("http://") and is_loopback_url(issuer)):
            discovery = True
            notes.append(f"keys of {issuer} by OIDC discovery ({discovery_url(issuer)})")
        else:
            raise ConfigError(issuer_var, f"{issuer!r}: an issuer whose keys are to be discovered must be an https:// URL "
                                          "(or set the key URL)")
    if jwks_uri and not jwks_uri.startswith(("https://", "http://", "file://")):
        raise ConfigError(uri_var, f"expected an https://, http:// or file:// URL, got {jwks_uri!r}")
    if jwks_uri.startswith("http://") and not _is_loopback_url(jwks_uri):
        if insecure_http is None:
            raise ConfigError(uri_var, f"{jwks_uri} is plain http: keys fetched over it can be replaced in transit. Use https://, "
                                       "or set JWT_ALLOW_INSECURE_HTTP=true for a private network")
        insecure_http.append(f"keys fetched over plain http ({jwks_uri}): JWT_ALLOW_INSECURE_HTTP=true")

    verify_audience = parse_bool(name("verify_audience", "JWT_VERIFY_AUDIENCE"), merged["verify_audience"])
    audiences = frozenset(split_csv(merged["audiences"]))
    if verify_audience and not audiences:
        raise ConfigError(name("audiences", "JWT_AUTHORIZED_AUDIENCES"), "set the accepted audience(s) (or client ids), or JWT_VERIFY_AUDIENCE=false to switch the check off")

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

    aliases: tuple[str, ...] = ()
    if not issuer:
        from .providers import derive_issuer, issuer_aliases

        issuer = derive_issuer(jwks_uri, audiences) or ""
        if not issuer:
            raise ConfigError(issuer_var, f"cannot derive the issuer from {jwks_uri or 'the configuration'!r}; set it to the exact `iss` your tokens carry")
        aliases = issuer_aliases(issuer, jwks_uri)
        notes.append(f"derived issuer {issuer} from {jwks_uri}" + (f" (also accepted: {', '.join(aliases)})" if aliases else ""))

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
    )


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
    if not os.path.isfile(uri[len("file://"):]):
        raise ConfigError(variable, f"{raw!r} is not a readable file")
    return uri


def settings_markdown() -> str:
    """The README configuration table, generated from SETTINGS."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "—"
        rows.append(f"| `{s.name}` | {default} | {s.doc} |")
    return "\n".join(rows)


if __name__ == "__main__":  # python -m fastauthz.config: the README table
    print(settings_markdown())
