"""`make demo`: a dev issuer serving JWKS on 127.0.0.1 and the authorizer configured against it,
driven through scripted `$connect` events (the exact shape API Gateway sends), then a burst.

Prints one row per case (decision, the HTTP status API Gateway would answer, reason, latency) and
exits non-zero if any decision differs from the expected one.
"""

from __future__ import annotations

import base64
import copy
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from ..authorizer import Authorizer
from ..config import load_settings
from ..errors import KeysUnavailable
from .issuer import DevIssuer

STATUS = {"allow": 101, "deny": 403, "unauthorized": 401, "error": 500}

# A $connect REQUEST-authorizer event as API Gateway sends it (fields, casing, value formats).
EVENT: dict[str, Any] = {
    "type": "REQUEST",
    "methodArn": "arn:aws:execute-api:us-east-1:123456789012:demoapi123/local/$connect",
    "headers": {"Host": "demoapi123.execute-api.us-east-1.amazonaws.com", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
                "Sec-WebSocket-Version": "13", "Connection": "upgrade", "Upgrade": "websocket",
                "X-Forwarded-For": "127.0.0.1", "X-Forwarded-Port": "443", "X-Forwarded-Proto": "https"},
    "multiValueHeaders": {},
    "queryStringParameters": {},
    "multiValueQueryStringParameters": {},
    "stageVariables": {},
    "requestContext": {"routeKey": "$connect", "eventType": "CONNECT", "stage": "local", "apiId": "demoapi123",
                       "connectionId": "demoConnId0000=", "requestId": "demoRequestId00=", "messageDirection": "IN",
                       "identity": {"sourceIp": "127.0.0.1"}, "connectedAt": 0, "requestTimeEpoch": 0,
                       "domainName": "demoapi123.execute-api.us-east-1.amazonaws.com"},
}


def event_with(token: str | None, where: str = "header") -> dict[str, Any]:
    event = copy.deepcopy(EVENT)
    now_ms = int(time.time() * 1000)
    event["requestContext"]["connectedAt"] = event["requestContext"]["requestTimeEpoch"] = now_ms
    if token is None:
        return event
    if where == "header":
        event["headers"]["Authorization"] = f"Bearer {token}"
        event["multiValueHeaders"]["Authorization"] = [f"Bearer {token}"]
    elif where == "query":
        event["queryStringParameters"]["authorization"] = token
        event["multiValueQueryStringParameters"]["authorization"] = [token]
    elif where == "protocol":
        event["headers"]["Sec-WebSocket-Protocol"] = f"bearer, {token}"
    return event


class Runner:
    def __init__(self, authorizer: Authorizer, logs: list[dict[str, Any]]) -> None:
        self.authorizer = authorizer
        self.logs = logs
        self.failures = 0

    def decide(self, event: dict[str, Any]) -> tuple[str, str, float]:
        """(decision, reason, seconds)."""
        mark = len(self.logs)
        started = time.perf_counter()
        try:
            result = self.authorizer.handle(event)
            decision = result["policyDocument"]["Statement"][0]["Effect"].lower()
        except KeysUnavailable:
            decision = "error"
        except Exception:
            decision = "unauthorized"
        elapsed = time.perf_counter() - started
        reasons = [line.get("reason", "") for line in self.logs[mark:] if "reason" in line]
        return decision, (reasons[-1] if reasons else ""), elapsed

    def case(self, name: str, event: dict[str, Any], expected: str) -> None:
        decision, reason, elapsed = self.decide(event)
        ok = decision == expected
        self.failures += not ok
        mark = "ok " if ok else "BAD"
        print(f"  {mark} {name:<48} {decision:<13} {STATUS[decision]:>4}  {reason:<17} {elapsed * 1e6:9.0f} µs")


