"""fastauthz as an AWS CDK construct (Python): `pip install 'fastauthz[cdk]'`.

    api = apigwv2.WebSocketApi(stack, "Chat")
    stage = apigwv2.WebSocketStage(stack, "Prod", web_socket_api=api, stage_name="prod", auto_deploy=True)
    WebSocketAuthorizer(
        stack, "Auth", api=api, stage=stage,
        code=Package.zip("dist/fastauthz-lambda-arm64-py3.12.zip"),      # make package; or Package.layer(arn)
        settings=AuthorizerSettings(jwks_uri="https://…/jwks.json", audiences=["my-client-id"]),
    )

It puts the authorizer on `$connect` (a REQUEST authorizer: the only kind WebSocket APIs take,
never cached), with identity sources that fit the token sources (none when a token may come from
more than one place: a missing identity source is a 401 before the authorizer runs), and API
Gateway's invoke permission scoped to this API's authorizers (CDK's WebSocketLambdaAuthorizer does
that). With `connection_lifetime` (the default) it adds what the templates in deploy/ add:
the registry table, the `$connect`, `$disconnect` and `reauth` integrations and the sweeper on a
one-minute schedule, with IAM scoped to the table and to ManageConnections on this stage
(README, "Connections that end when their token does").

This module is for CDK apps; the Lambda functions never import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from .connections.registry import DUE_INDEX, SUB_INDEX, TTL_ATTRIBUTE

# The identity source a single token source allows; with several, none (see the module's docstring).
_IDENTITY_SOURCES: dict[tuple[str, ...], list[str]] = {
    ("header",): ["route.request.header.Authorization"],
    ("query",): ["route.request.querystring.authorization"],
}


@dataclass(frozen=True)
class AuthorizerSettings:
    """The authorizer's configuration (README, Configuration), typed: each field is one variable."""

    audiences: Sequence[str]  # JWT_AUTHORIZED_AUDIENCES
    jwks_uri: str | None = None  # JWT_ISSUER_JWKS_URI
    issuer: str | None = None  # JWT_ISSUER (with jwks_uri unset: keys are derived or discovered)
    token_sources: Sequence[str] = ("header", "query", "protocol")  # JWT_TOKEN_SOURCES
    allowed_origins: Sequence[str] = ()  # JWT_ALLOWED_ORIGINS (required with the cookie source)
    required_scopes: Sequence[str] = ()  # JWT_REQUIRED_SCOPES
    leeway_seconds: int | None = None  # JWT_LEEWAY_SECONDS
    more: Mapping[str, str] = field(default_factory=dict)  # any other setting, by its variable name

    def environment(self) -> dict[str, str]:
        if not (self.jwks_uri or self.issuer):
            raise ValueError("AuthorizerSettings: set jwks_uri or issuer (JWT_ISSUER_JWKS_URI, JWT_ISSUER)")
        if not self.audiences:
            raise ValueError("AuthorizerSettings: audiences (JWT_AUTHORIZED_AUDIENCES) is empty")
        if "cookie" in self.token_sources and not self.allowed_origins:
            raise ValueError("AuthorizerSettings: the cookie source needs allowed_origins (JWT_ALLOWED_ORIGINS)")
        variables = {
            "JWT_ISSUER_JWKS_URI": self.jwks_uri,
            "JWT_ISSUER": self.issuer,
            "JWT_AUTHORIZED_AUDIENCES": ",".join(self.audiences),
            "JWT_TOKEN_SOURCES": ",".join(self.token_sources),
            "JWT_ALLOWED_ORIGINS": ",".join(self.allowed_origins) or None,
            "JWT_REQUIRED_SCOPES": ",".join(self.required_scopes) or None,
            "JWT_LEEWAY_SECONDS": None if self.leeway_seconds is None else str(self.leeway_seconds),
        }
        return {name: value for name, value in variables.items() if value} | dict(self.more)

    def identity_sources(self) -> list[str]:
        return list(_IDENTITY_SOURCES.get(tuple(self.token_sources), []))


