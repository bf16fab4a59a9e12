"""Connections that end when their token does: the Lambda functions around the authorizer.

API Gateway authorizes a WebSocket once, on `$connect`; the connection then lives up to 2 hours
whatever its token said. These functions keep a registry of open connections in DynamoDB and close
each one when its token expires (plus a grace), unless the client re-authenticated over the socket:

  on_connect       `$connect` integration: records connectionId, sub, issuer, exp, connect time
  on_disconnect    `$disconnect`: forgets the connection
  on_reauth        the `reauth` route, {"action": "reauth", "token": "<jwt>"}: the `$connect` decision
                   (hook included), the same sub and issuer, a later exp; anything else is answered
                   and the connection closed
  sweeper          (scheduled) closes every connection past its deadline
  guard            for message routes: False once the connection's deadline has passed
  disconnect_user  sign-out: closes every connection of a sub (of one issuer, or of every issuer)

Cut by role: registry (the table), aws (boto3 and the management API), environment (settings,
through fastauthz.settings), routes, sweeper, signout. boto3 (Lambda's Python runtime has it) is
imported on first use; the authorizer's handler never imports this package.
"""

from __future__ import annotations

from .aws import Management
from .environment import grace_seconds, management_for, registry_from_env
from .registry import Connection, Registry, table_definition
from .routes import accept_echoing_subprotocol, guard, on_connect, on_disconnect, on_reauth
from .signout import disconnect_user
from .sweeper import SWEEP_WORKERS, SweepReport, sweep, sweeper

__all__ = [
    "SWEEP_WORKERS",
    "Connection",
    "Management",
    "Registry",
    "SweepReport",
    "accept_echoing_subprotocol",
    "disconnect_user",
    "grace_seconds",
    "guard",
    "management_for",
    "on_connect",
    "on_disconnect",
    "on_reauth",
    "registry_from_env",
    "sweep",
    "sweeper",
    "table_definition",
]
