"""fastauthz: a fast JWT REQUEST authorizer for API Gateway WebSocket `$connect`.

The Lambda entry point is `fastauthz.handler.handler`. This module stays empty on purpose so that
importing the handler loads nothing but what the hot path uses.
"""

__version__ = "0.1.0"
