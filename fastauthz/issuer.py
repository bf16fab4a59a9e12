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
    from .issuer_settings import IssuerConfig
    from .keystore import KeyStore


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
