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
from typing import Any

from .errors import ConfigError, Rejected, truncate

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
