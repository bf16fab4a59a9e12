"""fastauthz: a fast JWT REQUEST authorizer for API Gateway WebSocket `$connect`.

The Lambda entry point is `fastauthz.handler.handler`. As a library:

    from fastauthz import Authorizer, Rejected, Unauthorized

    authorizer = Authorizer.from_env()          # the handler's configuration (JWT_* variables)
    claims = authorizer.verify(token)           # or raise Rejected, with .reason
    result = authorizer.decide(event)           # the handler's decision for an API Gateway event

The names below are imported on first use (PEP 562), so importing the handler loads nothing but
what its hot path uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.3.0"
__all__ = ["Authorizer", "ConfigError", "KeysUnavailable", "Rejected", "Unauthorized", "__version__"]

_EXPORTS = {
    "Authorizer": "fastauthz.authorizer",
    "ConfigError": "fastauthz.errors",
    "KeysUnavailable": "fastauthz.errors",
    "Rejected": "fastauthz.errors",
    "Unauthorized": "fastauthz.errors",
}

if TYPE_CHECKING:
    from .authorizer import Authorizer
    from .errors import ConfigError, KeysUnavailable, Rejected, Unauthorized


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fastauthz' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
