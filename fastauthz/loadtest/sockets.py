"""Closing a load test's WebSocket so that locust can always stop the greenlet holding it."""

from __future__ import annotations

import contextlib
from typing import Any

import websocket


def close(connection: Any) -> None:
    """Send the close frame and drop the socket. Not websocket-client's close(): it waits up to 3 s for
    the server's close frame inside a bare `except: pass`, which swallows the GreenletExit that locust
    stops a user with, so the user never stops and the run never ends (the hang of round three)."""
    with contextlib.suppress(OSError, websocket.WebSocketException):
        connection.send_close()
    connection.shutdown()
