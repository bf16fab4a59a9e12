"""Lambda entry point: `fastauthz.handler.handler`. Cold path at import, hot path per call.

The Authorizer is built once, at import, from the environment: a bad configuration raises
ConfigError here, which fails the cold start with a message naming the variable. The handler is
its `handle` method (one implementation of the Lambda contract, which the tests and the library
share): `handler(event, context)` returns the policy or raises Exception("Unauthorized").

The cyclic garbage collector is paused while the imports and the authorizer are built: they
allocate tens of thousands of objects that all live as long as the execution environment, and the
collections they trigger found nothing to free while costing ~2.5 ms of every cold start
(bench/coldstart.py). Those objects are then frozen (gc.freeze) so that later collections never
walk them again.
"""

from __future__ import annotations

import gc
import sys

_collecting = gc.isenabled()
gc.disable()
try:
    from .authorizer import Authorizer

    # The library's constructor: the handler is configured as from_env() users are. Its log is stdout,
    # which is CloudWatch Logs in Lambda, wherever the module is imported.
    authorizer = Authorizer.from_env(write=sys.stdout.write)
    handler = authorizer.handle
finally:
    gc.freeze()
    if _collecting:
        gc.enable()
