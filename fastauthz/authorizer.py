"""The decision, readable top to bottom. Hot path.

extract -> verified-token cache -> rejected-token cache -> parse (header from the header cache)
-> route by unverified iss -> alg allow-list -> claims -> key by kid -> signature (the only
expensive step) -> scopes -> policy.
Every check that can refuse without crypto runs before the signature, and the claims before the
key lookup, so that a token refused on its claims never makes an unknown kid fetch keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from .cache import RejectedCache, VerifiedCache, VerifiedEntry, new_entry
from .claims import ClaimRules, check_claims, granted_scopes
from .config import IssuerConfig, Settings
from .errors import KeysUnavailable, Rejected, truncate
from .extract import build_extractor
from .keys import PreparedKey, hmac_key
from .keystore import KeyStore
from .logs import INFO, Log, fingerprint
from .metrics import VERIFY_SAMPLE, Metrics
from .policy import MAX_RESULT_BYTES, Policies, build_context, fit_context
from .token import HeaderCache, decode_payload, decode_signature, split_token

# A token verified without `exp` (JWT_VERIFY_EXPIRATION=false) is cached this long at most.
NO_EXP_CACHE_SECONDS = 300.0
# Refusals that the same token will get again for the next minute whatever happens; others depend on
# the key set (unknown_kid) or on time moving forward (not_yet_valid). The key store clears the
# cache when keys change, so bad_signature and alg_key_mismatch may be remembered too.
LASTING_REASONS = frozenset({
    "token_too_large", "malformed", "unsupported_crit", "bad_issuer", "alg_not_allowed", "alg_key_mismatch",
    "missing_exp", "expired", "bad_claim_type", "bad_audience", "bad_token_use", "missing_sub", "bad_auth_time",
    "bad_signature",
})
# Room for the policy document, principal and response keys when the context is small.
SMALL_RESULT_MARGIN = 2048


class Issuer:
    """One trusted issuer: its claim rules, algorithms and keys."""

    __slots__ = ("algorithms", "hmac", "keystore", "name", "required_scopes", "rules")

    def __init__(self, config: IssuerConfig, rules: ClaimRules, keystore: KeyStore | None) -> None:
        self.name = config.issuer
        self.rules = rules
        self.algorithms = config.algorithms
        self.required_scopes = config.required_scopes
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
        self.issuers: dict[str, Issuer] = {}
        for config in settings.issuers:
            keystore = None
            if config.jwks_uri:
                keystore = KeyStore(
                    config.jwks_uri, log=self.log, metrics=self.metrics, ttl=settings.jwks_ttl,
                    max_stale=settings.jwks_max_stale, cooldown=settings.jwks_cooldown, timeout=settings.jwks_timeout,
                    clock=clock, on_keys_removed=self._purger(config.issuer), snapshot=config.jwks_snapshot, spawn=spawn,
                )
            rules = ClaimRules(config, settings.verify_expiration, settings.leeway)
            self.issuers[config.issuer] = Issuer(config, rules, keystore)
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
        for issuer in self.issuers.values():
            if issuer.keystore is not None:
                issuer.keystore.start(now)
        register_snapstart_hooks(self)

    def after_restore(self) -> None:
        """SnapStart restore: revalidate keys, drop pooled connections, reseed randomness."""
        import random

        from .fetch import reset_connections

        for issuer in self.issuers.values():
            if issuer.keystore is not None:
                issuer.keystore.after_restore()
        reset_connections()
        random.seed()
        self.log.info("restored from snapshot: keys will be revalidated")

    # -- the Lambda contract -------------------------------------------------------------------
    def handle(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """Allow/Deny result, or raise Exception('Unauthorized') (401) / KeysUnavailable (500)."""
        result = self.decide(event)
        if result is None:
            raise Exception("Unauthorized")
        return result

    # decide() and _verify() are written flat on purpose: every Python call, attribute lookup and
    # object they avoid shows up in the ratio to the raw signature check (bench/ratios.py); the
    # rare branches call out to the general code (Issuer.key_for, fit_context, _refuse).
    def decide(self, event: Mapping[str, Any]) -> dict[str, Any] | None:
        """Allow/Deny result, None for a refusal (the caller raises Unauthorized: API Gateway's
        401), or raise KeysUnavailable (500). See handler.py for why the caller raises."""
        now = self.clock()
        token = None
        self._parsed: tuple[dict[str, Any], dict[str, Any]] | None = None  # for the refusal log line
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
            self._refuse(rejection, event, token, now)
            return None
        except KeysUnavailable:
            self.metrics.count("KeysUnavailable")
            self.metrics.flush(now)
            raise
        except Exception as error:  # a bug or an input we did not foresee: still a clean refusal
            self.metrics.count("InternalError")
            self.log.error("internal error: refusing", reason="internal_error", error=truncate(f"{type(error).__name__}: {error}"))
            return None
        if now >= self.metrics.next_flush:
            self.metrics.flush(now)
        return result

    def _verify(self, token: str, event: Mapping[str, Any], now: float) -> dict[str, Any]:
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
        if metrics.verify_ticket % VERIFY_SAMPLE:
            try:
                verify(signature, raw[: len(header_segment) + 1 + len(payload_segment)])
            except Exception:  # InvalidSignature, or a malformed signature for this key
                raise Rejected("bad_signature") from None
        else:
            started = time.perf_counter()
            try:
                verify(signature, raw[: len(header_segment) + 1 + len(payload_segment)])
            except Exception:
                raise Rejected("bad_signature") from None
            metrics.timed_verify(time.perf_counter() - started)
        principal: str = payload["sub"]
        method_arn: Any = event.get("methodArn")  # policy.py refuses anything but an execute-api ARN string
        allowed = not issuer.required_scopes or issuer.required_scopes <= granted_scopes(payload)
        document, document_size = self.policies.allow(method_arn) if allowed else self.policies.deny(method_arn)
        context = build_context(payload, self.context_claims, exp)
        # The context is a subset of the payload, so it cannot outgrow ~2x the token: only large
        # tokens need the exact 8 KB check (which serialises the context).
        if 2 * len(token) + SMALL_RESULT_MARGIN > MAX_RESULT_BYTES:
            self._fit(context, principal, document_size)
        result = {"principalId": principal, "policyDocument": document, "context": context}
        expires = exp if exp is not None else now + NO_EXP_CACHE_SECONDS
        if keystore is not None and keystore.stale_until < expires:
            # A decision is no better than the keys it was made with: past their stale window a
            # cache hit must fail closed like a fresh token (bounded here, once, not on every hit).
            expires = keystore.stale_until
        entry = new_entry(VerifiedEntry, (expires, result, method_arn, principal, context, allowed, issuer.name, kid))
        self.cache.put(token, entry)
        if allowed and not self.log.debug_enabled:
            counts = metrics.counts
            counts["Allow"] = counts.get("Allow", 0) + 1
        else:
            self._count_decision(entry, token, event, now)
        return result

    def _fit(self, context: dict[str, Any], principal: str, document_size: int) -> None:
        dropped = fit_context(context, principal, document_size)
        if dropped:
            self.log.warn("context claims dropped to fit 8 KB", claims=dropped, sub=truncate(principal))

    def _count_decision(self, entry: VerifiedEntry, token: str, event: Mapping[str, Any], now: float) -> None:
        if entry.allowed:
            self.metrics.count("Allow")
            if self.log.debug_enabled:
                self.log.debug("allowed", sub=truncate(entry.principal), issuer=entry.issuer)
            return
        self.metrics.count("Deny")
        if self.log.threshold <= INFO:
            # The fields of _refuse's line, so that `fastauthz inspect` finds a user's 403 as it finds a 401.
            record: dict[str, Any] = {"timestamp": int(now * 1000), "level": "INFO", "message": "denied", "reason": "insufficient_scope",
                                      "token": fingerprint(token), "issuer": entry.issuer, "kid": entry.kid, "sub": truncate(entry.principal)}
            context = event.get("requestContext") if type(event) is dict else None
            if type(context) is dict:
                record["connection_id"] = truncate(context.get("connectionId"))
            self.log.line(record)

    def _rebuild(self, entry: VerifiedEntry, method_arn: Any) -> dict[str, Any]:
        """A cache hit for another methodArn (an authorizer shared by several APIs or stages)."""
        document = (self.policies.allow(method_arn) if entry.allowed else self.policies.deny(method_arn))[0]
        return {"principalId": entry.principal, "policyDocument": document, "context": entry.context}

    def _refuse(self, rejection: Rejected, event: Mapping[str, Any], token: str | None, now: float) -> None:
        """Remember a lasting refusal, count it and write its log line (hot path on refusals)."""
        reason, detail = rejection.reason, rejection.detail
        if token is not None and reason in LASTING_REASONS:
            self.rejected.add(token, now, reason)
        metrics = self.metrics
        counts = metrics.counts
        counts["Unauthorized"] = counts.get("Unauthorized", 0) + 1
        name = "Rejected." + reason
        counts[name] = counts.get(name, 0) + 1
        if self.log.threshold <= INFO:
            record: dict[str, Any] = {"timestamp": int(now * 1000), "level": "INFO", "message": "unauthorized", "reason": reason}
            if detail:
                record["detail"] = detail
            if token is not None:
                record["token"] = fingerprint(token)
            if self._parsed is not None:
                header, payload = self._parsed
                record["issuer"] = truncate(payload.get("iss"))
                record["kid"] = header.get("kid")  # a string of at most 256 characters or None (token.py)
                if "sub" in payload:
                    record["sub_unverified"] = truncate(payload["sub"])
            context = event.get("requestContext") if type(event) is dict else None
            if type(context) is dict:
                record["connection_id"] = truncate(context.get("connectionId"))
            self.log.line(record)
        if now >= metrics.next_flush:
            metrics.flush(now)


def register_snapstart_hooks(authorizer: Authorizer) -> bool:
    """Register `after_restore` with Lambda SnapStart when its runtime hooks module is present."""
    try:
        from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return False
    register_after_restore(authorizer.after_restore)
    return True
