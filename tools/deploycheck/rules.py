"""The checks: each rule over the model of one template, as Findings (errors and warnings)."""

from __future__ import annotations

import re
from pathlib import Path

from fastauthz.policy import connect_pattern_problem

from .model import Finding, Model


def check_packages(model: Model, where: str, base: Path) -> list[Finding]:
    """Every zip a template names exists (relative to the template) and fits its function's runtime
    and architecture: bytecode for that Python, shared objects for that machine and its glibc."""
    from tools.package import runtime_problems

    findings = []
    for package in model.packages:
        path = (base / package["path"]).resolve()
        runtime = str(package["runtime"] or "")
        if not path.exists():
            findings.append(
                Finding(
                    "error",
                    where,
                    f"{package['path']} does not exist: run `make package` (PYTHON_VERSION={runtime.removeprefix('python') or '?'})",
                )
            )
            continue
        findings += [
            Finding("error", where, f"{package['path']}: {problem}") for problem in runtime_problems(path, runtime, package["architecture"])
        ]
    return findings


def check(model: Model, where: str) -> list[Finding]:
    findings: list[Finding] = []
    if not model.authorizers:
        findings.append(Finding("error", where, "no authorizer found"))
    findings += check_other_fronts(model, where)
    websocket = [a for a in model.authorizers if a.get("front", "websocket") == "websocket"]
    for authorizer in websocket:
        name = authorizer.get("name") or "authorizer"
        if authorizer.get("type") != "REQUEST":
            findings.append(
                Finding("error", where, f"{name}: WebSocket APIs take only REQUEST authorizers, not {authorizer.get('type')!r}")
            )
        if authorizer.get("ttl") not in (None, 0, "0"):
            findings.append(Finding("error", where, f"{name}: a result TTL is refused for WebSocket APIs (authorizers are never cached)"))
        sources = authorizer.get("identity_sources") or []
        if sources:
            headers = [s for s in sources if ".header." in str(s)]
            findings.append(
                Finding(
                    "warning",
                    where,
                    f"{name}: identity sources {sources}: a connection missing any of them gets 401 "
                    "before the authorizer runs" + ("; browsers cannot send headers on a WebSocket" if headers else ""),
                )
            )
    for route in model.routes:
        if route["authorized"] and route["key"] != "$connect":
            findings.append(Finding("error", where, f"route {route['key']}: authorizers apply to $connect only"))
    if websocket and not any(r["key"] == "$connect" and r["authorized"] for r in model.routes):
        findings.append(Finding("error", where, "no $connect route uses the authorizer"))
    for permission in model.unscoped_permissions:
        findings.append(
            Finding(
                "error",
                where,
                f"{permission}: an invoke permission for API Gateway without a SourceArn lets any API, in any account, invoke the function",
            )
        )
    for resource in model.manage_connections:
        # arn:…:execute-api:<region>:<account>:<api>/<stage>/<method>/@connections/<id>: a grant without the
        # stage and method segments (the Serverless Framework's default, `*/@connections/*`) is every API's.
        if not re.search(r"[^/:]+/[^/]+/[^/]+/@connections/", resource):
            findings.append(
                Finding(
                    "error", where, f"execute-api:ManageConnections on {resource!r}: scope it to <api>/<stage>/*/@connections/* of this API"
                )
            )
    findings += check_connections(model, where)
    if model.authorizers and not any("/authorizers/" in arn or arn.endswith("/*") for arn in model.authorizer_permissions):
        findings.append(Finding("error", where, "no permission lets API Gateway invoke the authorizer (source ARN <api>/authorizers/<id>)"))
    for value in model.authorized_apis:
        for pattern in (p.strip() for p in value.split(",") if p.strip()):
            problem = connect_pattern_problem(pattern)
            if problem:
                findings.append(Finding("error", where, f"AUTHORIZED_APIS {problem}"))
    return findings


