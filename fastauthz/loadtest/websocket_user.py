"""The load test of WebSocket `$connect` (the locustfile `fastauthz loadtest` runs by default).

Each connect opens a real WebSocket (websocket-client: plain sockets, which locust's gevent makes
cooperative) and times the handshake as a locust request named `connect[<kind>]`, judged by core.py.
Closed model: `WebSocketConnectUser`s, each connecting again after its previous connect; open model
(`--rate`): `WebSocketRateDriver` starts connects on schedule (arrivals.py). REST and HTTP APIs:
http_user.py.
"""

from __future__ import annotations

import time

import websocket
from locust import User, constant_throughput, task

from fastauthz.loadtest import core
from fastauthz.loadtest.arrivals import RateDriver
from fastauthz.loadtest.core import ScenarioShape  # noqa: F401 (locust finds the load shape in this module)
from fastauthz.loadtest.sockets import close


def connect_once(user: User) -> None:
    """One connect with a token of the mix's next kind: classify, optionally hold and exchange a message, close."""
    options = user.environment.parsed_options
    picked = core.next_token(user.environment, "WS", "connect")
    if picked is None:
        return
    kind, token = picked
    assert user.host is not None  # --host: locust refuses to start without one
    url, headers, subprotocols = user.host, [], None
    if token is not None:
        if options.token_in == "header":
            headers.append(f"Authorization: Bearer {token}")
        elif options.token_in == "query":
            url = f"{url}{'&' if '?' in url else '?'}{options.query_param}={token}"
        else:
            subprotocols = ["bearer", token]
    started = time.perf_counter()
    outcome, connection = "error", None
    error: Exception | None = None
    failure: Exception | None
    try:
        connection = websocket.create_connection(
            url, header=headers, subprotocols=subprotocols, timeout=options.connect_timeout, enable_multithread=False
        )
        outcome = "101"
    except websocket.WebSocketBadStatusException as refused:
        outcome = str(refused.status_code)
    except (TimeoutError, websocket.WebSocketTimeoutException):
        outcome = "timeout"
    except (OSError, websocket.WebSocketException) as failure:
        error = failure
    core.record(user.environment, "WS", "connect", kind, outcome, (time.perf_counter() - started) * 1000, error)
    if connection is not None:
        try:
            if options.message:
                connection.send(options.message)
                connection.recv()
            if options.hold_seconds:
                time.sleep(options.hold_seconds)
        except websocket.WebSocketException:
            pass
        finally:
            close(connection)


class WebSocketConnectUser(User):
    """Closed model: connect, classify, close; again after --connects-per-user's pace."""

    wait_time = constant_throughput(5.0)

    @task
    def connect(self) -> None:
        connect_once(self)


class WebSocketRateDriver(RateDriver):
    """Open model: this process's share of the --rate schedule."""

    def connect_once(self) -> None:
        connect_once(self)


core.paced.append(WebSocketConnectUser)
core.drivers.append(WebSocketRateDriver)
