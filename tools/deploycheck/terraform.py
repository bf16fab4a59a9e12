"""Terraform (a module directory or a .tf file, through python-hcl2) into the model."""

from __future__ import annotations

import json
import re
from typing import Any

from .model import Model, add_handler, add_http_authorizer, source_list


def _unquote(value: Any) -> Any:
    return value.strip('"') if isinstance(value, str) else value


def read_terraform(document: dict[str, Any], model: Model) -> None:
    # aws_apigatewayv2_api name -> its protocol_type, to tell a WebSocket API's resources from an HTTP API's.
    protocols = {
        _unquote(name): _unquote(raw.get("protocol_type"))
        for block in document.get("resource", [])
        for kind, named in block.items()
        if _unquote(kind) == "aws_apigatewayv2_api"
        for name, raw in named.items()
    }

    def protocol(properties: dict[str, Any]) -> str | None:
        reference = str(properties.get("api_id", ""))  # aws_apigatewayv2_api.<name>.id, or <name>[0].id under count
        return next((p for name, p in protocols.items() if re.search(rf"aws_apigatewayv2_api\.{re.escape(name)}\b", reference)), None)

    local_values = {_unquote(k): v for block in document.get("locals", []) for k, v in block.items() if not k.startswith("__")}
    # Handlers may sit in a local map iterated with for_each: any mention in the module counts.
    for handler in re.findall(r"fastauthz\.connections\.\w+", json.dumps(document)):
        add_handler(model, handler)
    for block in document.get("data", []):
        for kind, named in block.items():
            if _unquote(kind) != "aws_iam_policy_document":
                continue
            for raw in named.values():
                for statement in raw.get("statement") or []:
                    actions = [_unquote(a) for a in statement.get("actions") or []]
                    if any(a in ("execute-api:ManageConnections", "execute-api:*", "*") for a in actions):
                        model.manage_connections += [_unquote(_with_locals(str(r), local_values)) for r in statement.get("resources") or []]

    for block in document.get("resource", []):
        for kind, named in block.items():
            kind = _unquote(kind)
            for raw in named.values():
                # python-hcl2 may keep the quotes of HCL strings; compare without them.
                properties = {_unquote(k): _unquote(v) for k, v in raw.items()}
                if kind == "aws_api_gateway_authorizer":
                    model.authorizers.append(
                        {
                            "name": properties.get("name"),
                            "type": properties.get("type", "TOKEN"),
                            "ttl": properties.get("authorizer_result_ttl_in_seconds"),
                            "front": "rest",
                            "identity_sources": source_list(properties.get("identity_source")),
                        }
                    )
                elif kind == "aws_apigatewayv2_authorizer" and protocol(properties) == "HTTP":
                    add_http_authorizer(
                        model,
                        properties.get("name"),
                        properties.get("authorizer_payload_format_version"),
                        properties.get("enable_simple_responses"),
                        properties.get("authorizer_result_ttl_in_seconds"),
                    )
                elif kind == "aws_apigatewayv2_route" and protocol(properties) == "HTTP":
                    continue  # an HTTP API route: authorizers may guard any of them
                elif kind == "aws_apigatewayv2_authorizer":
                    model.authorizers.append(
                        {
                            "name": properties.get("name"),
                            "type": properties.get("authorizer_type"),
                            "ttl": properties.get("authorizer_result_ttl_in_seconds"),
                            "identity_sources": properties.get("identity_sources") or [],
                            "front": "websocket",
                        }
                    )
                elif kind == "aws_apigatewayv2_route":
                    model.routes.append(
                        {"key": properties.get("route_key"), "authorized": properties.get("authorization_type") == "CUSTOM"}
                    )
                elif kind == "aws_lambda_permission" and "authorizer" in str(properties.get("function_name")):
                    model.authorizer_permissions.append(str(properties.get("source_arn")))
                elif kind == "aws_dynamodb_table":
                    indexes = {
                        _unquote(index.get("name")): [_unquote(index.get(key)) for key in ("hash_key", "range_key") if index.get(key)]
                        for index in properties.get("global_secondary_index") or []
                    }
                    ttl: dict[str, Any] = next(iter(properties.get("ttl") or []), {})
                    enabled = ttl.get("enabled") in (True, "true")
                    model.tables.append(
                        {
                            "name": properties.get("name"),
                            "indexes": indexes,
                            "ttl": _unquote(ttl.get("attribute_name")) if enabled else None,
                        }
                    )
                elif kind == "aws_lambda_function":
                    for environment in properties.get("environment") or []:
                        variables = _terraform_map(environment.get("variables"), local_values)
                        value = _unquote(variables.get("AUTHORIZED_APIS"))
                        if isinstance(value, str):
                            model.authorized_apis.append(value)
                        model.simple_responses_env.append(str(_unquote(variables.get("FASTAUTHZ_HTTP_SIMPLE_RESPONSES", "false"))))
                        model.allowed_origins_env.append(str(_unquote(variables.get("JWT_ALLOWED_ORIGINS", ""))))


def _with_locals(text: str, local_values: dict[str, Any]) -> str:
    """`${local.name}` replaced by that local's text, where it is one."""

    def value(match: re.Match[str]) -> str:
        found = local_values.get(match.group(1))
        return str(_unquote(found)) if isinstance(found, str) else match.group(0)

    return re.sub(r"\$\{local\.(\w+)\}", value, text)


def _terraform_map(value: Any, local_values: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """A map argument as far as it can be read statically: a literal map, or the literal maps of the
    locals an expression such as merge(local.a, var.b) names (what var.* adds is unknown here)."""
    if isinstance(value, dict):
        return value
    merged: dict[str, Any] = {}
    if isinstance(value, str) and depth < 5:
        for name in re.findall(r"\blocal\.(\w+)", value):
            merged.update(_terraform_map(local_values.get(name), local_values, depth + 1))
    return merged
