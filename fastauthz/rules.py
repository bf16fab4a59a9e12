"""Authorization beyond what the token proves: required claims and your own hook.

Both run after the signature and the registered claims, and only when configured: an authorizer
without them never calls into this module on a decision (the instruction gate shows it). Their
answer is cached with the verified token, like the rest of the decision.

Required claims (JWT_REQUIRED_CLAIMS, or `required_claims` per issuer): a JSON object of claim name
-> expected value. A scalar must equal the claim, or be one of its elements when the claim is a
list (Cognito's `cognito:groups`); a list of expected values means any of them.

The hook (FASTAUTHZ_AUTHORIZE=package.module:function) is called as function(claims, event):
True or None allows as built; False denies (403, denied_by_hook); a dict allows with these extra
context entries (string, number or boolean values); raising fastauthz.Unauthorized refuses with a
401; any other exception fails closed (401, hook_error, logged at ERROR with the exception type).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .cache import VerifiedEntry, new_entry
from .errors import ConfigError, Rejected, truncate
from .policy import route_arn

if TYPE_CHECKING:
    from .logs import Log

Hook = Callable[[dict[str, Any], Any], Any]
RequiredClaims = tuple[tuple[str, tuple[Any, ...]], ...]  # (claim, accepted values), in the order given
CompiledClaims = tuple[tuple[str, frozenset[tuple[Any, type]]], ...]  # (claim, {(accepted value, its type)})
_SCALARS = (str, int, float, bool)


def parse_required_claims(document: object, variable: str) -> RequiredClaims | None:
    """The configured object, checked and normalised; None when empty. Raises ConfigError."""
    if document is None or document == {}:
        return None
    if not isinstance(document, dict):
        raise ConfigError(variable, 'expected a JSON object of claim name -> value, e.g. {"cognito:groups": "chat-users"}')
    rules = []
    for name, expected in document.items():
        accepted = tuple(expected) if isinstance(expected, list) else (expected,)
        if not accepted or not all(type(value) in _SCALARS for value in accepted):
            raise ConfigError(variable, f"{name!r}: expected a string, number or boolean, or a non-empty list of them")
        rules.append((name, accepted))
    return tuple(rules)


def claims_satisfy(payload: Mapping[str, Any], required: CompiledClaims) -> bool:
    """Whether every required claim holds: the claim equals an accepted value, or (a list claim)
    holds one. Types must match too: "1" is not 1, and true is not 1."""
    for name, accepted in required:
        value = payload.get(name)
        for item in value if type(value) is list else (value,):
            kind = type(item)
            if kind in _SCALARS and (item, kind) in accepted:
                break
        else:
            return False
    return True


def claims_predicate(required: RequiredClaims) -> Callable[[Mapping[str, Any]], bool]:
    """claims_satisfy bound to `required`, with each claim's accepted values as a set of
    (value, type) pairs: one hash lookup per claim element on the decision path."""
    compiled: CompiledClaims = tuple((name, frozenset((wanted, type(wanted)) for wanted in accepted)) for name, accepted in required)
    return lambda payload: claims_satisfy(payload, compiled)


def load_hook(spec: str, variable: str = "FASTAUTHZ_AUTHORIZE") -> Hook:
    """Import `package.module:function` at cold start. Raises ConfigError naming the variable."""
    import importlib

    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ConfigError(variable, f"expected package.module:function, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(variable, f"cannot import {module_name!r}: {error}") from None
    except Exception as error:  # the module itself failed: the cold start still names the variable
        raise ConfigError(variable, f"importing {module_name!r} raised {type(error).__name__}: {truncate(str(error))}") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ConfigError(variable, f"{module_name!r} has no function {attribute!r}")
    return function  # type: ignore[no-any-return]


def consult_hook(hook: Hook, claims: dict[str, Any], event: Any) -> tuple[str, dict[str, Any] | None]:
    """(denial, extra context) from the hook's answer: ("", None) allows as built, ("denied_by_hook",
    None) denies, ("", {...}) allows with more context. Raises Rejected for a 401: the hook's own
    Unauthorized, or hook_error for anything else it raised or answered."""
    try:
        answer = hook(claims, event)
    except Rejected:
        raise
    except Exception as error:
        raise Rejected("hook_error", truncate(f"{type(error).__name__}: {error}")) from None
    if answer is True or answer is None:
        return "", None
    if answer is False:
        return "denied_by_hook", None
    if type(answer) is dict and all(type(key) is str and type(value) in _SCALARS for key, value in answer.items()):
        return "", answer
    raise Rejected(
        "hook_error",
        truncate(f"answered {type(answer).__name__}: expected True, False, None or a dict of string, number or boolean values"),
    )


class AskHook:
    """The hook's part of a decision, for the authorizer: asked with a verified token's claims and the
    event being decided, fresh or from the cache, and by verify()."""

    __slots__ = ("hook", "log", "respond")

    def __init__(self, hook: Hook, log: Log, respond: Callable[..., dict[str, Any]]) -> None:
        self.hook = hook
        self.log = log
        self.respond = respond  # Policies.respond

    def answer(self, decided: VerifiedEntry, token: str, event: Mapping[str, Any]) -> tuple[dict[str, Any], VerifiedEntry]:
        """The answer to `event` from a decision made before the hook, and the decision with the
        hook's answer (a Deny, more context, a usage key). The rules' Deny is not the hook's to undo:
        it is not asked then. Raises Rejected (401) as the hook does."""
        method_arn = event.get("methodArn")
        resource = method_arn if method_arn is not None else route_arn(event)  # no API Gateway shape: refused before the hook
        # Fields by index on the cache-hit path (authorizer.decide says why): [3] principal, [4] context,
        # [5] denial, [8] claims, [9] usage_key.
        principal, context, denial, usage_key, extra = decided[3], decided[4], decided[5], decided[9], None
        if not denial:
            denial, extra = self.consult(decided[8], event, principal)
            if extra is not None:
                context = {**context, **extra}
                if "usageIdentifierKey" in extra:  # the hook's answer wins over the claim
                    usage_key = context.pop("usageIdentifierKey")
                    if type(usage_key) is not str or not usage_key:
                        raise Rejected("hook_error", "usageIdentifierKey must be a non-empty string")
        result = self.respond(len(token), resource, method_arn is None, principal, context, denial, usage_key, extra is not None)
        # tuple.__new__, not NamedTuple._replace (a Python-level _make: ~3,000 instructions per hit).
        answered = new_entry(
            VerifiedEntry, (decided[0], result, resource, principal, context, denial, decided[6], decided[7], decided[8], usage_key)
        )
        return result, answered

    def check(self, claims: dict[str, Any], event: Mapping[str, Any] | None, principal: str) -> None:
        """verify()'s use of the hook: raise Rejected with its Deny or refusal."""
        denial, _ = self.consult(claims, event, principal)
        if denial:
            raise Rejected(denial)

    def consult(self, claims: dict[str, Any], event: Mapping[str, Any] | None, principal: str) -> tuple[str, dict[str, Any] | None]:
        """(denial, extra context), given a copy of the claims; a failing hook is logged at ERROR."""
        try:
            return consult_hook(self.hook, dict(claims), event)
        except Rejected as rejection:
            if rejection.reason == "hook_error":
                self.log.error("authorization hook failed: refusing", reason="hook_error", error=rejection.detail, sub=truncate(principal))
            raise
