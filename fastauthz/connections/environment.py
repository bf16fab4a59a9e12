"""The connection functions' settings, read through the authorizer's own table (fastauthz.settings),
and what one execution environment keeps between invocations: the registry, and the authorizer that
decides a re-auth with the deployment's whole configuration. Cold path.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..settings import Environment
from .aws import Management
from .registry import Registry

if TYPE_CHECKING:
    from ..authorizer import Authorizer


def setting(name: str) -> Any:
    """A declared variable's value, parsed by its row (fastauthz.settings). Raises ConfigError."""
    return Environment(os.environ).value(name)


def grace_seconds() -> float:
    """FASTAUTHZ_SWEEP_GRACE_SECONDS, default the authorizer's leeway (JWT_LEEWAY_SECONDS)."""
    grace = setting("FASTAUTHZ_SWEEP_GRACE_SECONDS")
    return float(setting("JWT_LEEWAY_SECONDS") if grace is None else grace)


def registry_from_env() -> Registry:
    table = setting("FASTAUTHZ_CONNECTIONS_TABLE")
    if not table:
        raise ConfigError("FASTAUTHZ_CONNECTIONS_TABLE", "name the DynamoDB table of open connections")
    return Registry(table)


def management_for(event: dict[str, Any] | None) -> Management:
    """FASTAUTHZ_MANAGEMENT_ENDPOINT, else the endpoint of the stage the event came through."""
    endpoint = setting("FASTAUTHZ_MANAGEMENT_ENDPOINT")
    if not endpoint and event is not None:
        context = event.get("requestContext") or {}
        endpoint = f"https://{context['domainName']}/{context['stage']}"
    if not endpoint:
        raise ConfigError(
            "FASTAUTHZ_MANAGEMENT_ENDPOINT",
            "the sweeper and sign-out need the stage's management endpoint, https://<api>.execute-api.<region>.amazonaws.com/<stage>",
        )
    return Management(endpoint)


_registry: Registry | None = None
_authorizer: Authorizer | None = None


def shared_registry() -> Registry:
    global _registry
    if _registry is None:
        _registry = registry_from_env()
    return _registry


def shared_authorizer() -> Authorizer:
    """The authorizer, configured as the `$connect` one is (JWT_*, FASTAUTHZ_*): a re-auth is
    decided by the same rules, the hook included. Built on first use; a bad setting raises ConfigError."""
    global _authorizer
    if _authorizer is None:
        from ..authorizer import Authorizer

        _authorizer = Authorizer.from_env(load_keys=True)
    return _authorizer


def reset() -> None:
    """Forget the shared registry and authorizer (tests that change the environment)."""
    global _registry, _authorizer
    _registry = _authorizer = None
