"""Sign-out: close every open connection of a user. Cold path (a function or `fastauthz disconnect`)."""

from __future__ import annotations

from collections.abc import Callable

from ..errors import ConfigError
from .aws import Management
from .environment import management_for, shared_registry
from .registry import Registry


def disconnect_user(
    sub: str,
    registry: Registry | None = None,
    management: Management | None = None,
    issuer: str | None = None,
) -> int:
    """Close every connection of `sub` from `issuer` (any spelling of it the authorizer accepts,
    when its configuration is in the environment); without `issuer`, of every issuer: a `sub` is
    unique only within its issuer. Returns how many were closed."""
    registry = registry or shared_registry()
    management = management or management_for(None)
    matches = _same_issuer_as(issuer) if issuer is not None else None
    closed = 0
    for connection_id in registry.of_user(sub):
        if matches is not None:
            connection = registry.get(connection_id)  # the sub index holds keys only: the row says the issuer
            if connection is None or not matches(connection.issuer):
                continue
        management.close(connection_id)
        registry.forget(connection_id)
        closed += 1
    return closed


def _same_issuer_as(issuer: str) -> Callable[[str], bool]:
    """Whether a row's issuer is `issuer`: by the authorizer's configuration where the environment
    has one (a Cognito pool's issuer forms, replica Regions), else exactly."""
    from ..authorizer import Authorizer

    try:
        authorizer = Authorizer.from_env(load_keys=False, write=lambda line: None)
    except ConfigError:
        return lambda other: other == issuer
    return lambda other: authorizer.same_issuer(issuer, other)
