"""Locust load test of a REST or HTTP API behind fastauthz, deployed or local (`fastauthz stage --http`).

    locust -f loadtest/http_locustfile.py --host https://<api>.execute-api.<region>.amazonaws.com/<stage> \\
        --path /messages --tokens command:./get-tokens.sh --users 100 --run-time 2m --headless

Each user sends real HTTP requests (a requests session, cooperative under locust's gevent) with the token in the
Authorization header (or --token-in query), named `request[<kind>]`. A valid token must get 200 (the
integration's answer), a refused one 401, or 403 with --refuse-with deny or --simple-responses (an
HTTP API 2.0 authorizer answering isAuthorized); the options, thresholds and verdict are
loadtest/core.py's, as for WebSocket `$connect` (loadtest/locustfile.py).
"""

from __future__ import annotations

import time
from typing import Any

import requests
from locust import User, constant_throughput, events, task

from loadtest import core
from loadtest.core import ScenarioShape  # noqa: F401 (locust finds the load shape in this module)
from loadtest.tokens import expected_status


@events.init_command_line_parser.add_listener
def _http_options(parser: Any) -> None:
    parser.add_argument("--path", default="/messages", help="the route requested, under --host")


def http_expectation(kind: str, options: Any) -> int:
    if kind == "none":  # no token: the identity source is missing, API Gateway's own 401 (the authorizer never runs)
        return 401
    status = expected_status(kind, "deny" if options.simple_responses else options.refuse_with)
    return 200 if status == 101 else status


core.expectation[0] = http_expectation


class HttpRequestUser(User):
    """One request with a token of some kind, classified by its status; again."""

    wait_time = constant_throughput(5.0)

    def on_start(self) -> None:
        self.session = requests.Session()  # keep-alive, as a client of an API would

    @task
    def request(self) -> None:
        options = self.environment.parsed_options
        kind, token = core.next_token()
        path, headers = options.path, {}
        if token is not None:
            if options.token_in == "query":
                path = f"{path}{'&' if '?' in path else '?'}{options.query_param}={token}"
            else:
                headers["Authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        outcome, error = "error", None
        assert self.host is not None  # --host: locust refuses to start without one
        try:
            response = self.session.get(self.host + path, headers=headers, timeout=options.connect_timeout, allow_redirects=False)
            outcome = str(response.status_code)
        except requests.Timeout:
            outcome = "timeout"
        except requests.RequestException as failure:  # a connection error is an error, not a decision
            error = failure
        core.record(self.environment, "HTTP", "request", kind, outcome, (time.perf_counter() - started) * 1000, error)


core.paced.append(HttpRequestUser)
