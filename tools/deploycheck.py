"""Offline checks of deployment templates for the authorizer's traps, WebSocket first.

    python -m tools.deploycheck deploy/sam/template.yaml deploy/terraform deploy/serverless.yml

Reads SAM/CloudFormation (YAML or JSON), Terraform (a module directory or a .tf file) and Serverless
Framework files into one model (authorizers, routes, permissions, authorizer environments) and checks:
  - the authorizer is a REQUEST authorizer (the only type WebSocket APIs take);
  - no authorizer result TTL (WebSocket APIs refuse it);
  - the authorizer is attached to `$connect` only;
  - AUTHORIZED_APIS patterns match a `<api>/<stage>/$connect` methodArn (a REST-style
    `stage/*/*` never does: everyone gets 403);
  - API Gateway may invoke the authorizer function (a permission whose source ARN covers
    `<api>/authorizers/<id>`, not a route ARN);
  - the connection-lifetime functions (fastauthz.connections): ManageConnections granted on this
    API's `@connections` only, the registry table with the indexes and TTL the module queries;
and warns when identity sources are set (a missing one is a 401 before the authorizer runs, and a
header source shuts out browsers, which cannot set WebSocket headers).
The same function behind a REST or HTTP API (its other front doors) is checked by that API's rules:
REST authorizers are TOKEN or REQUEST; an HTTP API's is REQUEST with payload 1.0 or 2.0, simple
responses only with 2.0, and FASTAUTHZ_HTTP_SIMPLE_RESPONSES on the function exactly when an HTTP
API authorizer has simple responses on (the event cannot tell fastauthz which answer is expected).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from fastauthz.policy import connect_pattern_problem


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
        self.routes: list[dict[str, Any]] = []  # key, authorized (bool)
        self.authorizer_permissions: list[str] = []  # source ARNs of permissions on the authorizer function
        self.authorized_apis: list[str] = []  # AUTHORIZED_APIS values found in the authorizer's environment
        self.unscoped_permissions: list[str] = []  # API Gateway invoke permissions without a SourceArn
        self.packages: list[dict[str, Any]] = []  # the function zips named: path (as written), runtime, architecture
        self.manage_connections: list[str] = []  # resources of execute-api:ManageConnections grants (connection lifetime)
        self.connection_handlers: set[str] = set()  # fastauthz.connections handlers the functions run
        self.tables: list[dict[str, Any]] = []  # DynamoDB tables: name, indexes {name: [hash, range]}, ttl (attribute)


# -- readers ---------------------------------------------------------------------------------------
def _cfn_yaml(text: str) -> Any:
    import yaml  # type: ignore[import-untyped]

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        pass

    def tagged(loader: Any, tag: str, node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        name = tag.lstrip("!")
        return {"Ref" if name == "Ref" else f"Fn::{name}": value}

    Loader.add_multi_constructor("!", tagged)
    return yaml.load(text, Loader=Loader)  # noqa: S506 (SafeLoader subclass)


def _literal(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def read_cloudformation(document: dict[str, Any], model: Model) -> None:
    resources = document.get("Resources") or {}
    authorizer_functions: set[str] = set()
    scoped_permissions: list[tuple[set[str], str]] = []
    for name, resource in resources.items():
        kind, properties = resource.get("Type"), resource.get("Properties") or {}
        if kind == "AWS::Serverless::WebSocketApi":
            auth = properties.get("Auth") or {}
            if auth:
                model.authorizers.append(
                    {
                        "name": auth.get("Name", "Auth"),
                        "type": "REQUEST",
                        "ttl": auth.get("AuthorizerResultTtlInSeconds"),
                        "identity_sources": auth.get("IdentitySource") or [],
                        "front": "websocket",
                    }
                )
                arn = auth.get("AuthArn")
                if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                    target = arn["Fn::GetAtt"]
                    authorizer_functions.add(target.split(".")[0] if isinstance(target, str) else target[0])
                # SAM attaches Auth to $connect only and creates the invoke permission itself.
                model.authorizer_permissions.append("arn:aws:execute-api:*:*:*/authorizers/*")
            for key in properties.get("Routes") or {}:
                model.routes.append({"key": key, "authorized": bool(auth) and key == "$connect"})
        elif kind in ("AWS::Serverless::Api", "AWS::Serverless::HttpApi"):
            http = kind == "AWS::Serverless::HttpApi"
            for auth_name, auth in ((properties.get("Auth") or {}).get("Authorizers") or {}).items():
                if "FunctionArn" not in auth:
                    continue  # a JWT or Cognito authorizer of API Gateway's own
                _add_function_authorizer(auth.get("FunctionArn"), authorizer_functions)
                identity = auth.get("Identity") or {}
                ttl = identity.get("ReauthorizeEvery")
                if http:
                    _add_http_authorizer(
                        model, auth_name, auth.get("AuthorizerPayloadFormatVersion"), auth.get("EnableSimpleResponses"), ttl
                    )
                    if auth.get("EnableFunctionDefaultPermissions"):
                        model.authorizer_permissions.append("arn:aws:execute-api:*:*:*/authorizers/*")
                else:
                    model.authorizers.append(
                        {"name": auth_name, "type": auth.get("FunctionPayloadType", "TOKEN"), "ttl": ttl, "front": "rest"}
                    )
                    model.authorizer_permissions.append("arn:aws:execute-api:*:*:*/authorizers/*")  # SAM grants REST authorizers
        elif kind in ("AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api") and isinstance(properties.get("Body"), dict):
            # SAM's transform puts a REST or HTTP API's authorizers in its OpenAPI body.
            body = properties["Body"]
            schemes = {**(body.get("securityDefinitions") or {}), **((body.get("components") or {}).get("securitySchemes") or {})}
            for scheme_name, scheme in schemes.items():
                spec = scheme.get("x-amazon-apigateway-authorizer") or {}
                if "authorizerUri" not in spec:
                    continue
                # arn:...:functions/${Authorizer.Arn}/invocations: the function whose environment to check
                authorizer_functions.update(_functions_in(spec["authorizerUri"]))
                if kind == "AWS::ApiGatewayV2::Api":
                    _add_http_authorizer(
                        model,
                        scheme_name,
                        spec.get("authorizerPayloadFormatVersion"),
                        spec.get("enableSimpleResponses"),
                        spec.get("authorizerResultTtlInSeconds"),
                    )
                else:
                    model.authorizers.append(
                        {
                            "name": scheme_name,
                            "type": str(spec.get("type", "")).upper(),
                            "ttl": spec.get("authorizerResultTtlInSeconds"),
                            "front": "rest",
                        }
                    )
        elif kind == "AWS::ApiGateway::Authorizer":
            authorizer_functions.update(_functions_in(properties.get("AuthorizerUri")))
            model.authorizers.append(
                {
                    "name": properties.get("Name"),
                    "type": properties.get("Type"),
                    "ttl": properties.get("AuthorizerResultTtlInSeconds"),
                    "front": "rest",
                }
            )
        elif kind == "AWS::ApiGatewayV2::Authorizer":
            authorizer_functions.update(_functions_in(properties.get("AuthorizerUri")))
            if _protocol_of(resources, properties.get("ApiId")) == "HTTP":
                _add_http_authorizer(
                    model,
                    properties.get("Name"),
                    properties.get("AuthorizerPayloadFormatVersion"),
                    properties.get("EnableSimpleResponses"),
                    properties.get("AuthorizerResultTtlInSeconds"),
                )
                continue
            model.authorizers.append(
                {
                    "name": properties.get("Name"),
                    "type": properties.get("AuthorizerType"),
                    "ttl": properties.get("AuthorizerResultTtlInSeconds"),
                    "identity_sources": properties.get("IdentitySource") or [],
                    "front": "websocket",
                }
            )
        elif kind == "AWS::ApiGatewayV2::Route" and _protocol_of(resources, properties.get("ApiId")) != "HTTP":
            model.routes.append({"key": properties.get("RouteKey"), "authorized": properties.get("AuthorizationType") == "CUSTOM"})
        elif kind == "AWS::Lambda::Permission":
            text = _arn_text(properties.get("SourceArn"))
            if text is None and properties.get("Principal") == "apigateway.amazonaws.com":
                model.unscoped_permissions.append(name)
            elif text is not None and "authorizers" in text:
                model.authorizer_permissions.append(text)
            elif text is not None:
                scoped_permissions.append((_functions_in(properties.get("FunctionName")), text))
        if kind in ("AWS::Serverless::Function", "AWS::IAM::Policy", "AWS::IAM::Role"):
            _collect_manage_connections(properties, model)
        if kind == "AWS::DynamoDB::Table":
            model.tables.append(_cfn_table(name, properties))
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            _add_handler(model, properties.get("Handler"))
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            code = properties.get("CodeUri")
            if isinstance(code, str) and code.endswith(".zip") and "://" not in code:  # a local file, not an uploaded one
                # SAM's Globals.Function are every function's defaults
                defaults = ((document.get("Globals") or {}).get("Function") or {}) if kind == "AWS::Serverless::Function" else {}
                architectures = properties.get("Architectures") or defaults.get("Architectures") or ["x86_64"]
                runtime = properties.get("Runtime") or defaults.get("Runtime")
                model.packages.append({"path": code, "runtime": runtime, "architecture": architectures[0]})
    for functions, text in scoped_permissions:  # an API-scoped permission on an authorizer's function (the Framework's)
        if functions & authorizer_functions:
            model.authorizer_permissions.append(text)
    for name in authorizer_functions:
        variables = (((resources.get(name) or {}).get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
        if _literal(variables.get("AUTHORIZED_APIS")):
            model.authorized_apis.append(variables["AUTHORIZED_APIS"])
        model.simple_responses_env.append(str(variables.get("FASTAUTHZ_HTTP_SIMPLE_RESPONSES", "false")))


def _collect_manage_connections(properties: dict[str, Any], model: Model) -> None:
    """The resources every statement granting execute-api:ManageConnections names, anywhere in a
    function's Policies or an IAM policy or role."""

    def visit(node: Any) -> None:
        if isinstance(node, dict):
            actions = node.get("Action")
            actions = [actions] if isinstance(actions, str) else actions
            if isinstance(actions, list) and any(a in ("execute-api:ManageConnections", "execute-api:*", "*") for a in actions):
                resources = node.get("Resource")
                for resource in resources if isinstance(resources, list) else [resources]:
                    model.manage_connections.append(_arn_text(resource) or "*")
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(properties.get("Policies") or properties.get("PolicyDocument") or [])


