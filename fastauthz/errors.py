"""The exception tree and the one table of reason codes. Hot path (its exceptions); the table is read at import.

Three families, three outcomes (see README "Outcomes"):
  Rejected        the client's fault            -> raise Exception("Unauthorized"), HTTP 401
    Unauthorized  raised by an authorization hook (FASTAUTHZ_AUTHORIZE) to refuse with a 401
  KeysUnavailable our side cannot decide        -> a distinct error, HTTP 500, logged loudly
  ConfigError     the deployment is wrong       -> the cold start fails, naming the variable
  KeySetError     a key document is unusable    -> that fetch fails (key store, cold path)
A valid caller the rules refuse is not an exception: the authorizer returns a Deny policy (403).
Every refusal carries a `reason` code from REASONS. Codes are part of the public contract (logs,
metrics `Rejected.<reason>`, the Deny mode's context): never rename one once released.
"""

from __future__ import annotations

Reason = tuple[str, int, bool, str]
# (code, status, lasting, meaning): status is what API Gateway answers (401 Unauthorized, 403 a Deny
# policy, 500; 0: a log line only), lasting that the same token gets the same refusal for the next
# minute whatever happens. Plain tuples, not a NamedTuple class: this module is on the cold path, and
# a NamedTuple class costs ~0.1 ms to create (make bench-check counts it).
# Every reason code, in the order the README lists them. `lasting` decides which refusals the
# rejected-token cache remembers: not unknown_kid (the key set may change), not_yet_valid and
# issued_in_future (time moves on); the key store clears the cache when keys change, so
# bad_signature and alg_key_mismatch may be remembered.
# fmt: off
REASONS: tuple[Reason, ...] = (
    ("missing_token", 401, False, "no token in any configured source"),
    ("query_token_too_old", 401, False, "a token from the query string issued longer ago than JWT_QUERY_TOKEN_MAX_AGE_SECONDS, or without `iat`"),
    ("token_too_large", 401, True, "longer than JWT_MAX_TOKEN_BYTES, refused before decoding"),
    ("malformed", 401, True, "not three strict base64url segments of JSON objects, or a bad header field"),
    ("unsupported_crit", 401, True, "a `crit` or `b64` header"),
    ("bad_issuer", 401, True, "`iss` is not a configured issuer"),
    ("alg_not_allowed", 401, True, "`alg` outside the issuer's allow-list (`none` always)"),
    ("alg_key_mismatch", 401, True, "`alg` does not fit the key's type, curve or declared alg"),
    ("missing_kid", 401, False, "no `kid`, and the key set has several keys"),
    ("unknown_kid", 401, False, "a `kid` the key set does not hold (after one refetch, then a cooldown)"),
    ("missing_exp", 401, True, "no `exp` (unless JWT_VERIFY_EXPIRATION=false)"),
    ("expired", 401, True, "`exp` passed, beyond the leeway"),
    ("not_yet_valid", 401, False, "`nbf` in the future, beyond the leeway"),
    ("issued_in_future", 401, False, "`iat` in the future, beyond the leeway"),
    ("bad_claim_type", 401, True, "a registered claim of the wrong JSON type"),
    ("bad_tenant", 401, True, "Entra multi-tenant: `tid` is not the tenant in `iss`"),
    ("bad_audience", 401, True, "no accepted audience in `aud` (or Cognito's `client_id`)"),
    ("bad_token_use", 401, True, "Cognito `token_use` not accepted"),
    ("missing_sub", 401, True, "no non-empty `sub`"),
    ("bad_auth_time", 401, True, "Firebase `auth_time` missing or in the future"),
    ("bad_signature", 401, True, "the signature does not verify"),
    ("bad_method_arn", 401, False, "the event's methodArn (or an HTTP API's routeArn) is not an execute-api ARN"),
    ("unknown_event", 401, False, "an event of no API Gateway authorizer shape (neither a methodArn nor a routeArn)"),
    ("result_too_large", 401, False, "the policy and principal alone exceed API Gateway's 8 KB"),
    ("hook_unauthorized", 401, False, "the authorization hook raised fastauthz.Unauthorized"),
    ("hook_error", 401, False, "the authorization hook failed (logged at ERROR with the exception type)"),
    ("internal_error", 401, False, "an input nothing foresaw: still a clean refusal, logged at ERROR"),
    ("bad_origin", 403, False, "the handshake's `Origin` is not in JWT_ALLOWED_ORIGINS (or missing with JWT_REQUIRE_ORIGIN): a Deny, checked before any cache"),
    ("insufficient_scope", 403, False, "a valid token without the required scopes: a Deny policy"),
    ("insufficient_claims", 403, False, "a valid token failing JWT_REQUIRED_CLAIMS: a Deny policy"),
    ("denied_by_hook", 403, False, "the authorization hook returned False: a Deny policy"),
    ("reauth_mismatch", 0, False, "a re-auth over an open connection with another sub or issuer, or for a connection not registered: answered, and the connection closed"),
    ("keys_unavailable", 500, False, "no servable keys (the source down past its stale window): a distinct error"),
    ("fetch_failed", 0, False, "a key fetch failed (logged at ERROR; the call is answered from stale keys or fails closed)"),
    ("bad_key_set", 0, False, "a fetched or shipped key document is unusable (that fetch fails; logged with it)"),
    ("bad_config", 0, False, "a setting is wrong: the cold start (and `fastauthz check-config`) fails, naming the variable"),
)
# fmt: on
REASON_CODES = frozenset(code for code, _, _, _ in REASONS)
LASTING_REASONS = frozenset(code for code, _, lasting, _ in REASONS if lasting)
STATUSES = {code: status for code, status, _, _ in REASONS}
# Refusals of the request rather than of the token (bad_origin): a Deny (403), whatever FASTAUTHZ_REFUSE_WITH says.
DENYING_REASONS = frozenset(code for code, status, _, _ in REASONS if status == 403)


