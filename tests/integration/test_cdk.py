"""The CDK construct (fastauthz.cdk), synthesized offline: the template asserted with
aws_cdk.assertions, linted with cfn-lint, held to cdk-nag's AwsSolutions pack (each suppression
justified where it is made) and to make deploy-check's own rules. jsii runs the CDK in node: skipped
where node is absent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

if shutil.which("node") is None:
    pytest.skip("the CDK (jsii) needs node, which is not installed", allow_module_level=True)
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
cdk = pytest.importorskip("aws_cdk", reason="pip install 'fastauthz[cdk]'")

from aws_cdk import aws_apigatewayv2 as apigwv2  # noqa: E402
from aws_cdk.assertions import Match, Template  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from fastauthz.cdk import AuthorizerSettings, Package, WebSocketAuthorizer  # noqa: E402
from tools.deploycheck import check, read  # noqa: E402

pytestmark = pytest.mark.slow
SETTINGS = AuthorizerSettings(jwks_uri="https://issuer.example.com/.well-known/jwks.json", audiences=["app-client"])


@pytest.fixture(scope="module")
def zip_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tools.package import build, host_arch

    work = tmp_path_factory.mktemp("zip")
    path, _ = build(host_arch(), f"{sys.version_info.major}.{sys.version_info.minor}", work / "dist", work=work)
    return str(path)


def synthesize(code: Package, **options: Any) -> tuple[Any, Any, Template]:
    app = cdk.App()
    stack = cdk.Stack(app, "Chat", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    api = apigwv2.WebSocketApi(stack, "Api", route_selection_expression="$request.body.action")
    stage = apigwv2.WebSocketStage(stack, "Prod", web_socket_api=api, stage_name="prod", auto_deploy=True)
    WebSocketAuthorizer(stack, "Auth", api=api, stage=stage, code=code, settings=options.pop("settings", SETTINGS), **options)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    if ACCEPTED:
        cdk.Validations.of(stack).acknowledge(*ACCEPTED)
    return app, stack, Template.from_stack(stack)


# Each AwsSolutions finding this app accepts, and why. The construct acknowledges its own resources'
# (fastauthz/cdk.py says why for each); anything else fails the synth.
ACCEPTED = [
    cdk.Acknowledgment(id="AwsSolutions::AwsSolutions-APIG1", reason="A test app: the stage's access logs are the API owner's choice")
]


def test_the_authorizer_is_a_request_authorizer_on_connect_only_with_a_scoped_permission(zip_path: str) -> None:
    _, _, template = synthesize(Package.zip(zip_path))
    template.has_resource_properties("AWS::ApiGatewayV2::Authorizer", {"AuthorizerType": "REQUEST", "IdentitySource": []})
    template.has_resource_properties("AWS::ApiGatewayV2::Route", {"RouteKey": "$connect", "AuthorizationType": "CUSTOM"})
    for key in ("$disconnect", "reauth"):
        template.has_resource_properties("AWS::ApiGatewayV2::Route", {"RouteKey": key, "AuthorizationType": "NONE"})
    permission = json.dumps(template.find_resources("AWS::Lambda::Permission"))
    assert "/authorizers/" in permission
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Handler": "fastauthz.handler.handler",
            "Architectures": ["arm64"],
            "Environment": {"Variables": Match.object_like({"JWT_TOKEN_SOURCES": "header,query,protocol"})},
        },
    )


def test_the_connection_lifetime_resources_are_there_and_scoped(zip_path: str) -> None:
    _, _, template = synthesize(Package.zip(zip_path))
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
            "GlobalSecondaryIndexes": Match.array_with(
                [Match.object_like({"IndexName": "by-deadline"}), Match.object_like({"IndexName": "by-sub"})]
            ),
        },
    )
    template.has_resource_properties("AWS::Events::Rule", {"ScheduleExpression": "rate(1 minute)"})
    handlers = {props["Properties"]["Handler"] for props in template.find_resources("AWS::Lambda::Function").values()}
    assert {f"fastauthz.connections.{h}" for h in ("on_connect", "on_disconnect", "on_reauth", "sweeper")} <= handlers


def test_identity_sources_follow_the_token_sources(zip_path: str) -> None:
    header_only = AuthorizerSettings(jwks_uri=SETTINGS.jwks_uri, audiences=["app-client"], token_sources=["header"])
    _, _, template = synthesize(Package.zip(zip_path), settings=header_only)
    template.has_resource_properties("AWS::ApiGatewayV2::Authorizer", {"IdentitySource": ["route.request.header.Authorization"]})


def test_a_layer_replaces_the_zip() -> None:
    arn = "arn:aws:lambda:eu-west-1:123456789012:layer:fastauthz-arm64-py312:3"
    _, _, template = synthesize(Package.layer(arn))
    functions = template.find_resources("AWS::Lambda::Function")
    assert functions and all(props["Properties"]["Layers"] == [arn] for props in functions.values())


def test_the_synthesized_template_passes_cfn_lint_cdk_nag_and_the_deploy_check(zip_path: str, tmp_path: Path) -> None:
    app, _, template = synthesize(Package.zip(zip_path))
    app.synth()  # cdk-nag's AwsSolutions pack validates here: a finding not acknowledged above fails the synth
    path = tmp_path / "chat.template.json"
    path.write_text(json.dumps(template.to_json()))
    # W3005: the CDK writes DependsOn on each function's role beside the GetAtt that already orders them.
    linted = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--ignore-checks", "W3005", "--", str(path)], capture_output=True, text=True
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    model = read(path)
    assert model.connection_handlers == {"on_connect", "on_disconnect", "on_reauth", "sweeper"} and model.manage_connections
    assert [str(finding) for finding in check(model, str(path)) if finding.level == "error"] == []


def test_settings_that_cannot_work_stop_the_synth() -> None:
    with pytest.raises(ValueError, match="JWT_ALLOWED_ORIGINS"):
        AuthorizerSettings(jwks_uri=SETTINGS.jwks_uri, audiences=["a"], token_sources=["cookie"]).environment()
    with pytest.raises(ValueError, match="connect_integration"):
        synthesize(Package.layer("arn:aws:lambda:eu-west-1:123456789012:layer:x:1"), connection_lifetime=False)


def test_the_readme_example_synthesizes(zip_path: str) -> None:
    import re

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = re.search(r"```python\n(.*?)```", readme[readme.index("**CDK** (Python") :], re.S)[1]  # type: ignore[index]
    app = cdk.App()
    stack = cdk.Stack(app, "Readme")
    exec(example.replace("dist/fastauthz-lambda-arm64-py3.12.zip", zip_path), {"stack": stack})
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::ApiGatewayV2::Authorizer", 1)
    template.resource_count_is("AWS::DynamoDB::Table", 1)
