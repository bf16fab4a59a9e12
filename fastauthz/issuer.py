"""One trusted issuer at run time: its claim rules, allowed algorithms, keys and Deny rules. Hot path.

The authorizer routes a token here by its unverified `iss`; nothing here trusts the token before its
signature has been checked with a key this issuer holds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .claims import ClaimRules, granted_scopes
from .errors import Rejected
from .keys import PreparedKey, hmac_key

if TYPE_CHECKING:
    from .config import Settings
    from .issuer_settings import IssuerConfig
    from .keystore import KeyStore
    from .logs import Log
    from .metrics import Metrics


class Issuer:
    """One trusted issuer: its claim rules, algorithms and keys."""

    __slots__ = ("algorithms", "hmac", "keystore", "name", "required_claims", "required_scopes", "rules")

    def __init__(self, config: IssuerConfig, rules: ClaimRules, keystore: KeyStore | None) -> None:
        self.name = config.issuer
        self.rules = rules
        self.algorithms = config.algorithms
        self.required_scopes = config.required_scopes
        # JWT_REQUIRED_CLAIMS compiled to one predicate at cold start (rules.py is loaded only then).
        self.required_claims: Callable[[dict[str, Any]], bool] | None = None
        if config.required_claims is not None:
            from .rules import claims_predicate

            self.required_claims = claims_predicate(config.required_claims)
        self.keystore = keystore
        self.hmac: PreparedKey | None = hmac_key(config.hmac_secret) if config.hmac_secret else None

    def key_for(self, alg: str, kid: str | None, now: float) -> PreparedKey:
        """The key for a token's alg and kid. Raises Rejected, or KeysUnavailable (the key store)."""
        if alg[0] == "H":  # HS*: allowed only when a secret is configured (issuer_settings.py)
            if self.hmac is None:
                raise Rejected("alg_not_allowed", alg)
            return self.hmac
        if self.keystore is None:
            raise Rejected("alg_not_allowed", alg)
        return self.keystore.key_for(kid, now)

    def key_ready(self, alg: str, kid: str | None, now: float) -> bool:
        """Whether key_for answers without waiting for a key fetch (KeyStore.ready)."""
        return alg[0] == "H" or self.keystore is None or self.keystore.ready(kid, now)

    def denial(self, payload: dict[str, Any]) -> str:
        """The reason code of a Deny by the configured rules, "" when they pass (or there are none)."""
        if self.required_scopes and not self.required_scopes <= granted_scopes(payload):
            return "insufficient_scope"
        if self.required_claims is not None and not self.required_claims(payload):
            return "insufficient_claims"
        return ""


def build_issuers(
    settings: Settings,
    log: Log,
    metrics: Metrics,
    clock: Callable[[], float],
    spawn: Callable[[Callable[[], None]], None] | None,
    purger: Callable[[str], Callable[[set[str | None]], None]],
) -> dict[str, Issuer]:
    """Every accepted `iss` -> its Issuer (its spellings share one), each with its key store, whose
    removed keys `purger(issuer)` hears of. Cold path."""
    from .keystore import KeyStore, KeyTiming

    issuers: dict[str, Issuer] = {}
    timing = KeyTiming(settings.jwks_ttl, settings.jwks_max_stale, settings.jwks_cooldown, settings.jwks_timeout)
    for config in settings.issuers:
        keystore = None
        if config.jwks_uri or config.discovery:
            keystore = KeyStore(
                config.jwks_uri,
                log=log,
                metrics=metrics,
                timing=timing,
                clock=clock,
                spawn=spawn,
                on_keys_removed=purger(config.issuer),
                snapshot=config.jwks_snapshot,
                discover_from=config.issuer if config.discovery else "",
            )
        issuer = Issuer(config, ClaimRules(config, settings.verify_expiration, settings.leeway), keystore)
        for name in config.accepted_issuers:
            issuers[name] = issuer
    return issuers


def same_issuer(issuers: dict[str, Issuer], first: str, second: str) -> bool:
    """Whether two accepted `iss` values are spellings of one issuer entry (a Cognito pool's issuer
    forms and replica Regions, a host with or without its trailing slash). Two tenants of an Entra
    ID template share an entry but are two issuers."""
    issuer = issuers.get(first)
    return issuer is not None and issuer is issuers.get(second) and issuer.rules.tenants is None
