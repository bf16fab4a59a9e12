"""The model every reader fills (authorizers, routes, permissions, environments, tables, packages), and
the small adders the readers share."""

from __future__ import annotations

import json
import re
from typing import Any


class Finding:
    def __init__(self, level: str, where: str, message: str) -> None:
        self.level, self.where, self.message = level, where, message

    def __str__(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


class Model:
    def __init__(self) -> None:
        self.authorizers: list[dict[str, Any]] = []  # name, type, ttl, identity_sources, front (websocket, rest, http)
        self.http_authorizers: list[dict[str, Any]] = []  # name, payload (format version), simple (responses)
        self.simple_responses_env: list[str] = []  # FASTAUTHZ_HTTP_SIMPLE_RESPONSES values in the authorizer's environment
        self.allowed_origins_env: list[str] = []  # JWT_ALLOWED_ORIGINS values in the authorizer's environment
        self.routes: list[dict[str, Any]] = []  # key, authorized (bool)
        self.authorizer_permissions: list[str] = []  # source ARNs of permissions on the authorizer function
        self.authorized_apis: list[str] = []  # AUTHORIZED_APIS values found in the authorizer's environment
        self.unscoped_permissions: list[str] = []  # API Gateway invoke permissions without a SourceArn
        self.packages: list[dict[str, Any]] = []  # the function zips named: path (as written), runtime, architecture
        self.manage_connections: list[str] = []  # resources of execute-api:ManageConnections grants (connection lifetime)
        self.connection_handlers: set[str] = set()  # fastauthz.connections handlers the functions run
        self.tables: list[dict[str, Any]] = []  # DynamoDB tables: name, indexes {name: [hash, range]}, ttl (attribute)


def literal(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def add_handler(model: Model, handler: Any) -> None:
    if isinstance(handler, str) and handler.startswith("fastauthz.connections."):
        model.connection_handlers.add(handler.removeprefix("fastauthz.connections."))


def collect_manage_connections(properties: dict[str, Any], model: Model) -> None:
    """The resources every statement granting execute-api:ManageConnections names, anywhere in a
    function's Policies or an IAM policy or role."""

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            actions = node.get("Action")
            actions = [actions] if isinstance(actions, str) else actions
            if isinstance(actions, list) and any(a in ("execute-api:ManageConnections", "execute-api:*", "*") for a in actions):
                resources = node.get("Resource")
                for resource in resources if isinstance(resources, list) else [resources]:
                    model.manage_connections.append(arn_text(resource) or "*")
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(properties.get("Policies") or properties.get("PolicyDocument") or [])


def cfn_table(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    indexes = {
        index.get("IndexName"): [key.get("AttributeName") for key in index.get("KeySchema") or []]
        for index in properties.get("GlobalSecondaryIndexes") or []
    }
    ttl = properties.get("TimeToLiveSpecification") or {}
    return {"name": name, "indexes": indexes, "ttl": ttl.get("AttributeName") if ttl.get("Enabled") in (True, "true") else None}


def functions_in(value: Any) -> set[str]:
    """The logical ids of the functions an ARN expression refers to (Fn::GetAtt X.Arn, ${X.Arn})."""
    text = json.dumps(value)
    return {name for pair in re.findall(r"\$\{(\w+)\.Arn\}|\"Fn::GetAtt\": \[\"(\w+)\", \"Arn\"\]", text) for name in pair if name}


def add_function_authorizer(arn: Any, functions: set[str]) -> None:
    """Remember the function an authorizer's FunctionArn names (its environment is checked)."""
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        target = arn["Fn::GetAtt"]
        functions.add(target.split(".")[0] if isinstance(target, str) else target[0])


def source_list(value: Any) -> list[str]:
    """Identity sources as a list, from a list or a comma-separated string (REST's IdentitySource)."""
    if isinstance(value, list):
        return [str(item) for item in value]
    return [part.strip() for part in value.split(",")] if isinstance(value, str) else []


def add_http_authorizer(model: Model, name: Any, payload: Any, simple: Any, ttl: Any, sources: list[str] | None = None) -> None:
    model.authorizers.append({"name": name, "type": "REQUEST", "ttl": ttl, "front": "http", "identity_sources": sources or []})
    model.http_authorizers.append(
        {"name": name, "payload": str(payload) if payload is not None else None, "simple": simple in (True, "true")}
    )


def arn_text(source: Any) -> str | None:
    """A SourceArn as text: a literal, Fn::Sub's template, or Fn::Join's literal parts (references
    dropped); None when there is none."""
    if source is None:
        return None
    if isinstance(source, str):
        return source
    if isinstance(source, dict) and "Fn::Sub" in source:
        template = source["Fn::Sub"]
        return str(template[0] if isinstance(template, list) else template)
    if isinstance(source, dict) and "Fn::Join" in source:
        separator, parts = source["Fn::Join"]
        return str(separator).join(part if isinstance(part, str) else "*" for part in parts)
    return "*"