@dataclass(frozen=True)
class Package:
    """Where the functions' code comes from: the zip `make package` builds, or a published layer."""

    code: lambda_.Code
    layer_arn: str | None = None
    architecture: str = "arm64"
    python_version: str = "3.12"

    @classmethod
    def zip(cls, path: str, architecture: str = "arm64", python_version: str = "3.12") -> Package:
        return cls(lambda_.Code.from_asset(path), None, architecture, python_version)

    @classmethod
    def layer(cls, arn: str, architecture: str = "arm64", python_version: str = "3.12") -> Package:
        # The function's own code is a stub: its handlers import fastauthz from /opt/python.
        return cls(lambda_.Code.from_inline("# fastauthz runs from its layer (/opt/python)\n"), arn, architecture, python_version)

    def function(self, scope: Construct, id: str, handler: str, **options: Any) -> lambda_.Function:
        layers = [lambda_.LayerVersion.from_layer_version_arn(scope, f"{id}Layer", self.layer_arn)] if self.layer_arn else None
        return lambda_.Function(
            scope,
            id,
            code=self.code,
            handler=handler,
            layers=layers,
            runtime=getattr(lambda_.Runtime, f"PYTHON_{self.python_version.replace('.', '_')}"),
            architecture=lambda_.Architecture.ARM_64 if self.architecture == "arm64" else lambda_.Architecture.X86_64,
            **options,
        )


def _acknowledge(scope: Construct, rule: str, reason: str) -> None:
    """Acknowledge a cdk-nag AwsSolutions finding on this construct's own resources, with the reason,
    so that an app running the pack sees only its own findings."""
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=f"AwsSolutions::AwsSolutions-{rule}", reason=reason))


