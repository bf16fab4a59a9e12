"""The decision, readable top to bottom. Hot path.

extract -> verified-token cache -> rejected-token cache -> parse (header from the header cache)
-> route by unverified iss -> alg allow-list -> claims -> key by kid -> signature (the only
expensive step) -> required scopes and claims -> your hook (FASTAUTHZ_AUTHORIZE, rules.py) -> policy.
Every check that can refuse without crypto runs before the signature, and the claims before the
key lookup, so that a token refused on its claims never makes an unknown kid fetch keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .cache import RejectedCache, VerifiedCache, VerifiedEntry, new_entry
from .claims import ClaimRules, check_claims, granted_scopes
from .config import Settings, load_settings
from .errors import LASTING_REASONS, KeysUnavailable, Rejected, truncate
from .extract import build_extractor
from .keys import PreparedKey, hmac_key
from .keystore import KeyStore
from .logs import INFO, Log
from .metrics import VERIFY_SAMPLE, Metrics
from .policy import MAX_RESULT_BYTES, Policies, build_context, fit_context
from .token import HeaderCache, decode_payload, decode_signature, split_token

if TYPE_CHECKING:
    from .issuer_settings import IssuerConfig
    from .rules import Hook

# A token verified without `exp` (JWT_VERIFY_EXPIRATION=false) is cached this long at most.
NO_EXP_CACHE_SECONDS = 300.0
# Room for the policy document, principal and response keys when the context is small.
SMALL_RESULT_MARGIN = 2048


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
        if alg[0] == "H":  # HS*: allowed only when a secret is configured (config.py)
            if self.hmac is None:
                raise Rejected("alg_not_allowed", alg)
            return self.hmac
        if self.keystore is None:
            raise Rejected("alg_not_allowed", alg)
        return self.keystore.key_for(kid, now)


class Authorizer:
    """Decides `$connect` events. Build once per execution environment (cold start)."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        write: Callable[[str], Any] | None = None,
        load_keys: bool = True,
        spawn: Callable[[Callable[[], None]], None] | None = None,
    ) -> None:
        self.settings = settings
        self.max_token_bytes = settings.max_token_bytes
        self.context_claims = settings.context_claims
        self.clock = clock
        self.log = Log(settings.log_level, write)
        now = clock()
        self.metrics = Metrics(settings.metrics_namespace, settings.metrics_interval, settings.metrics, self.log._write, now)
        self.cache = VerifiedCache(settings.cache_size)
        self.rejected = RejectedCache()
        self.policies = Policies(settings.authorized_apis)
        self.extract = build_extractor(settings.token_sources, settings.query_parameter, settings.cookie_name)
        self.refuse_with_deny = settings.refuse_with == "deny"
        self._parsed: tuple[dict[str, Any], dict[str, Any]] | None = None  # (header, payload) for the refusal log line
        # FASTAUTHZ_AUTHORIZE, imported by load_settings (a missing module or function fails there).
        self.hook: Hook | None = settings.authorize
        if self.hook is not None:
            from .rules import consult_hook

            self._consult_hook = consult_hook
        self.hook_cache_seconds = settings.authorize_cache_seconds
        self.issuers: dict[str, Issuer] = {}
        for config in settings.issuers:
            keystore = None
            if config.jwks_uri or config.discovery:
                keystore = KeyStore(
                    config.jwks_uri, log=self.log, metrics=self.metrics, ttl=settings.jwks_ttl,
                    max_stale=settings.jwks_max_stale, cooldown=settings.jwks_cooldown, timeout=settings.jwks_timeout,
                    clock=clock, on_keys_removed=self._purger(config.issuer), snapshot=config.jwks_snapshot, spawn=spawn,
                    discover_from=config.issuer if config.discovery else "",
                )
            rules = ClaimRules(config, settings.verify_expiration, settings.leeway)
            issuer = Issuer(config, rules, keystore)
            for name in (config.issuer, *config.aliases):  # tokens are routed by their iss, in any accepted spelling
                self.issuers[name] = issuer
        # Every issuer's allowed algorithms: a token whose alg none accepts is refused from its header alone.
        self.algorithms: frozenset[str] = frozenset().union(*(config.algorithms for config in settings.issuers))
        self.headers = HeaderCache(self.algorithms)
        for note in settings.notes:
            self.log.info(note)
        for warning in settings.warnings:
            self.log.warn(warning)
        if load_keys:
            self.load_keys()

    def _purger(self, issuer: str) -> Callable[[set[str | None]], None]:
        def purge(kids: set[str | None]) -> None:
            dropped = self.cache.purge_keys(issuer, kids)
            self.rejected.clear()  # a replaced key may make a refused token valid
            self.log.info("keys left the key set", issuer=issuer, kids=sorted(map(str, kids)), cache_entries_dropped=dropped)

        return purge

    def load_keys(self) -> None:
        """Cold start: file and snapshot keys load now; URL fetches start in the background."""
        now = self.clock()
        for issuer in dict.fromkeys(self.issuers.values()):  # each issuer once (aliases share it), in configuration order
            if issuer.keystore is not None:
                issuer.keystore.start(now)
        register_snapstart_hooks(self)

    def after_restore(self) -> None:
        """SnapStart restore: revalidate keys, drop pooled connections, reseed randomness."""
        import random

        from .fetch import reset_connections

        for issuer in dict.fromkeys(self.issuers.values()):  # each issuer once (aliases share it), in configuration order
            if issuer.keystore is not None:
                issuer.keystore.after_restore()
        reset_connections()
        random.seed()
        self.log.info("restored from snapshot: keys will be revalidated")

    # -- the Lambda contract -------------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Authorizer:
        """An authorizer configured from `environ` (default: os.environ), as the handler builds
        one. Raises ConfigError naming the variable. `options` are __init__'s keywords."""
        return cls(load_settings(environ), **options)

    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """The Lambda handler (fastauthz.handler.handler is this, bound): the Allow or Deny result,
        or raise Exception('Unauthorized') (API Gateway's 401) or KeysUnavailable (500).

        Raised here, in the function Lambda calls, not deeper in decide(): Lambda's Python runtime
        extracts, formats and logs every frame of an error's traceback (source line and caret
        anchors included), 7-12 µs per frame (bench/runtime_cost.py), so a refusal carries one."""
        result = self.decide(event)
        if result is None:
            raise Exception("Unauthorized")
        return result

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims of `token` (a copy), or raise Rejected with its `.reason`:
        signature, algorithm, time claims, issuer, audience, provider rules, required scopes
        (insufficient_scope) and required claims (insufficient_claims). For your own handler or a
        non-Lambda WebSocket server: the same key store and caches as decide(), which also builds
        the policy, asks the hook and writes the refusal log line and metrics."""
        now = self.clock()
        if type(token) is not str:
            raise Rejected("malformed", "a token is a string")
        entry = self.cache.entries.get(token)
        if entry is not None and now < entry[0]:
            if entry.denial and entry.denial != "denied_by_hook":
                raise Rejected(entry.denial)
            return dict(entry.claims)
        self._parsed = None
        try:
            return dict(self._verify(token, None, now))
        except Rejected as rejection:
            if rejection.reason in LASTING_REASONS:
                self.rejected.add(token, now, rejection.reason)
            raise

    # decide() and _verify() are written flat on purpose: every Python call, attribute
    # lookup and object they avoid shows up in the instructions per call (make bench-check); the
    # rare branches call out to the general code (Issuer.key_for, fit_context, _refuse, rules.py).
    def decide(self, event: Mapping[str, Any]) -> dict[str, Any] | None:
        """Allow/Deny result; for a refusal None (the caller raises Unauthorized: API Gateway's
        401) or, with FASTAUTHZ_REFUSE_WITH=deny, a Deny policy; or raise KeysUnavailable (500).
        See handler.py for why the caller raises."""
        now = self.clock()
        token = None
        self._parsed = None
        try:
            token = self.extract(event)
            entry = self.cache.entries.get(token)
            if entry is not None and now < entry[0]:
                counts = self.metrics.counts
                counts["CacheHit"] = counts.get("CacheHit", 0) + 1
                method_arn = event.get("methodArn")
                result = entry[1] if entry[2] == method_arn else self._rebuild(entry, method_arn)
                self._count_decision(entry, token, event, now)
            else:
                result = self._verify(token, event, now)
        except Rejected as rejection:
            return self._refuse(rejection, event, token, now)
        except KeysUnavailable:
            self.metrics.count("KeysUnavailable")
            self.metrics.flush(now)
            raise
        except Exception as error:  # a bug or an input we did not foresee: still a clean refusal
            self.metrics.count("InternalError")
            self.log.error("internal error: refusing", reason="internal_error", error=truncate(f"{type(error).__name__}: {error}"))
            return self._refusal(event, "internal_error") if self.refuse_with_deny else None
        if now >= self.metrics.next_flush:
            self.metrics.flush(now)
        return result

    def _verify(self, token: str, event: Mapping[str, Any] | None, now: float) -> dict[str, Any]:
        """decide()'s answer for a token not in the cache; with no event (Authorizer.verify) the
        verified claims after the configured rules. One function, one frame: a refusal unwinds
        through as few frames as possible (each costs ~600 instructions, make bench-check)."""
        replayed = self.rejected.entries.get(hash(token))
        if replayed is not None and now < replayed[0]:
            raise Rejected(replayed[1], "replayed")
        raw, header_segment, payload_segment, signature_segment = split_token(token, self.max_token_bytes)
        checked = self.headers.entries.get(header_segment)
        header, alg, kid = checked if checked is not None else self.headers.parse(header_segment)
        payload = decode_payload(payload_segment)
        # Handed to the refusal log through the instance rather than by catching and re-raising
        # here (a second raise costs ~1 µs per refusal). One invocation at a time per execution
        # environment, as in Lambda, makes this safe.
        self._parsed = (header, payload)
        iss = payload.get("iss")
        issuer = self.issuers.get(iss) if type(iss) is str else None
        if issuer is None:
            raise Rejected("bad_issuer", truncate(iss))
        if alg not in issuer.algorithms:
            raise Rejected("alg_not_allowed", truncate(alg))
        # Claims before the key: a token refused on its claims never costs a key fetch (unknown kid).
        exp = check_claims(payload, issuer.rules, now)
        # Fresh keys and a known kid, inlined; everything else goes through Issuer.key_for.
        keystore = issuer.keystore
        key = None
        if keystore is not None and now < keystore.refresh_after and kid is not None and alg[0] != "H":
            key = keystore.keys.by_kid.get(kid)  # type: ignore[union-attr]  # set whenever refresh_after is finite
        if key is None:
            key = issuer.key_for(alg, kid, now)
        verify = key.verifiers.get(alg)
        if verify is None:
            raise Rejected("alg_key_mismatch", f"{alg} with a {key.kty} key")
        signature = decode_signature(signature_segment)
        metrics = self.metrics
        metrics.verify_ticket += 1
        timed = not metrics.verify_ticket % VERIFY_SAMPLE  # one signature check in VERIFY_SAMPLE is timed
        started = time.perf_counter() if timed else 0.0
        try:
            verify(signature, raw[: len(header_segment) + 1 + len(payload_segment)])
        except Exception:  # InvalidSignature, or a malformed signature for this key
            raise Rejected("bad_signature") from None
        if timed:
            metrics.timed_verify(time.perf_counter() - started)
        if event is None:  # Authorizer.verify(): the claims, not a policy
            denial = self._rules_denial(payload, issuer)
            if denial:
                raise Rejected(denial)
            return payload
        principal: str = payload["sub"]
        method_arn: Any = event.get("methodArn")  # policy.py refuses anything but an execute-api ARN string
        denial = self._rules_denial(payload, issuer) if issuer.required_scopes or issuer.required_claims is not None else ""
        context = build_context(payload, self.context_claims, exp)
        expires = exp if exp is not None else now + NO_EXP_CACHE_SECONDS
        if keystore is not None and keystore.stale_until < expires:
            # A decision is no better than the keys it was made with: past their stale window a
            # cache hit must fail closed like a fresh token (bounded here, once, not on every hit).
            expires = keystore.stale_until
        extra = None
        if self.hook is not None and not denial:
            denial, extra, expires = self._ask_hook(payload, event, principal, now, expires)
        document, document_size = self.policies.deny(method_arn) if denial else self.policies.allow(method_arn)
        if extra is not None:
            context.update(extra)
            self._fit(context, principal, document_size)
        # The context is a subset of the payload, so it cannot outgrow ~2x the token: only large
        # tokens need the exact 8 KB check (which serialises the context).
        elif 2 * len(token) + SMALL_RESULT_MARGIN > MAX_RESULT_BYTES:
            self._fit(context, principal, document_size)
        result = {"principalId": principal, "policyDocument": document, "context": context}
        entry = new_entry(VerifiedEntry, (expires, result, method_arn, principal, context, denial, issuer.name, kid, payload))
        if expires > now:  # not so with FASTAUTHZ_AUTHORIZE_CACHE_SECONDS=0: the hook is asked every time
            self.cache.put(token, entry)
        if not denial and not self.log.debug_enabled:
            counts = self.metrics.counts
            counts["Allow"] = counts.get("Allow", 0) + 1
        else:
            self._count_decision(entry, token, event, now)
        return result

    @staticmethod
    def _rules_denial(payload: dict[str, Any], issuer: Issuer) -> str:
        """The reason code of a Deny by the configured rules, "" when they pass (or there are none)."""
        if issuer.required_scopes and not issuer.required_scopes <= granted_scopes(payload):
            return "insufficient_scope"
        if issuer.required_claims is not None and not issuer.required_claims(payload):
            return "insufficient_claims"
        return ""

    def _ask_hook(self, payload: dict[str, Any], event: Mapping[str, Any], principal: str, now: float,
                  expires: float) -> tuple[str, dict[str, Any] | None, float]:
        """(denial, extra context, cache expiry) from FASTAUTHZ_AUTHORIZE. Raises Rejected (401)."""
        try:
            denial, extra = self._consult_hook(self.hook, dict(payload), event)  # type: ignore[arg-type]  # checked by the caller
        except Rejected as rejection:
            if rejection.reason == "hook_error":
                self.log.error("authorization hook failed: refusing", reason="hook_error", error=rejection.detail, sub=truncate(principal))
            raise
        if self.hook_cache_seconds is not None:
            expires = min(expires, now + self.hook_cache_seconds)
        return denial, extra, expires

    def _fit(self, context: dict[str, Any], principal: str, document_size: int) -> None:
        dropped = fit_context(context, principal, document_size)
        if dropped:
            self.log.warn("context claims dropped to fit 8 KB", claims=dropped, sub=truncate(principal))

    def _count_decision(self, entry: VerifiedEntry, token: str, event: Mapping[str, Any], now: float) -> None:
        if not entry.denial:
            self.metrics.count("Allow")
            if self.log.debug_enabled:
                self.log.debug("allowed", sub=truncate(entry.principal), issuer=entry.issuer)
            return
        self.metrics.count("Deny")
        if self.log.threshold <= INFO:
            self.log.decision(now, "denied", entry.denial, "", token, entry.issuer, entry.kid, "sub", truncate(entry.principal),
                              connection_id(event))

    def _rebuild(self, entry: VerifiedEntry, method_arn: Any) -> dict[str, Any]:
        """A cache hit for another methodArn (an authorizer shared by several APIs or stages)."""
        document = (self.policies.deny(method_arn) if entry.denial else self.policies.allow(method_arn))[0]
        return {"principalId": entry.principal, "policyDocument": document, "context": entry.context}

    def _refuse(self, rejection: Rejected, event: Mapping[str, Any], token: str | None, now: float) -> dict[str, Any] | None:
        """Remember a lasting refusal, count it and write its log line (hot path on refusals);
        returns what decide() answers: None (a 401), or in Deny mode a Deny policy."""
        reason, detail = rejection.reason, rejection.detail
        if token is not None and reason in LASTING_REASONS:
            self.rejected.add(token, now, reason)
        metrics = self.metrics
        counts = metrics.counts
        counts["Unauthorized"] = counts.get("Unauthorized", 0) + 1
        name = "Rejected." + reason
        counts[name] = counts.get(name, 0) + 1
        if self.log.threshold <= INFO:
            issuer = kid = sub = None
            if self._parsed is not None:
                header, payload = self._parsed
                issuer = truncate(payload.get("iss"))
                kid = header.get("kid")  # a string of at most 256 characters or None (token.py)
                if "sub" in payload:
                    sub = truncate(payload["sub"])
            self.log.decision(now, "unauthorized", reason, detail, token, issuer, kid, "sub_unverified", sub, connection_id(event))
        if now >= metrics.next_flush:
            metrics.flush(now)
        return self._refusal(event, reason) if self.refuse_with_deny else None

    def _refusal(self, event: Mapping[str, Any], reason: str) -> dict[str, Any]:
        """FASTAUTHZ_REFUSE_WITH=deny: API Gateway answers 403, the function records no error and
        the runtime formats no traceback. The Deny covers the methodArn (everything when it is
        unusable) and tells the reason in the context."""
        method_arn = event.get("methodArn") if type(event) is dict else None
        return {"principalId": "unauthorized", "policyDocument": self.policies.refusal(method_arn), "context": {"reason": reason}}


def connection_id(event: Mapping[str, Any]) -> str | None:
    """The connection id of a `$connect` event, truncated, for the decision's log line; None when absent."""
    context = event.get("requestContext") if type(event) is dict else None
    return truncate(context.get("connectionId")) if type(context) is dict else None


def register_snapstart_hooks(authorizer: Authorizer) -> bool:
    """Register `after_restore` with Lambda SnapStart when its runtime hooks module is present."""
    try:
        from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return False
    register_after_restore(authorizer.after_restore)
    return True