DETAIL_LIMIT = 80


def truncate(value: object) -> str:
    """Attacker-supplied values go into messages only truncated (and never a token)."""
    if type(value) is str and len(value) <= DETAIL_LIMIT:
        return value
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= DETAIL_LIMIT else text[:DETAIL_LIMIT] + "..."


class FastAuthzError(Exception):
    reason: str = "internal_error"


class Rejected(FastAuthzError):
    """The token or request is not acceptable; API Gateway answers 401.

    Raised as Rejected(reason) or Rejected(reason, detail). No __init__: the exception's C
    constructor keeps them in `args`, about 0.12 µs less per refusal than a Python __init__.
    """

    @property
    def reason(self) -> str:  # type: ignore[override]  # read-only here: a view of args[0]
        return self.args[0]  # type: ignore[no-any-return]

    @property
    def detail(self) -> str:
        return self.args[1] if len(self.args) > 1 else ""

    @property
    def status(self) -> int:
        """The HTTP status a server answers this refusal with, as API Gateway would: 401, or 403
        for a valid token the rules deny (insufficient_scope, ...) and a page of another origin."""
        return STATUSES.get(self.reason, 401)

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason


class Unauthorized(Rejected):
    """Raise it from an authorization hook (FASTAUTHZ_AUTHORIZE) to refuse with a 401:
    `raise Unauthorized("session revoked")`; the message becomes the log line's detail."""

    @property
    def reason(self) -> str:  # type: ignore[override]
        return "hook_unauthorized"

    @property
    def detail(self) -> str:
        return truncate(self.args[0]) if self.args else ""


class KeysUnavailable(FastAuthzError):
    """No servable key set for an issuer (source down past its stale window); HTTP 500."""

    reason = "keys_unavailable"


class KeySetError(FastAuthzError):
    """A key set document is not usable (bad JSON, no signing keys, wrong shape)."""

    reason = "bad_key_set"


class ConfigError(FastAuthzError):
    """Bad configuration; raised at import so the cold start fails with this message."""

    reason = "bad_config"

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
