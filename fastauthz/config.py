"""The parsed configuration, `Settings`, built once at cold start by `load_settings`. Cold path.

load_settings(environ) reads the mapping it is given (os.environ by default: tests and tooling pass
their own) through the rows of settings.VARIABLES, which hold each variable's default, type and
range; the issuers come from issuer_settings. What this module adds are the checks that span
several variables. A bad value raises ConfigError naming the variable and the fix, which fails the
cold start: a misconfigured authorizer must never run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from .errors import ConfigError
from .issuer_settings import IssuerConfig, load_issuers
from .policy import connect_pattern_problem
from .settings import TOKEN_SOURCES, Environment, unknown_variables

if TYPE_CHECKING:
    from .rules import Hook


# NamedTuples rather than dataclasses: @dataclass generates and execs code at import, 2.4 ms of
# cold start for these classes (bench/coldstart.py); a NamedTuple costs a tenth of that.
class Settings(NamedTuple):
    """The parsed configuration. Built by load_settings only: every default is in settings.VARIABLES."""

    issuers: tuple[IssuerConfig, ...]
    verify_expiration: bool
    leeway: int
    token_sources: tuple[str, ...]
    query_parameter: str
    cookie_name: str
    allowed_origins: tuple[str, ...]  # () when unchecked; ("*",) accepts any origin explicitly
    require_origin: bool
    query_token_max_age: float | None
    usage_identifier_claim: str
    simple_responses: bool  # HTTP API payload 2.0 answered {"isAuthorized": ..., "context": ...}
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
    authorize: Hook | None  # FASTAUTHZ_AUTHORIZE, imported (once) by load_settings
    authorize_reads: str  # "event": the hook is asked on every event; "claims": its answer is cached with the token
    authorize_cache_seconds: float | None
    refuse_with: str
    # What the loader worked out by itself (derived issuers), for the cold-start log line.
    notes: tuple[str, ...]
    # What the loader accepted but an operator should see (logged at WARN at cold start).
    warnings: tuple[str, ...]


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Parse the environment (default: os.environ). Raises ConfigError naming the variable."""
    environ = os.environ if environ is None else environ
    env = Environment(environ)
    notes: list[str] = []
    warnings: list[str] = unknown_variables(environ)
    issuers = load_issuers(env, notes, warnings)
    token_sources = _token_sources(env)
    return Settings(
        issuers=issuers,
        verify_expiration=env.value("JWT_VERIFY_EXPIRATION"),
        leeway=env.value("JWT_LEEWAY_SECONDS"),
        token_sources=token_sources,
        query_parameter=env.value("JWT_QUERY_PARAMETER"),
        cookie_name=env.value("JWT_COOKIE_NAME"),
        allowed_origins=_allowed_origins(env, token_sources, warnings),
        require_origin=env.value("JWT_REQUIRE_ORIGIN"),
        query_token_max_age=_query_token_max_age(env, token_sources),
        usage_identifier_claim=env.value("FASTAUTHZ_USAGE_IDENTIFIER_CLAIM"),
        simple_responses=env.value("FASTAUTHZ_HTTP_SIMPLE_RESPONSES"),
        context_claims=env.value("JWT_CONTEXT_CLAIMS"),
        max_token_bytes=env.value("JWT_MAX_TOKEN_BYTES"),
        cache_size=env.value("JWT_CACHE_SIZE"),
        authorized_apis=_authorized_apis(env, warnings),
        jwks_ttl=env.value("JWT_JWKS_TTL_SECONDS"),
        jwks_max_stale=env.value("JWT_JWKS_MAX_STALE_SECONDS"),
        jwks_cooldown=env.value("JWT_JWKS_COOLDOWN_SECONDS"),
        jwks_timeout=env.value("JWT_JWKS_TIMEOUT_SECONDS"),
        metrics=env.value("FASTAUTHZ_METRICS"),
        metrics_namespace=env.value("FASTAUTHZ_METRICS_NAMESPACE"),
        metrics_interval=env.value("FASTAUTHZ_METRICS_INTERVAL_SECONDS"),
        log_level=env.value("AWS_LAMBDA_LOG_LEVEL") or env.value("LOG_LEVEL"),
        authorize=_hook(env),
        authorize_reads=env.value("FASTAUTHZ_AUTHORIZE_READS"),
        authorize_cache_seconds=env.value("FASTAUTHZ_AUTHORIZE_CACHE_SECONDS"),
        refuse_with=env.value("FASTAUTHZ_REFUSE_WITH"),
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


def _token_sources(env: Environment) -> tuple[str, ...]:
    sources: tuple[str, ...] = env.value("JWT_TOKEN_SOURCES")
    cookie_name = env.value("JWT_COOKIE_NAME")
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
    if "query" in sources and not env.value("JWT_QUERY_PARAMETER"):
        raise ConfigError("JWT_QUERY_PARAMETER", "the query source is enabled: name the parameter")
    return sources


def _allowed_origins(env: Environment, token_sources: tuple[str, ...], warnings: list[str]) -> tuple[str, ...]:
    origins: tuple[str, ...] = env.value("JWT_ALLOWED_ORIGINS")
    if "cookie" in token_sources and not origins:
        # Browsers send cookies with a WebSocket handshake whatever page opens it: without an
        # allow-list, any site a signed-in user visits could connect as that user.
        raise ConfigError(
            "JWT_ALLOWED_ORIGINS",
            "the cookie token source (JWT_TOKEN_SOURCES / JWT_COOKIE_NAME) needs the origins allowed to connect, "
            "or `*` to accept any page explicitly (cross-site WebSocket hijacking)",
        )
    if origins == ("*",):
        if env.value("JWT_REQUIRE_ORIGIN"):
            raise ConfigError("JWT_REQUIRE_ORIGIN", "requiring an Origin needs JWT_ALLOWED_ORIGINS to list them, not `*`")
        if "cookie" in token_sources:
            warnings.append("JWT_ALLOWED_ORIGINS=*: any web page can open a connection with a signed-in user's cookie")
        return ()
    if env.value("JWT_REQUIRE_ORIGIN") and not origins:
        raise ConfigError("JWT_REQUIRE_ORIGIN", "set JWT_ALLOWED_ORIGINS to the origins allowed to connect")
    return origins


def _query_token_max_age(env: Environment, token_sources: tuple[str, ...]) -> float | None:
    max_age: float | None = env.value("JWT_QUERY_TOKEN_MAX_AGE_SECONDS")
    if max_age is not None and "query" not in token_sources:
        raise ConfigError("JWT_QUERY_TOKEN_MAX_AGE_SECONDS", "the query token source is not enabled (JWT_TOKEN_SOURCES)")
    return max_age


def _authorized_apis(env: Environment, warnings: list[str]) -> tuple[str, ...]:
    authorized_apis: tuple[str, ...] = env.value("AUTHORIZED_APIS")
    for api in authorized_apis:
        route = api.split(":", 5)[5].split("/", 2)[2:] if api.startswith("arn:") and api.count(":") >= 5 else ["*"]
        if route != ["*"]:
            warnings.append(
                f"AUTHORIZED_APIS entry {api!r} covers only some routes of its stage: a REST or HTTP API that caches "
                "authorizer results (REST's default: 300 s) reuses one Allow for every method and resource of its cache key, "
                "and the routes it does not cover then answer 403 (end the entry with <stage>/*)"
            )
        if api.startswith("arn:") and ":execute-api:" not in api:
            raise ConfigError("AUTHORIZED_APIS", f"{api!r} is not an execute-api ARN")
        if not api.startswith("arn:") and not api.replace("*", "").isalnum():
            raise ConfigError("AUTHORIZED_APIS", f"{api!r} is neither an API id nor an execute-api ARN")
        problem = connect_pattern_problem(api)
        if problem:
            raise ConfigError("AUTHORIZED_APIS", problem + "; use arn:…:<api>/<stage>/* or the API id")
    return authorized_apis


def _hook(env: Environment) -> Hook | None:
    """FASTAUTHZ_AUTHORIZE, imported now, once: a missing module or function fails the cold start
    (and `fastauthz check-config`) naming the variable. rules.py is loaded only when it is set."""
    reference: str = env.value("FASTAUTHZ_AUTHORIZE")
    if not reference:
        return None
    from .rules import load_hook

    return load_hook(reference)
