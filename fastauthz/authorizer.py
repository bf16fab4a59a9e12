"""The decision, readable top to bottom. Hot path.

extract -> verified-token cache -> rejected-token cache -> parse (header from the header cache)
-> route by unverified iss -> alg allow-list -> claims -> key by kid -> signature (the only
expensive step) -> required scopes and claims -> your hook (FASTAUTHZ_AUTHORIZE, rules.py) -> policy.
A cache hit answers with the full decision for its own event: the policy for its methodArn or
routeArn, the usage key, the 8 KB fit, and the hook asked again unless it reads only the claims.
Every check that can refuse without crypto runs before the signature, and the claims before the
key lookup, so that a token refused on its claims never makes an unknown kid fetch keys.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .cache import RejectedCache, VerifiedCache, VerifiedEntry, new_entry
from .claims import check_claims
from .config import Settings, load_settings
from .errors import LASTING_REASONS, ConfigError, KeysUnavailable, Rejected, truncate
from .extract import build_extractor
from .issuer import Issuer, build_issuers, same_issuer
from .keystore import KeyStore
from .logs import Log, in_lambda, logging_writer
from .metrics import Metrics
from .outcomes import Outcomes
from .policy import Policies, build_context, route_arn
from .token import HeaderCache, decode_payload, decode_signature, split_token

if TYPE_CHECKING:
    from .rules import Hook

# A token verified without `exp` (JWT_VERIFY_EXPIRATION=false) is cached this long at most.
NO_EXP_CACHE_SECONDS = 300.0
# A cached decision's methodArn when the hook reads the event: no event carries it, so every cache
# hit rebuilds its answer and asks the hook for that event.
ASK_HOOK: Any = object()


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
        logger: Any = None,
    ) -> None:
        """`write` takes each log line (JSON); by default stdout in Lambda, and outside it the
        `logging` logger `logger` (default: the one named "fastauthz"). Raises ConfigError."""
        if write is None and (logger is not None or not in_lambda()):
            write = logging_writer(logger)
        self.settings = settings
        self.max_token_bytes = settings.max_token_bytes
        self.context_claims = settings.context_claims
        self.clock = clock
        self.log = Log(settings.log_level, write)
        now = clock()
        self.metrics = Metrics(settings.metrics_namespace, settings.metrics_interval, settings.metrics, self.log._write, now)
        self.cache = VerifiedCache(settings.cache_size)
        self.rejected = RejectedCache()
        self.policies = Policies(settings.authorized_apis, settings.simple_responses, self.log)
        self._respond = self.policies.respond
        # The token of an event; with JWT_ALLOWED_ORIGINS, after the handshake's Origin is checked.
        self.extract = build_extractor(
            settings.token_sources, settings.query_parameter, settings.cookie_name, settings.query_token_max_age, settings.leeway, clock
        )
        if settings.allowed_origins or settings.require_origin:
            from .origins import OriginCheck, checking_origin

            self.extract = checking_origin(self.extract, OriginCheck(settings.allowed_origins, settings.require_origin))
        self.usage_identifier_claim = settings.usage_identifier_claim
        self.simple_responses = settings.simple_responses
        self.refuse_with_deny = settings.refuse_with == "deny"
        # The bookkeeping of each outcome, bound once: a bound method costs what the inlined code did.
        outcomes = Outcomes(self.log, self.metrics, self.rejected, self.policies, self.refuse_with_deny, settings.simple_responses)
        self._refused, self._decided, self._refusal = outcomes.refused, outcomes.decided, outcomes.refusal
        self._counts = self.metrics.counts
        # FASTAUTHZ_AUTHORIZE, imported by load_settings (a missing module or function fails there).
        self.hook: Hook | None = settings.authorize
        if self.hook is not None:
            from .rules import AskHook

            asking = AskHook(self.hook, self.log, self._respond)
            self._ask_hook, self._check_hook = asking.answer, asking.check
        # Safe by default: a hook may read the event (its stage, route, Origin), so its answer is
        # reused only where the deployer declared that it reads the claims alone.
        self.hook_reads_event = self.hook is not None and settings.authorize_reads == "event"
        self.hook_cache_seconds = settings.authorize_cache_seconds
        # Tokens are routed by their iss, in any spelling an issuer entry accepts.
        self.issuers: dict[str, Issuer] = build_issuers(settings, self.log, self.metrics, clock, spawn, self._purger)
        # Every issuer's allowed algorithms: a token whose alg none accepts is refused from its header alone.
        self.algorithms: frozenset[str] = frozenset().union(*(config.algorithms for config in settings.issuers))
        self.headers = HeaderCache(self.algorithms)
        for note in settings.notes:
            self.log.info(note)
        for warning in settings.warnings:
            self.log.warn(warning)
        if load_keys:
            self.start_keys()

    def _purger(self, issuer: str) -> Callable[[set[str | None]], None]:
        def purge(kids: set[str | None]) -> None:
            dropped = self.cache.purge_keys(issuer, kids)
            self.rejected.clear()  # a replaced key may make a refused token valid
            self.log.info("keys left the key set", issuer=issuer, kids=sorted(map(str, kids)), cache_entries_dropped=dropped)

        return purge

    def _key_stores(self) -> list[KeyStore]:
        """Each issuer's key store once (aliases share an issuer), in configuration order."""
        return [issuer.keystore for issuer in dict.fromkeys(self.issuers.values()) if issuer.keystore is not None]

    def start_keys(self) -> None:
        """Cold start: file and snapshot keys load now; URL fetches start in the background."""
        now = self.clock()
        for store in self._key_stores():
            store.start(now)
        try:  # Lambda SnapStart's runtime hooks, where the managed runtime has them
            from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found,import-untyped,unused-ignore]
        except ImportError:
            return
        register_after_restore(self.after_restore)

    def after_restore(self) -> None:
        """SnapStart restore: revalidate keys, drop pooled connections, reseed randomness."""
        from .snapstart import restore

        restore(self._key_stores(), self.log)

    # -- the Lambda contract -------------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> Authorizer:
        """An authorizer configured from `environ` (default: os.environ), as the handler builds
        one. Raises ConfigError naming the variable. `options` are __init__'s keywords."""
        return cls(load_settings(environ), **options)

    def handle(self, event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
        """The Lambda handler (fastauthz.handler.handler): the Allow or Deny result, or raise
        Exception('Unauthorized') (API Gateway's 401) or KeysUnavailable (500). Raised here, not in
        decide(): Lambda's runtime formats every frame of a traceback, 7-12 µs each (bench/runtime_cost.py)."""
        result = self.decide(event)
        if result is None:
            raise Exception("Unauthorized")
        return result

    def verify(self, token: str, event: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The verified claims of `token` (a copy), or raise Rejected with its `.reason`: every check
        decide() makes of a token, with the same key store and caches; no policy, log line or metric.
        `event` is what the hook (FASTAUTHZ_AUTHORIZE) reads: the event being decided (a re-auth
        passes its message). A hook that may read the event cannot be asked without one, so then
        verify(token) raises ConfigError rather than guess (FASTAUTHZ_AUTHORIZE_READS=claims declares
        a hook that reads only the claims; it is then called with `event` None).
        Safe to call from several threads at once (a threaded server); in asyncio, use averify()."""
        now = self.clock()
        if type(token) is not str:
            raise Rejected("malformed", "a token is a string")
        if not token.strip():  # as an event with no token in any source is refused
            raise Rejected("missing_token")
        if event is None and self.hook_reads_event:
            raise ConfigError(
                "FASTAUTHZ_AUTHORIZE",
                "the hook may read the event: call verify(token, event) with the event being decided, "
                "or declare FASTAUTHZ_AUTHORIZE_READS=claims if it reads only the claims",
            )
        entry = self.cache.entries.get(token)
        if entry is not None and now < entry[0]:  # entry.expires: see decide()
            if entry.denial:  # the rules' Deny, or the hook's where its answer is cached
                raise Rejected(entry.denial)
            if entry.method_arn is ASK_HOOK:
                self._check_hook(entry.claims, event, entry.principal)
            return dict(entry.claims)
        try:
            claims = self._verify(token, None, now, [])
        except Rejected as rejection:
            if rejection.reason in LASTING_REASONS:
                self.rejected.add(token, now, rejection.reason)
            raise
        if self.hook is not None:
            self._check_hook(claims, event, claims["sub"])
        return dict(claims)

    def same_issuer(self, first: str, second: str) -> bool:
        """Whether two `iss` values name one issuer: equal, or two spellings of one entry (issuer.same_issuer)."""
        return first == second or same_issuer(self.issuers, first, second)

    async def averify(self, token: str, event: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """verify() for asyncio programs, never blocking the event loop: a token whose key is at hand
        (the common case) is verified on the loop, like verify(), in tens of microseconds; one that
        needs a key fetch first (an unknown kid, no keys yet) is verified on the loop's default
        executor, and concurrent callers share that one fetch (the key store's single flight)."""
        if self._key_at_hand(token):
            return self.verify(token, event)
        import asyncio  # only for asyncio callers: the handler never loads it

        return await asyncio.get_running_loop().run_in_executor(None, self.verify, token, event)

    def _key_at_hand(self, token: object) -> bool:
        """Whether verify(token) can answer without waiting for a key fetch. Reads the token unverified,
        to route it as _verify() will; anything refused before its key is needed counts as at hand."""
        if type(token) is not str or token in self.cache.entries:
            return True
        try:
            _, header_segment, payload_segment, _ = split_token(token, self.max_token_bytes)
            _, alg, kid = self.headers.entries.get(header_segment) or self.headers.parse(header_segment)
            iss = decode_payload(payload_segment).get("iss")
        except Rejected:
            return True
        issuer = self.issuers.get(iss) if type(iss) is str else None
        return issuer is None or issuer.key_ready(alg, kid, self.clock())

    # decide() and _verify() are written flat on purpose: every Python call, attribute
    # lookup and object they avoid shows up in the instructions per call (make bench-check); the
    # rare branches call out to the general code (Issuer.key_for, Policies.respond, outcomes.py, rules.py).
    # `raising` is positional-or-keyword on purpose: a keyword-only parameter takes the call off
    # CPython's specialised path, +240 instructions per call (make bench-check, cache hit).
    def decide(self, event: Mapping[str, Any], raising: bool = False) -> dict[str, Any] | None:
        """Allow/Deny result; for a refusal None (the caller raises Unauthorized: API Gateway's
        401) or, with FASTAUTHZ_REFUSE_WITH=deny, a Deny policy; or raise KeysUnavailable (500).
        See handler.py for why the caller raises. With `raising`, a refusal raises Rejected, its
        `.reason` the code, after the same log line and metrics: for a handler of your own."""
        now = self.clock()
        token = None
        parsed: list[Any] | None = None  # what _verify decoded of the token, for a refusal's log line: [] or [(header, payload)]
        try:
            token = self.extract(event)
            entry = self.cache.entries.get(token)
            # entry[0], [1], [2]: expires, result, method_arn. By name, each read is a descriptor found
            # through CPython's method cache, whose collisions vary with memory layout (bench/README.md).
            if entry is not None and now < entry[0]:
                counts = self._counts
                counts["CacheHit"] = counts.get("CacheHit", 0) + 1
                # An event for another API, stage or front door (no methodArn: HTTP API 2.0), or one
                # the hook must see (ASK_HOOK), is answered by _rebuild.
                if entry[2] == event.get("methodArn"):
                    result = entry[1]
                    self._decided(entry, token, event, now)
                else:
                    result = self._rebuild(entry, token, event, now)
            else:
                parsed = []
                result = self._verify(token, event, now, parsed)
        except Rejected as rejection:
            refused = self._refused(rejection, event, token, parsed[0] if parsed else None, now)
            if raising:
                raise
            return refused
        except KeysUnavailable:
            self._counts["KeysUnavailable"] = self._counts.get("KeysUnavailable", 0) + 1
            self.metrics.flush(now)
            raise
        except Exception as error:  # a bug or an input we did not foresee: still a clean refusal
            self._counts["InternalError"] = self._counts.get("InternalError", 0) + 1
            self.log.error("internal error: refusing", reason="internal_error", error=truncate(f"{type(error).__name__}: {error}"))
            if raising:
                raise Rejected("internal_error") from None
            return self._refusal(event, "internal_error", False)
        if now >= self.metrics.next_flush:
            self.metrics.flush(now)
        return result

    def _verify(self, token: str, event: Mapping[str, Any] | None, now: float, parsed: list[Any]) -> dict[str, Any]:
        """decide()'s answer for a token not in the cache; with no event (Authorizer.verify) the
        verified claims after the configured rules. One function, one frame: a refusal unwinds
        through as few frames as possible (each costs ~600 instructions, make bench-check).
        `parsed` receives the token's (header, payload) once decoded, for the refusal's log line:
        handed back through the caller's own list rather than by catching and re-raising here (a
        second raise costs ~1 µs per refusal), and never through the instance, which threads share."""
        replayed = self.rejected.entries.get(hash(token))
        if replayed is not None and now < replayed[0]:
            raise Rejected(replayed[1], "replayed")
        raw, header_segment, payload_segment, signature_segment = split_token(token, self.max_token_bytes)
        checked = self.headers.entries.get(header_segment)
        header, alg, kid = checked if checked is not None else self.headers.parse(header_segment)
        payload = decode_payload(payload_segment)
        parsed.append((header, payload))
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
        timed = metrics.sample_verify()
        started = time.perf_counter() if timed else 0.0
        try:
            verify(signature, raw[: len(header_segment) + 1 + len(payload_segment)])
        except Exception:  # InvalidSignature, or a malformed signature for this key
            raise Rejected("bad_signature") from None
        if timed:
            metrics.timed_verify(time.perf_counter() - started)
        if event is None:  # Authorizer.verify(): the claims, not a policy
            denial = issuer.denial(payload)
            if denial:
                raise Rejected(denial)
            return payload
        principal: str = payload["sub"]
        method_arn: Any = event.get("methodArn")  # policy.py refuses anything but an execute-api ARN string
        # HTTP API payload 2.0 has a routeArn instead; the cache entry keeps it, so that a hit for an
        # event with neither (no API Gateway shape) is rebuilt, and refused, never answered as cached.
        resource = method_arn if method_arn is not None else route_arn(event)
        denial = issuer.denial(payload) if issuer.required_scopes or issuer.required_claims is not None else ""
        context = build_context(payload, self.context_claims, exp)
        expires = exp if exp is not None else now + NO_EXP_CACHE_SECONDS
        if keystore is not None and keystore.stale_until < expires:
            # A decision is no better than the keys it was made with: past their stale window a
            # cache hit must fail closed like a fresh token (bounded here, once, not on every hit).
            expires = keystore.stale_until
        usage_key = None
        if self.usage_identifier_claim:  # an Allow's usageIdentifierKey: the claim, when a non-empty string
            usage_key = payload.get(self.usage_identifier_claim)
            if type(usage_key) is not str or not usage_key:
                usage_key = None
        if self.hook is not None:
            decided = new_entry(VerifiedEntry, (expires, None, resource, principal, context, denial, issuer.name, kid, payload, usage_key))
            return self._hooked(decided, token, event, now)
        result = self._respond(len(token), resource, method_arn is None, principal, context, denial, usage_key, False)
        entry = new_entry(VerifiedEntry, (expires, result, resource, principal, context, denial, issuer.name, kid, payload, usage_key))
        if expires > now:  # a token accepted within the leeway past its exp is not worth a cache slot
            self.cache.put(token, entry)
        if not denial and not self.log.debug_enabled:
            counts = self._counts
            counts["Allow"] = counts.get("Allow", 0) + 1
        else:
            self._decided(entry, token, event, now)
        return result

    def _hooked(self, decided: VerifiedEntry, token: str, event: Mapping[str, Any], now: float) -> dict[str, Any]:
        """A freshly verified token's answer when a hook is configured: the hook asked for `event`;
        cached with its answer (FASTAUTHZ_AUTHORIZE_READS=claims) or without it, so that every hit
        asks again (the default)."""
        if self.hook_cache_seconds is not None:
            decided = decided._replace(expires=min(decided.expires, now + self.hook_cache_seconds))
        result, answered = self._ask_hook(decided, token, event)
        stored = decided._replace(method_arn=ASK_HOOK) if self.hook_reads_event else answered
        if stored.expires > now:  # not so with FASTAUTHZ_AUTHORIZE_CACHE_SECONDS=0: verified and asked every time
            self.cache.put(token, stored)
        self._decided(answered, token, event, now)
        return result

    def _rebuild(self, entry: VerifiedEntry, token: str, event: Mapping[str, Any], now: float) -> dict[str, Any]:
        """A cache hit for another methodArn (an authorizer shared by several APIs, stages or front
        doors), an HTTP API 2.0 event's routeArn, or a decision whose hook reads the event: answered
        for this event as a fresh decision would be, and counted."""
        # Fields by index, as in decide(): entry[2] method_arn, [3] principal, [4] context, [5] denial, [9] usage_key.
        if entry[2] is ASK_HOOK:
            result, entry = self._ask_hook(entry, token, event)
        else:
            method_arn = event.get("methodArn")
            resource = method_arn if method_arn is not None else route_arn(event)
            result = self._respond(len(token), resource, method_arn is None, entry[3], entry[4], entry[5], entry[9], False)
        self._decided(entry, token, event, now)
        return result
