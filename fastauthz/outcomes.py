"""What follows a decision besides its answer: the rejected-token cache, the metrics and the log
line of a refusal (401) or a Deny (403), and the Deny a refusal answers with in Deny mode. Hot path
on refusals and Denies; an Allow only counts itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import DENYING_REASONS, LASTING_REASONS, Rejected, truncate
from .logs import INFO, Log
from .policy import simple_response

if TYPE_CHECKING:
    from .cache import RejectedCache, VerifiedEntry
    from .metrics import Metrics
    from .policy import Policies


class Outcomes:
    """The bookkeeping of decisions, shared by everything the authorizer answers."""

    __slots__ = ("answers_refusals", "log", "metrics", "policies", "refuse_with_deny", "rejected", "simple_responses")

    def __init__(
        self,
        log: Log,
        metrics: Metrics,
        rejected: RejectedCache,
        policies: Policies,
        refuse_with_deny: bool,
        simple_responses: bool = False,
    ) -> None:
        self.log = log
        self.metrics = metrics
        self.rejected = rejected
        self.policies = policies
        self.refuse_with_deny = refuse_with_deny
        self.simple_responses = simple_responses
        # Whether a refusal may be answered rather than raised (refusal() decides per event).
        self.answers_refusals = refuse_with_deny or simple_responses

    def refused(
        self,
        rejection: Rejected,
        event: Mapping[str, Any],
        token: str | None,
        parsed: tuple[dict[str, Any], dict[str, Any]] | None,
        now: float,
    ) -> dict[str, Any] | None:
        """Remember a lasting refusal, count it and write its log line (`parsed`: the token's
        unverified header and payload, when it got that far); returns what decide() answers: None
        (a 401), or in Deny mode, or for a refusal of the request (bad_origin), a Deny policy."""
        reason = rejection.reason
        if token is not None and reason in LASTING_REASONS:
            self.rejected.add(token, now, reason)
        denying = reason in DENYING_REASONS
        metrics = self.metrics
        counts = metrics.counts
        if denying:
            counts["Deny"] = counts.get("Deny", 0) + 1
        else:
            counts["Unauthorized"] = counts.get("Unauthorized", 0) + 1
        name = "Rejected." + reason
        counts[name] = counts.get(name, 0) + 1
        if self.log.threshold <= INFO:
            issuer = kid = sub = None
            if parsed is not None:
                header, payload = parsed
                issuer = truncate(payload.get("iss"))
                kid = header.get("kid")  # a string of at most 256 characters or None (token.py)
                if "sub" in payload:
                    sub = truncate(payload["sub"])
            # connection_id(event), written out: a call costs every refusal ~370 instructions (make bench-check).
            context = event.get("requestContext") if type(event) is dict else None
            self.log.decision(
                now,
                "denied" if denying else "unauthorized",
                reason,
                rejection.detail,
                token,
                issuer,
                kid,
                "sub_unverified",
                sub,
                truncate(context.get("connectionId")) if type(context) is dict else None,
            )
        if now >= metrics.next_flush:
            metrics.flush(now)
        if denying or self.answers_refusals:
            return self.refusal(event, reason, denying)
        return None

    def decided(self, entry: VerifiedEntry, token: str, event: Mapping[str, Any], now: float) -> None:
        """Count an Allow or a Deny of a verified token; a Deny writes the line a refusal writes, so
        that `fastauthz inspect` finds a user's 403 as it finds a 401."""
        if not entry.denial:
            counts = self.metrics.counts
            counts["Allow"] = counts.get("Allow", 0) + 1
            if self.log.debug_enabled:
                self.log.debug("allowed", sub=truncate(entry.principal), issuer=entry.issuer)
            return
        counts = self.metrics.counts
        counts["Deny"] = counts.get("Deny", 0) + 1
        if self.log.threshold <= INFO:
            self.log.decision(
                now, "denied", entry.denial, "", token, entry.issuer, entry.kid, "sub", truncate(entry.principal), connection_id(event)
            )

    def refusal(self, event: Mapping[str, Any], reason: str, denying: bool = True) -> dict[str, Any] | None:
        """A refusal answered rather than raised: FASTAUTHZ_REFUSE_WITH=deny (API Gateway answers
        403, the function records no error and the runtime formats no traceback), a refusal of the
        request (bad_origin), or an HTTP API 2.0 event with simple responses, `isAuthorized: false`.
        A Deny covers the methodArn (everything when it is unusable) and tells the reason in the
        context. None: raise as usual (simple responses on, and an event of another front door)."""
        method_arn = event.get("methodArn") if type(event) is dict else None
        if method_arn is None and self.simple_responses and type(event) is dict and event.get("version") == "2.0":
            return simple_response(False, {"reason": reason})
        if not (self.refuse_with_deny or denying):
            return None
        return {"principalId": "unauthorized", "policyDocument": self.policies.refusal(method_arn), "context": {"reason": reason}}


def connection_id(event: Mapping[str, Any]) -> str | None:
    """The connection id of a `$connect` event, truncated, for the decision's log line; None when absent."""
    context = event.get("requestContext") if type(event) is dict else None
    return truncate(context.get("connectionId")) if type(context) is dict else None
