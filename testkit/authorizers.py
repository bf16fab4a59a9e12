"""An Authorizer on the tests' settings, with an injectable clock and its log lines collected, and what
it decided for an event."""

from __future__ import annotations

import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

from fastauthz.authorizer import Authorizer
from fastauthz.config import load_settings
from fastauthz.errors import Rejected

from .tokens import AUDIENCE, ISSUER, NOW

# A test's fixture that imports fastauthz.handler afresh with these environment variables set.
LoadHandler = Callable[..., ModuleType]


class Clock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self, now: float = NOW) -> None:
        self.now = float(now)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def base_env(jwks_uri: str, **overrides: str | None) -> dict[str, str]:
    """The function's environment for the test issuer's keys at `jwks_uri`; None removes a variable."""
    env: dict[str, str | None] = {
        "JWT_ISSUER_JWKS_URI": jwks_uri,
        "JWT_ISSUER": ISSUER,
        "JWT_AUTHORIZED_AUDIENCES": AUDIENCE,
        "FASTAUTHZ_METRICS": "false",
        **overrides,
    }
    return {k: v for k, v in env.items() if v is not None}


class Logs(list[dict[str, Any]]):
    """Collects the authorizer's JSON log lines."""

    def write(self, line: str) -> None:
        self.append(json.loads(line))

    def reasons(self) -> list[str]:
        return [str(r["reason"]) for r in self if "reason" in r]

    def text(self) -> str:
        return "\n".join(json.dumps(r) for r in self)


def make_authorizer(jwks_uri: str, clock: Callable[[], float] | None = None, logs: Logs | None = None, **env: str | None) -> Authorizer:
    settings = load_settings(base_env(jwks_uri, **env))
    return Authorizer(settings, clock=clock or Clock(), write=(logs if logs is not None else Logs()).write)


def outcome(authorizer: Authorizer, event: dict[str, Any]) -> tuple[str, Any]:
    """('allow'|'deny', result) or ('unauthorized', reason) or ('error', exception), as a handler of
    one's own learns them: decide(raising=True)."""
    try:
        result = authorizer.decide(event, raising=True)
    except Rejected as refusal:
        return "unauthorized", refusal.reason
    except Exception as error:
        return "error", error
    assert result is not None  # with raising=True a refusal raises
    effect = str(result["policyDocument"]["Statement"][0]["Effect"])
    return effect.lower(), result


def unauthorized(module: ModuleType, event: dict[str, Any]) -> None:
    """The handler module refuses the event with what API Gateway turns into a 401: Exception("Unauthorized")."""
    try:
        module.handler(event, None)
    except Exception as error:
        assert type(error) is Exception and str(error) == "Unauthorized", repr(error)
    else:
        raise AssertionError("the handler did not refuse the event")


def policy_allows(result: dict[str, Any], method_arn: str) -> bool:
    """What API Gateway does with the policy (the local stage's evaluation: explicit Deny wins)."""
    from fastauthz.dev.apigw import policy_allows as evaluate

    return evaluate(result["policyDocument"], method_arn)
