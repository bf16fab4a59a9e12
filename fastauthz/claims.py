"""Registered-claim rules (RFC 7519 §4.1) plus Cognito and Firebase specifics. Hot path.

`now` is always passed in, never read here, so that tests and the key store share one clock.
Numbers must be JSON numbers: `type(x) in (int, float)` keeps booleans (a bool is an int in
Python) and strings out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import Rejected, truncate

if TYPE_CHECKING:
    from .issuer_settings import IssuerConfig

FIREBASE_MAX_SUB_LENGTH = 128


class ClaimRules:
    __slots__ = ("audiences", "firebase", "issuers", "leeway", "tenants", "token_use", "verify_audience", "verify_expiration")

    def __init__(self, config: IssuerConfig, verify_expiration: bool, leeway: float) -> None:
        self.issuers = frozenset(config.accepted_issuers)
        self.tenants = config.tenant_of()  # Entra multi-tenant: iss -> the tenant `tid` must name; else None
        self.audiences = config.audiences
        self.verify_audience = config.verify_audience
        self.verify_expiration = verify_expiration
        self.leeway = leeway
        self.token_use = config.token_use
        self.firebase = config.is_firebase


def _not_a_number(value: object) -> bool:
    kind = type(value)
    return kind is not int and kind is not float


def check_claims(payload: dict[str, Any], rules: ClaimRules, now: float) -> float | None:
    """Raise Rejected unless the claims hold at `now`. Returns `exp` (None if absent and allowed)."""
    # The number checks are written out (not _not_a_number) to save a call per claim: hot path.
    latest = now + rules.leeway
    exp: Any = payload.get("exp")  # Any: `type(exp) is int` does not narrow for mypy
    kind = type(exp)
    if kind is int or kind is float:
        if now >= exp + rules.leeway and rules.verify_expiration:  # RFC 7519 §4.1.4: now must be before exp
            raise Rejected("expired")
    elif exp is not None:
        raise Rejected("bad_claim_type", "exp must be a number")
    elif rules.verify_expiration:
        raise Rejected("missing_exp")
    nbf = payload.get("nbf")
    if nbf is not None:
        kind = type(nbf)
        if kind is not int and kind is not float:
            raise Rejected("bad_claim_type", "nbf must be a number")
        if nbf > latest:
            raise Rejected("not_yet_valid")
    iat = payload.get("iat")
    if iat is not None:
        kind = type(iat)
        if kind is not int and kind is not float:
            raise Rejected("bad_claim_type", "iat must be a number")
        if iat > latest:
            raise Rejected("issued_in_future")

    iss = payload.get("iss")
    if type(iss) is not str or iss not in rules.issuers:  # issuers: the configured one and its accepted spellings
        raise Rejected("bad_issuer", truncate(iss))
    if rules.tenants is not None and payload.get("tid") != rules.tenants[iss]:
        # One key set signs for every tenant: only `tid` ties the token to the tenant its iss names.
        raise Rejected("bad_tenant", truncate(payload.get("tid")))

    if rules.verify_audience:
        audiences = rules.audiences
        aud = payload.get("aud")
        if aud is None:
            # Cognito access tokens carry no aud; the app client id is in client_id.
            client_id = payload.get("client_id")
            if type(client_id) is not str or client_id not in audiences:
                raise Rejected("bad_audience", "no aud, and client_id not accepted")
        elif type(aud) is str:
            if aud not in audiences:
                raise Rejected("bad_audience", truncate(aud))
        elif type(aud) is list:
            if not any(type(item) is str and item in audiences for item in aud):
                raise Rejected("bad_audience", truncate(aud))
        else:
            raise Rejected("bad_claim_type", "aud must be a string or an array of strings")

    if rules.token_use is not None and payload.get("token_use") not in rules.token_use:
        raise Rejected("bad_token_use", truncate(payload.get("token_use")))

    sub = payload.get("sub")
    if type(sub) is not str or not sub:
        raise Rejected("missing_sub")
    if rules.firebase:
        # Firebase ID token rules: sub at most 128 characters, auth_time in the past.
        if len(sub) > FIREBASE_MAX_SUB_LENGTH:
            raise Rejected("bad_claim_type", "sub longer than 128 characters")
        auth_time = payload.get("auth_time")
        if auth_time is None or _not_a_number(auth_time) or auth_time > latest:
            raise Rejected("bad_auth_time")
    return exp  # type: ignore[no-any-return]  # a number (checked above) or None


def granted_scopes(payload: dict[str, Any]) -> frozenset[str]:
    """Scopes from `scope` (space separated, RFC 8693 §4.2) or `scp` (string or array)."""
    scope = payload.get("scope")
    if type(scope) is str:
        return frozenset(scope.split())
    scp = payload.get("scp")
    if type(scp) is str:
        return frozenset(scp.split())
    if type(scp) is list:
        return frozenset(item for item in scp if type(item) is str)
    return frozenset()