class WebSocketAuthorizer(Construct):  # type: ignore[misc]  # (the CDK is jsii-generated: Any to mypy here)
    """The fastauthz authorizer on a WebSocket API's `$connect`, and optionally the connection-lifetime
    resources (`connection_lifetime`, on by default). Without them, give the `$connect` integration
    (`connect_integration`); with them it is `fastauthz.connections.on_connect`."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        api: apigwv2.WebSocketApi,
        stage: apigwv2.WebSocketStage,
        code: Package,
        settings: AuthorizerSettings,
        connection_lifetime: bool = True,
        connect_integration: apigwv2.WebSocketRouteIntegration | None = None,
        memory_size: int = 512,  # CPU scales with memory: a verify takes half the time at 512 MB as at 128 MB
    ) -> None:
        super().__init__(scope, id)
        environment = settings.environment()
        self.function = code.function(
            self, "Function", "fastauthz.handler.handler", memory_size=memory_size, timeout=cdk.Duration.seconds(5), environment=environment
        )
        self.authorizer = authorizers.WebSocketLambdaAuthorizer(
            "Authorizer", self.function, authorizer_name="fastauthz", identity_source=settings.identity_sources()
        )
        self.table: dynamodb.Table | None = None
        self.connection_functions: dict[str, lambda_.Function] = {}
        self.routes: list[apigwv2.WebSocketRoute] = []
        self.manage_resource: str | None = None
        if connection_lifetime:
            connect_integration = self._connection_lifetime(api, stage, code, environment)
        elif connect_integration is None:
            raise ValueError("WebSocketAuthorizer: give a connect_integration, or keep connection_lifetime on")
        api.add_route("$connect", integration=connect_integration, authorizer=self.authorizer)
        self._acknowledge_findings(code)

    def _acknowledge_findings(self, code: Package) -> None:
        """cdk-nag's AwsSolutions findings on this construct's own resources, acknowledged with the
        reason, so that an app running the pack sees only its own."""
        for function in [self.function, *self.connection_functions.values()]:
            _acknowledge(
                function,
                "IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "AWSLambdaBasicExecutionRole: the function writes its logs to CloudWatch Logs, nothing more",
            )
            _acknowledge(function, "L1", f"python{code.python_version} is the runtime the code was built for (make package PYTHON_VERSION)")
        if self.manage_resource is not None:
            for name in ("Reauth", "Sweeper"):
                _acknowledge(
                    self.connection_functions[name],
                    f"IAM5[Resource::{self.manage_resource}]",
                    "One connection id per call, on this API's stage only: the narrowest resource ManageConnections takes",
                )
        for route in self.routes:
            _acknowledge(route, "APIG4", "API Gateway authorizes a WebSocket API on $connect only; this route's connection passed it")
        if self.table is not None:
            _acknowledge(self.table, "DDB3", "Rows live a day at most and describe connections a restore could not bring back")

    def _connection_lifetime(
        self, api: apigwv2.WebSocketApi, stage: apigwv2.WebSocketStage, code: Package, authorizer_environment: dict[str, str]
    ) -> apigwv2.WebSocketRouteIntegration:
        """The registry table, the $disconnect and reauth routes, the sweeper; returns the $connect integration."""
        self.table = table = dynamodb.Table(
            self,
            "Connections",
            partition_key=dynamodb.Attribute(name="connectionId", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(point_in_time_recovery_enabled=False),
            removal_policy=cdk.RemovalPolicy.DESTROY,  # rows live a day at most: nothing to keep
        )
        table.add_global_secondary_index(  # the sweeper reads only what is due, by the minute of the deadline
            index_name=DUE_INDEX,
            partition_key=dynamodb.Attribute(name="bucket", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="deadline", type=dynamodb.AttributeType.NUMBER),
        )
        table.add_global_secondary_index(  # sign-out: every connection of a user
            index_name=SUB_INDEX,
            partition_key=dynamodb.Attribute(name="sub", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )
        management_endpoint = f"https://{api.api_id}.execute-api.{cdk.Aws.REGION}.{cdk.Aws.URL_SUFFIX}/{stage.stage_name}"
        common = {"FASTAUTHZ_CONNECTIONS_TABLE": table.table_name, "FASTAUTHZ_MANAGEMENT_ENDPOINT": management_endpoint}
        stack = cdk.Stack.of(self)
        manage = iam.PolicyStatement(  # this API's connections, on this stage only
            actions=["execute-api:ManageConnections"],
            resources=[stack.format_arn(service="execute-api", resource=api.api_id, resource_name=f"{stage.stage_name}/*/@connections/*")],
        )
        # How cdk-nag names that resource in its IAM5 finding (a wildcard: one connection id per call).
        api_logical_id = stack.resolve(stack.get_logical_id(api.node.default_child))
        region = "<AWS::Region>" if cdk.Token.is_unresolved(stack.region) else stack.region
        account = "<AWS::AccountId>" if cdk.Token.is_unresolved(stack.account) else stack.account
        self.manage_resource = f"arn:<AWS::Partition>:execute-api:{region}:{account}:<{api_logical_id}>/{stage.stage_name}/*/@connections/*"
        # The table and its two indexes by name (grant_read_write_data would grant <table>/index/*).
        data = iam.PolicyStatement(
            actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"],
            resources=[table.table_arn, f"{table.table_arn}/index/{DUE_INDEX}", f"{table.table_arn}/index/{SUB_INDEX}"],
        )
        functions = {}
        for name, handler, memory, timeout in (
            ("Connect", "on_connect", 128, 5),
            ("Disconnect", "on_disconnect", 128, 5),
            ("Reauth", "on_reauth", 512, 5),  # verifies a signature, with the authorizer's own settings
            ("Sweeper", "sweeper", 1769, 60),  # 1 vCPU: 530-1,100 closes/s (bench/sweep_rate.py)
        ):
            environment = common | (authorizer_environment if name == "Reauth" else {})
            function = code.function(
                self,
                name,
                f"fastauthz.connections.{handler}",
                memory_size=memory,
                timeout=cdk.Duration.seconds(timeout),
                environment=environment,
            )
            function.add_to_role_policy(data)
            if name in ("Reauth", "Sweeper"):
                function.add_to_role_policy(manage)
            functions[name] = function
        self.routes = [
            api.add_route("$disconnect", integration=integrations.WebSocketLambdaIntegration("Disconnect", functions["Disconnect"])),
            api.add_route("reauth", integration=integrations.WebSocketLambdaIntegration("Reauth", functions["Reauth"])),
        ]
        events.Rule(
            self,
            "SweepEveryMinute",
            schedule=events.Schedule.rate(cdk.Duration.minutes(1)),
            targets=[targets.LambdaFunction(functions["Sweeper"])],
        )
        self.connection_functions = functions
        return integrations.WebSocketLambdaIntegration("Connect", functions["Connect"])
