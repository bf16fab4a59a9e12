"""Locust load test of WebSocket `$connect` against a deployed API Gateway stage or the local one.

    locust -f loadtest/locustfile.py --host wss://<api>.execute-api.<region>.amazonaws.com/<stage> \\
        --tokens command:./get-tokens.sh --token-in query --mix valid=70,repeated=20,expired=10 \\
        --scenario storm --users 200 --run-time 2m --headless --csv results/run --html results/run.html

Each user opens a real WebSocket (websocket-client: plain sockets, which locust's gevent makes
cooperative), timing the handshake as a locust request named `connect[<kind>]`, judged by
loadtest/core.py (options, thresholds, verdict). REST and HTTP APIs: loadtest/http_locustfile.py.
"""

from __future__ import annotations

import time

import websocket
from locust import User, constant_throughput, task

from loadtest import core
from loadtest.core import ScenarioShape  # noqa: F401 (locust finds the load shape in this module)


class WebSocketConnectUser(User):
    """Connect, classify, optionally hold and exchange a message, close; again."""

    wait_time = constant_throughput(5.0)

    @task
    def connect(self) -> None:
        options = self.environment.parsed_options
        kind, token = core.next_token()
        assert self.host is not None  # --host: locust refuses to start without one
        url, headers, subprotocols = self.host, [], None
        if token is not None:
            if options.token_in == "header":
                headers.append(f"Authorization: Bearer {token}")
            elif options.token_in == "query":
                url = f"{url}{'&' if '?' in url else '?'}{options.query_param}={token}"
            else:
                subprotocols = ["bearer", token]
        started = time.perf_counter()
        outcome, connection, error = "error", None, None
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
        elapsed = (time.perf_counter() - started) * 1000
        core.record(self.environment, "WS", "connect", kind, outcome, elapsed, error)
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
                connection.close()


core.paced.append(WebSocketConnectUser)
