"""Lambda entry point: `fastauthz.handler.handler`. Cold path at import, hot path per call.

The Authorizer is built once, at import, from the environment: a bad configuration raises
ConfigError here, which fails the cold start with a message naming the variable. The handler is
its `handle` method (one implementation of the Lambda contract, which the tests and the library
share): `handler(event, context)` returns the policy or raises Exception("Unauthorized").
"""

from __future__ import annotations

from .authorizer import Authorizer

authorizer = Authorizer.from_env()  # the library's constructor: the handler is configured as from_env() users are
handler = authorizer.handle
