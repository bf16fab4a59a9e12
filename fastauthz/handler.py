"""Lambda entry point: `fastauthz.handler.handler`. Cold path at import, hot path per call.

The Authorizer is built once, at import, from the environment: a bad configuration raises
ConfigError here, which fails the cold start with a message naming the variable.
"""

from __future__ import annotations

from typing import Any

from .authorizer import Authorizer
from .config import load_settings

authorizer = Authorizer(load_settings())


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """API Gateway WebSocket `$connect` REQUEST authorizer."""
    result = authorizer.decide(event)
    if result is None:
        # Raised here, not inside the authorizer: Lambda's Python runtime extracts, formats and
        # logs every frame of the traceback of an error (source line and caret anchors included),
        # 7-12 µs per frame here (bench/runtime_cost.py), so a refusal should carry one frame.
        raise Exception("Unauthorized")
    return result