def _cfn_table(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    indexes = {
        index.get("IndexName"): [key.get("AttributeName") for key in index.get("KeySchema") or []]
        for index in properties.get("GlobalSecondaryIndexes") or []
    }
    ttl = properties.get("TimeToLiveSpecification") or {}
    return {"name": name, "indexes": indexes, "ttl": ttl.get("AttributeName") if ttl.get("Enabled") in (True, "true") else None}


def _add_handler(model: Model, handler: Any) -> None:
    if isinstance(handler, str) and handler.startswith("fastauthz.connections."):
        model.connection_handlers.add(handler.removeprefix("fastauthz.connections."))


def _functions_in(value: Any) -> set[str]:
    """The logical ids of the functions an ARN expression refers to (Fn::GetAtt X.Arn, ${X.Arn})."""
    text = json.dumps(value)
    return {name for pair in re.findall(r"\$\{(\w+)\.Arn\}|\"Fn::GetAtt\": \[\"(\w+)\", \"Arn\"\]", text) for name in pair if name}


def _add_function_authorizer(arn: Any, functions: set[str]) -> None:
    """Remember the function an authorizer's FunctionArn names (its environment is checked)."""
    if isinstance(arn, dict) and "Fn::GetAtt" in arn:
        target = arn["Fn::GetAtt"]
        functions.add(target.split(".")[0] if isinstance(target, str) else target[0])


def _add_http_authorizer(model: Model, name: Any, payload: Any, simple: Any, ttl: Any) -> None:
    model.authorizers.append({"name": name, "type": "REQUEST", "ttl": ttl, "front": "http"})
    model.http_authorizers.append(
        {"name": name, "payload": str(payload) if payload is not None else None, "simple": simple in (True, "true")}
    )


def _protocol_of(resources: dict[str, Any], api: Any) -> str | None:
    """WEBSOCKET or HTTP: the ProtocolType of the AWS::ApiGatewayV2::Api an ApiId refers to."""
    if isinstance(api, dict) and "Ref" in api:
        target = resources.get(api["Ref"]) or {}
        if target.get("Type") == "AWS::Serverless::HttpApi":
            return "HTTP"
        return (target.get("Properties") or {}).get("ProtocolType")
    return None


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
        _add_handler(model, handler)
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
                        }
                    )
                elif kind == "aws_apigatewayv2_authorizer" and protocol(properties) == "HTTP":
                    _add_http_authorizer(
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


def _arn_text(source: Any) -> str | None:
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


def _framework_value(document: dict[str, Any], value: Any, depth: int = 0) -> Any:
    """A Serverless Framework value with the references this checker can follow resolved: a whole
    `${self:a.b}` (the document's own), and `${param:x}` inside it (params.default, the default case)."""
    if not isinstance(value, str) or depth > 8:
        return value
    defaults = (document.get("params") or {}).get("default") or {}
    value = re.sub(r"\$\{param:(\w+)\}", lambda m: str(defaults.get(m.group(1), m.group(0))), value)
    whole = re.fullmatch(r"\$\{self:([\w.-]+)\}", value)
    if whole is None:
        return value
    found: Any = document
    for key in whole.group(1).split("."):
        found = _framework_value(document, found, depth + 1)  # a step may itself be a reference
        found = found.get(key) if isinstance(found, dict) else None
    return _framework_value(document, found, depth + 1)


def read_serverless(document: dict[str, Any], model: Model) -> None:
    functions = document.get("functions") or {}
    provider = document.get("provider") or {}
    for name, authorizer in ((provider.get("httpApi") or {}).get("authorizers") or {}).items():
        if authorizer.get("type") == "request":  # a Lambda authorizer (type jwt: API Gateway's own)
            payload = authorizer.get("payloadVersion", "2.0")
            _add_http_authorizer(model, name, payload, authorizer.get("enableSimpleResponses"), authorizer.get("resultTtlInSeconds"))
            model.authorizer_permissions.append("arn:aws:execute-api:*:*:*/*")  # generated by the Framework for the API
    extensions = (document.get("resources") or {}).get("extensions") or {}
    for name, resource in ((document.get("resources") or {}).get("Resources") or {}).items():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::DynamoDB::Table":
            model.tables.append(_cfn_table(name, properties))
        elif resource.get("Type") in ("AWS::IAM::Role", "AWS::IAM::Policy"):
            _collect_manage_connections(properties, model)
    for statement in ((provider.get("iam") or {}).get("role") or {}).get("statements") or []:
        _collect_manage_connections({"Policies": [statement]}, model)
    for function in functions.values():
        _add_handler(model, function.get("handler"))
        environment = function.get("environment")  # or a ${self:custom...} reference, unknown here
        environment = environment if isinstance(environment, dict) else {}
        package = _framework_value(document, function.get("package"))
        artifact = package.get("artifact") if isinstance(package, dict) else None
        if isinstance(artifact, str) and artifact.endswith(".zip"):
            model.packages.append(
                {
                    "path": artifact,
                    "runtime": function.get("runtime") or provider.get("runtime"),
                    "architecture": function.get("architecture") or provider.get("architecture") or "x86_64",
                }
            )
        if function.get("handler") == "fastauthz.handler.handler":
            model.simple_responses_env.append(str(environment.get("FASTAUTHZ_HTTP_SIMPLE_RESPONSES", "false")))
        for event in function.get("events") or []:
            rest = event.get("http") if isinstance(event, dict) else None
            if isinstance(rest, dict) and isinstance(rest.get("authorizer"), dict):
                authorizer = rest["authorizer"]
                kind = str(authorizer.get("type", "token")).upper()
                model.authorizers.append(
                    {"name": authorizer.get("name"), "type": kind, "ttl": authorizer.get("resultTtlInSeconds"), "front": "rest"}
                )
                model.authorizer_permissions.append("arn:aws:execute-api:*:*:*/*")  # generated by the Framework for the API
            websocket = event.get("websocket") if isinstance(event, dict) else None
            if not isinstance(websocket, dict):
                continue
            authorizer = websocket.get("authorizer")
            model.routes.append({"key": websocket.get("route"), "authorized": authorizer is not None})
            if authorizer is not None:
                sources = authorizer.get("identitySource") if isinstance(authorizer, dict) else None
                # The Framework's default identity source is route.request.header.Auth.
                authorizer_name = authorizer if isinstance(authorizer, str) else authorizer.get("name")
                model.authorizers.append(
                    {
                        "name": authorizer_name,
                        "type": "REQUEST",
                        "ttl": None,
                        "identity_sources": ["route.request.header.Auth"] if sources is None else sources,
                        "front": "websocket",
                    }
                )
                # The Framework generates <Function>LambdaPermissionWebsockets without a SourceArn:
                # only resources.extensions can scope it (its packaged CloudFormation shows the result).
                logical = f"{str(authorizer_name)[:1].upper()}{str(authorizer_name)[1:]}LambdaPermissionWebsockets"
                scoped = _arn_text(((extensions.get(logical) or {}).get("Properties") or {}).get("SourceArn"))
                if scoped is None:
                    model.unscoped_permissions.append(f"{logical} (generated by the Framework; scope it in resources.extensions)")
                elif "authorizers" in scoped:
                    model.authorizer_permissions.append(scoped)
        value = environment.get("AUTHORIZED_APIS")
        if isinstance(value, str):
            model.authorized_apis.append(value)


def read(path: Path) -> Model:
    model = Model()
    if path.is_dir():  # a Terraform module: its .tf files are one configuration
        import hcl2

        merged: dict[str, list[Any]] = {}
        for file in sorted(path.glob("*.tf")):
            for key, blocks in hcl2.loads(file.read_text()).items():
                merged.setdefault(key, []).extend(blocks)
        read_terraform(merged, model)
        return model
    text = path.read_text()
    if path.suffix == ".tf":
        import hcl2

        read_terraform(hcl2.loads(text), model)
    else:
        document = json.loads(text) if path.suffix == ".json" else _cfn_yaml(text)
        if "Resources" in document:
            read_cloudformation(document, model)
        elif "functions" in document:
            read_serverless(document, model)
        else:
            raise ValueError(f"{path}: neither CloudFormation/SAM nor Serverless Framework")
    return model


# -- rules -----------------------------------------------------------------------------------------
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
    from fastauthz.connections import TTL_ATTRIBUTE, table_definition

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


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    errors = 0
    for path in paths:
        model = read(path)
        findings = check(model, str(path)) + check_packages(model, str(path), path.parent)
        for finding in findings:
            print(finding)
        errors += sum(f.level == "error" for f in findings)
        if not any(f.level == "error" for f in findings):
            print(f"ok: {path}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
