"""The load test of a REST or HTTP API behind fastauthz (`fastauthz loadtest --api rest|http`).

Each request is a real HTTP request (a requests session, cooperative under locust's gevent) with
the token in the Authorization header (or --token-in query), named `request[<kind>]`. A valid token
must get 200 (the integration's answer), a refused one 401, or 403 with --refuse-with deny or
--simple-responses (an HTTP API 2.0 authorizer answering isAuthorized), and a request without a
token API Gateway's own 401 (its identity source is missing). Options, thresholds, verdict: core.py.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from locust import User, constant_throughput, events, task

from fastauthz.loadtest import core
from fastauthz.loadtest.arrivals import RateDriver
from fastauthz.loadtest.core import ScenarioShape  # noqa: F401 (locust finds the load shape in this module)
from fastauthz.loadtest.options import add_http_options
from fastauthz.loadtest.tokens import expected_status

events.init_command_line_parser.add_listener(add_http_options)


def http_expectation(kind: str, options: Any) -> int:
    if kind == "none":  # no token: the identity source is missing, API Gateway's own 401 (the authorizer never runs)
        return 401
    status = expected_status(kind, "deny" if options.simple_responses else options.refuse_with)
    return 200 if status == 101 else status


core.expectation[0] = http_expectation


def request_once(user: User, session: requests.Session) -> None:
    """One request with a token of the mix's next kind, classified by its status."""
    options = user.environment.parsed_options
    picked = core.next_token(user.environment, "HTTP", "request")
    if picked is None:
        return
    kind, token = picked
    path, headers = options.path, {}
    if token is not None:
        if options.token_in == "query":
            path = f"{path}{'&' if '?' in path else '?'}{options.query_param}={token}"
        else:
            headers["Authorization"] = f"Bearer {token}"
    started = time.perf_counter()
    outcome = "error"
    error: Exception | None = None
    assert user.host is not None  # --host: locust refuses to start without one
    try:
        response = session.get(user.host + path, headers=headers, timeout=options.connect_timeout, allow_redirects=False)
        outcome = str(response.status_code)
    except requests.Timeout:
        outcome = "timeout"
    except requests.RequestException as failure:  # a connection error is an error, not a decision
        error = failure
    core.record(user.environment, "HTTP", "request", kind, outcome, (time.perf_counter() - started) * 1000, error)


class HttpRequestUser(User):
    """Closed model: one request, classified by its status; again after --connects-per-user's pace."""

    wait_time = constant_throughput(5.0)

    def on_start(self) -> None:
        self.session = requests.Session()  # keep-alive, as a client of an API would

    @task
    def request(self) -> None:
        request_once(self, self.session)


class HttpRateDriver(RateDriver):
    """Open model: this process's share of the --rate schedule, each request from a pooled keep-alive session."""

    def on_start(self) -> None:
        self.idle: list[requests.Session] = []  # as many sessions as requests were ever in flight at once

    def connect_once(self) -> None:
        session = self.idle.pop() if self.idle else requests.Session()
        try:
            request_once(self, session)
        finally:
            self.idle.append(session)


core.paced.append(HttpRequestUser)
core.drivers.append(HttpRateDriver)