def burst(runner: Runner, issuer: DevIssuer, count: int) -> None:
    fresh = [issuer.mint(sub=f"user-{i}", scope="chat") for i in range(count // 2)]
    repeated = issuer.mint(sub="reconnecting-user", scope="chat")
    events = [event_with(token) for token in fresh] + [event_with(repeated) for _ in range(count - len(fresh))]
    events = [e for pair in zip(events[: len(fresh)], events[len(fresh):], strict=True) for e in pair]
    hits_before = runner.authorizer.metrics.counts.get("CacheHit", 0)
    latencies = []
    started = time.perf_counter()
    for event in events:
        decision, _, elapsed = runner.decide(event)
        latencies.append(elapsed)
        runner.failures += decision != "allow"
    wall = time.perf_counter() - started
    latencies.sort()
    hits = runner.authorizer.metrics.counts.get("CacheHit", 0) - hits_before
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"\nburst: {len(events)} connects ({len(fresh)} distinct tokens, {len(events) - len(fresh)} repeats of one) in one "
          f"execution environment\n  {len(events) / wall:,.0f} connects/s   p50 {statistics.median(latencies) * 1e6:.0f} µs   "
          f"p99 {p99 * 1e6:.0f} µs   cache hits {hits}")


def main(argv: list[str] | None = None) -> int:
    logs: list[dict[str, Any]] = []
    write: Callable[[str], Any] = lambda line: logs.append(orjson.loads(line))  # noqa: E731
    with DevIssuer(audience="demo-app") as issuer:
        env = {**issuer.environment(), "JWT_REQUIRED_SCOPES": "chat", "FASTAUTHZ_METRICS": "false", "JWT_JWKS_COOLDOWN_SECONDS": "0"}
        print(f"dev issuer {issuer.issuer} (JWKS {issuer.jwks_uri}), audience demo-app, required scope 'chat'\n")
        started = time.perf_counter()
        authorizer = Authorizer(load_settings(env), write=write)
        print(f"authorizer cold start (config + key fetch): {(time.perf_counter() - started) * 1000:.1f} ms\n")
        runner = Runner(authorizer, logs)
        print(f"  {'':3} {'case':<48} {'decision':<13} {'HTTP':>4}  {'reason':<17} {'latency':>12}")
        valid = issuer.mint(sub="ada", scope="chat")
        runner.case("valid token in Authorization header", event_with(valid, "header"), "allow")
        runner.case("same token again (verified-token cache)", event_with(valid, "header"), "allow")
        runner.case("valid token in ?authorization= query", event_with(issuer.mint(sub="bob", scope="chat"), "query"), "allow")
        runner.case("valid token in Sec-WebSocket-Protocol", event_with(issuer.mint(sub="eve", scope="chat"), "protocol"), "allow")
        runner.case("valid token without scope 'chat'", event_with(issuer.mint(sub="mallory", scope="read")), "deny")
        runner.case("expired token", event_with(issuer.mint(scope="chat", ttl=-60)), "unauthorized")
        runner.case("wrong audience", event_with(issuer.mint(scope="chat", aud="another-app")), "unauthorized")
        h, _, s = valid.split(".")
        forged_payload = issuer.mint(sub="admin", scope="chat").split(".")[1]
        runner.case("tampered payload (sub=admin)", event_with(f"{h}.{forged_payload}.{s}"), "unauthorized")
        alg_none = base64.urlsafe_b64encode(orjson.dumps({"alg": "none", "typ": "JWT"})).rstrip(b"=").decode()
        runner.case("alg none", event_with(f"{alg_none}.{forged_payload}."), "unauthorized")
        runner.case("no token", event_with(None), "unauthorized")
        old_key = issuer.current
        new_kid = issuer.rotate()
        runner.case(f"rotation: token from new key {new_kid[:16]}", event_with(issuer.mint(sub="ada", scope="chat")), "allow")
        runner.case("rotation: token from the removed key", event_with(issuer.mint(sub="old", scope="chat", key=old_key)), "unauthorized")
        runner.case("rotation: cached token of the removed key", event_with(valid), "unauthorized")
        burst(runner, issuer, count=int(argv[0]) if argv else 2000)
        print(f"\nkey fetches served by the dev issuer: {issuer.fetches}")
    if runner.failures:
        print(f"\n{runner.failures} unexpected decision(s)")
        return 1
    print("\nall decisions as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