def check_connections(model: Model, where: str) -> list[Finding]:
    """The connection-lifetime functions (README, Connections that end when their token does): they
    can close connections, and their table answers the queries fastauthz.connections makes."""
    from fastauthz.connections.registry import TTL_ATTRIBUTE, table_definition

    if not model.connection_handlers:
        return []
    findings = []
    if model.connection_handlers & {"on_reauth", "sweeper"} and not model.manage_connections:
        findings.append(
            Finding(
                "error", where, "the re-auth and sweeper functions need execute-api:ManageConnections on <api>/<stage>/*/@connections/*"
            )
        )
    expected = {
        index["IndexName"]: [key["AttributeName"] for key in index["KeySchema"]]
        for index in table_definition("connections")["GlobalSecondaryIndexes"]
    }
    for table in model.tables:
        for index, keys in expected.items():
            if table["indexes"].get(index) != keys:
                findings.append(
                    Finding(
                        "error",
                        where,
                        f"table {table['name']}: needs the global secondary index {index} on {keys} (connections.table_definition)",
                    )
                )
        if table["ttl"] != TTL_ATTRIBUTE:
            findings.append(
                Finding("error", where, f"table {table['name']}: enable TTL on {TTL_ATTRIBUTE!r}, or rows of lost connections stay forever")
            )
    if "on_connect" in model.connection_handlers and not any(route["key"] == "$disconnect" for route in model.routes):
        findings.append(
            Finding("warning", where, "no $disconnect route: closed connections stay in the registry until the sweeper or the TTL")
        )
    return findings


def check_other_fronts(model: Model, where: str) -> list[Finding]:
    """REST and HTTP API authorizers on the same function (README, Outcomes)."""
    findings = []
    for authorizer in model.authorizers:
        if authorizer.get("front") == "rest" and str(authorizer.get("type")).upper() not in ("TOKEN", "REQUEST"):
            findings.append(Finding("error", where, f"{authorizer.get('name')}: a REST API's Lambda authorizer is TOKEN or REQUEST"))
    for authorizer in model.http_authorizers:
        name, payload = authorizer["name"], authorizer["payload"]
        if payload not in ("1.0", "2.0"):
            findings.append(Finding("error", where, f"{name}: an HTTP API's Lambda authorizer needs a payload format version, 1.0 or 2.0"))
        if authorizer["simple"] and payload != "2.0":
            findings.append(Finding("error", where, f"{name}: simple responses need payload format 2.0"))
    findings += check_origins_and_result_cache(model, where)
    simple = any(authorizer["simple"] for authorizer in model.http_authorizers)
    configured = any(value.lower() == "true" for value in model.simple_responses_env)
    if simple and not configured:
        findings.append(
            Finding(
                "error", where, "an HTTP API authorizer has simple responses on: set FASTAUTHZ_HTTP_SIMPLE_RESPONSES=true on the function"
            )
        )
    if configured and model.http_authorizers and not simple:
        findings.append(
            Finding(
                "error",
                where,
                "FASTAUTHZ_HTTP_SIMPLE_RESPONSES=true, but no HTTP API authorizer has simple responses on: it expects a policy",
            )
        )
    return findings


def check_origins_and_result_cache(model: Model, where: str) -> list[Finding]:
    """JWT_ALLOWED_ORIGINS holds on a REST or HTTP API only where API Gateway's result cache keys on
    the Origin too: an Allow earned on an allowed page would otherwise answer any page (and a page
    not allowed could plant a Deny) for the TTL. A TOKEN event carries no Origin at all."""
    if not any(value.strip() not in ("", "*") for value in model.allowed_origins_env):
        return []
    findings = []
    for authorizer in model.authorizers:
        front, name, ttl = authorizer.get("front"), authorizer.get("name"), authorizer.get("ttl")
        if front not in ("rest", "http"):
            continue
        if str(authorizer.get("type")).upper() == "TOKEN":
            message = "a TOKEN authorizer's event carries no Origin, so JWT_ALLOWED_ORIGINS cannot hold: use a REQUEST authorizer"
            findings.append(Finding("error", where, f"{name}: {message}"))
            continue
        caching = ttl not in (0, "0") and (ttl is not None or front == "rest")  # REST caches 300 s unless told
        if caching and not any("origin" in str(source).lower() for source in authorizer.get("identity_sources") or []):
            message = (
                "caches results by identity sources without Origin while JWT_ALLOWED_ORIGINS is set: add Origin to them, or a TTL of 0"
            )
            findings.append(Finding("error", where, f"{name}: {message}"))
    return findings
