"""SAM and CloudFormation templates (YAML or JSON), SAM's transformed output included, into the model."""

from __future__ import annotations

from typing import Any

from .model import (
    Model,
    add_function_authorizer,
    add_handler,
    add_http_authorizer,
    arn_text,
    cfn_table,
    collect_manage_connections,
    functions_in,
    literal,
    source_list,
)


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
                add_function_authorizer(auth.get("FunctionArn"), authorizer_functions)
                identity = auth.get("Identity") or {}
                ttl = identity.get("ReauthorizeEvery")
                sources = [*(identity.get("Headers") or []), *([identity["Header"]] if "Header" in identity else [])]
                if http:
                    add_http_authorizer(
                        model, auth_name, auth.get("AuthorizerPayloadFormatVersion"), auth.get("EnableSimpleResponses"), ttl, sources
                    )
                    if auth.get("EnableFunctionDefaultPermissions"):
                        model.authorizer_permissions.append("arn:aws:execute-api:*:*:*/authorizers/*")
                else:
                    model.authorizers.append(
                        {
                            "name": auth_name,
                            "type": auth.get("FunctionPayloadType", "TOKEN"),
                            "ttl": ttl,
                            "front": "rest",
                            "identity_sources": sources,
                        }
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
                authorizer_functions.update(functions_in(spec["authorizerUri"]))
                if kind == "AWS::ApiGatewayV2::Api":
                    add_http_authorizer(
                        model,
                        scheme_name,
                        spec.get("authorizerPayloadFormatVersion"),
                        spec.get("enableSimpleResponses"),
                        spec.get("authorizerResultTtlInSeconds"),
                        source_list(spec.get("identitySource") or scheme.get("name")),
                    )
                else:
                    model.authorizers.append(
                        {
                            "name": scheme_name,
                            "type": str(spec.get("type", "")).upper(),
                            "ttl": spec.get("authorizerResultTtlInSeconds"),
                            "front": "rest",
                            "identity_sources": source_list(spec.get("identitySource") or scheme.get("name")),
                        }
                    )
        elif kind == "AWS::ApiGateway::Authorizer":
            authorizer_functions.update(functions_in(properties.get("AuthorizerUri")))
            model.authorizers.append(
                {
                    "name": properties.get("Name"),
                    "type": properties.get("Type"),
                    "ttl": properties.get("AuthorizerResultTtlInSeconds"),
                    "front": "rest",
                    "identity_sources": source_list(properties.get("IdentitySource")),
                }
            )
        elif kind == "AWS::ApiGatewayV2::Authorizer":
            authorizer_functions.update(functions_in(properties.get("AuthorizerUri")))
            if _protocol_of(resources, properties.get("ApiId")) == "HTTP":
                add_http_authorizer(
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
            text = arn_text(properties.get("SourceArn"))
            if text is None and properties.get("Principal") == "apigateway.amazonaws.com":
                model.unscoped_permissions.append(name)
            elif text is not None and "authorizers" in text:
                model.authorizer_permissions.append(text)
            elif text is not None:
                scoped_permissions.append((functions_in(properties.get("FunctionName")), text))
        if kind in ("AWS::Serverless::Function", "AWS::IAM::Policy", "AWS::IAM::Role"):
            collect_manage_connections(properties, model)
        if kind == "AWS::DynamoDB::Table":
            model.tables.append(cfn_table(name, properties))
        if kind in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
            add_handler(model, properties.get("Handler"))
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
        if literal(variables.get("AUTHORIZED_APIS")):
            model.authorized_apis.append(variables["AUTHORIZED_APIS"])
        model.simple_responses_env.append(str(variables.get("FASTAUTHZ_HTTP_SIMPLE_RESPONSES", "false")))
        model.allowed_origins_env.append(str(variables.get("JWT_ALLOWED_ORIGINS", "")))


def _protocol_of(resources: dict[str, Any], api: Any) -> str | None:
    """WEBSOCKET or HTTP: the ProtocolType of the AWS::ApiGatewayV2::Api an ApiId refers to."""
    if isinstance(api, dict) and "Ref" in api:
        target = resources.get(api["Ref"]) or {}
        if target.get("Type") == "AWS::Serverless::HttpApi":
            return "HTTP"
        return (target.get("Properties") or {}).get("ProtocolType")
    return None
