"""The deployment templates, validated offline: cfn-lint, an HCL parser, and the WebSocket rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tools.deploycheck import check, main, read

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TEMPLATES = [DEPLOY / "sam" / "template.yaml", DEPLOY / "terraform", DEPLOY / "serverless.yml"]
# The same function behind a REST API and an HTTP API (README, Outcomes); the Terraform module has
# them behind rest_and_http_apis.
FRONT_TEMPLATES = [DEPLOY / "sam" / "rest-http.yaml", DEPLOY / "terraform", DEPLOY / "serverless-rest-http.yml"]


def test_cfn_lint_accepts_the_sam_templates() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    completed = subprocess.run([str(cfn_lint), str(TEMPLATES[0]), str(FRONT_TEMPLATES[0])], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_terraform_parses_and_wires_a_request_authorizer_to_connect() -> None:
    model = read(TEMPLATES[1])
    assert [a["type"] for a in model.authorizers if a["front"] == "websocket"] == ["REQUEST"]
    assert {"key": "$connect", "authorized": True} in model.routes
    assert any("/authorizers/" in arn for arn in model.authorizer_permissions)


@pytest.mark.parametrize("template", sorted(set(TEMPLATES + FRONT_TEMPLATES)), ids=lambda p: p.name)
def test_every_template_passes_the_authorizer_rules(template: Path) -> None:
    assert [str(f) for f in check(read(template), str(template)) if f.level == "error"] == []


@pytest.mark.parametrize("template", FRONT_TEMPLATES, ids=lambda p: p.name)
def test_the_rest_and_http_templates_wire_each_api_type_to_the_function(template: Path) -> None:
    model = read(template)
    assert {(a["front"], a["type"]) for a in model.authorizers} >= {("rest", "TOKEN"), ("http", "REQUEST")}
    assert [a["payload"] for a in model.http_authorizers] == ["2.0"]
    assert model.authorizer_permissions


@pytest.fixture(scope="module")
def deploy_with_zips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/ copied beside a dist/ holding the zips its templates name (make package)."""
    import shutil

    from tools.package import build

    root = tmp_path_factory.mktemp("project")
    shutil.copytree(DEPLOY, root / "deploy", ignore=shutil.ignore_patterns("node_modules", ".serverless"))
    build("arm64", "3.12", root / "dist", work=root)
    return root / "deploy"


@pytest.mark.slow
def test_the_checker_exits_zero_on_the_shipped_templates_once_their_zips_are_built(
    deploy_with_zips: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        main(
            [
                str(deploy_with_zips / "sam" / "template.yaml"),
                str(deploy_with_zips / "terraform"),
                str(deploy_with_zips / "serverless.yml"),
                *(str(deploy_with_zips / template.relative_to(DEPLOY)) for template in FRONT_TEMPLATES),
            ]
        )
        == 0
    )


def test_a_template_naming_a_zip_that_was_not_built_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    shutil.copytree(DEPLOY, tmp_path / "deploy", ignore=shutil.ignore_patterns("node_modules", ".serverless"))
    assert main([str(tmp_path / "deploy" / "serverless.yml")]) == 1
    assert "does not exist: run `make package`" in capsys.readouterr().out


def fake_zip(path: Path, python: str, machine: int, glibc_minor: int) -> Path:
    """A zip with what inspect_zip reads: a .pyc's version tag and a shared object's ELF machine
    and GLIBC_ version needs."""
    import zipfile

    elf = b"\x7fELF" + b"\x02\x01\x01" + b"\x00" * 11 + machine.to_bytes(2, "little") + b"\x00" * 40 + f"GLIBC_2.{glibc_minor}\x00".encode()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"fastauthz/__pycache__/handler.cpython-{python.replace('.', '')}.pyc", b"")
        archive.writestr("cryptography/hazmat/bindings/_rust.abi3.so", elf)
    return path


@pytest.mark.parametrize(
    ("python", "machine", "glibc", "problem"),
    [
        ("3.12", 0xB7, 34, None),
        ("3.11", 0xB7, 17, "but the runtime is python3.12"),
        ("3.12", 0x3E, 17, "but the function runs on arm64"),
        ("3.12", 0xB7, 35, "needs GLIBC_2.35, python3.12 has 2.34"),
    ],
)
def test_a_zip_must_fit_its_functions_runtime_architecture_and_glibc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], python: str, machine: int, glibc: int, problem: str | None
) -> None:
    from tools.deploycheck import check_packages

    (tmp_path / "dist").mkdir()
    fake_zip(tmp_path / "dist" / "fastauthz-lambda-arm64-py3.12.zip", python, machine, glibc)
    template = tmp_path / "deploy" / "serverless.yml"
    template.parent.mkdir()
    template.write_text((DEPLOY / "serverless.yml").read_text())
    findings = [str(f) for f in check_packages(read(template), str(template), template.parent)]
    assert findings == [] if problem is None else any(problem in f for f in findings), findings


def test_a_python311_zip_needing_glibc_228_is_refused_for_amazon_linux_2(tmp_path: Path) -> None:
    from tools.deploycheck import check_packages

    (tmp_path / "dist").mkdir()
    fake_zip(tmp_path / "dist" / "fastauthz-lambda-arm64-py3.11.zip", "3.11", 0xB7, 28)
    template = tmp_path / "deploy" / "serverless.yml"
    template.parent.mkdir()
    template.write_text((DEPLOY / "serverless.yml").read_text().replace("py3.12", "py3.11").replace("python3.12", "python3.11"))
    findings = [str(f) for f in check_packages(read(template), str(template), template.parent)]
    assert any("needs GLIBC_2.28, python3.11 has 2.26" in f for f in findings), findings


def test_serverless_without_scoped_invoke_permissions_fails(tmp_path: Path) -> None:
    text = (DEPLOY / "serverless.yml").read_text()
    unscoped = tmp_path / "serverless.yml"
    unscoped.write_text(text[: text.index("resources:")])
    errors = [str(f) for f in check(read(unscoped), "serverless.yml") if f.level == "error"]
    assert any("AuthorizerLambdaPermissionWebsockets" in e and "without a SourceArn" in e for e in errors), errors


def test_generated_cloudformation_with_an_unscoped_permission_fails(tmp_path: Path) -> None:
    """What `serverless package` v3 writes without the extensions (seen: AuthorizerLambdaPermissionWebsockets)."""
    import json

    document = {
        "Resources": {
            "AuthorizerWebsocketsAuthorizer": {
                "Type": "AWS::ApiGatewayV2::Authorizer",
                "Properties": {"AuthorizerType": "REQUEST", "IdentitySource": []},
            },
            "ConnectWebsocketsRoute": {
                "Type": "AWS::ApiGatewayV2::Route",
                "Properties": {"RouteKey": "$connect", "AuthorizationType": "CUSTOM"},
            },
            "AuthorizerLambdaPermissionWebsockets": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "Action": "lambda:InvokeFunction",
                    "Principal": "apigateway.amazonaws.com",
                    "FunctionName": {"Fn::GetAtt": ["AuthorizerLambdaFunction", "Arn"]},
                },
            },
        }
    }
    generated = tmp_path / "cloudformation-template-update-stack.json"
    generated.write_text(json.dumps(document))
    errors = [str(f) for f in check(read(generated), "generated") if f.level == "error"]
    assert any("AuthorizerLambdaPermissionWebsockets" in e and "without a SourceArn" in e for e in errors)
    assert any("no permission lets API Gateway invoke the authorizer" in e for e in errors)


def _mutated(tmp_path: Path, template: Path, old: str, new: str) -> Path:
    """A copy of a template (a file, or the Terraform module's directory) with `old` replaced."""
    if template.is_dir():
        import shutil

        copy = shutil.copytree(template, tmp_path / template.name, dirs_exist_ok=True)
        files = [file for file in sorted(copy.glob("*.tf")) if old in file.read_text()]
        assert files, old
        files[0].write_text(files[0].read_text().replace(old, new))
        return copy
    text = template.read_text()
    assert old in text
    path = tmp_path / template.name
    path.write_text(text.replace(old, new))
    return path


def _errors(path: Path) -> str:
    return "\n".join(str(f) for f in check(read(path), str(path)) if f.level == "error")


def test_a_result_ttl_is_caught(tmp_path: Path) -> None:
    path = _mutated(
        tmp_path, TEMPLATES[1], 'authorizer_type = "REQUEST"', 'authorizer_type = "REQUEST"\n  authorizer_result_ttl_in_seconds = 300'
    )
    assert "TTL" in _errors(path)


def test_a_non_request_authorizer_is_caught(tmp_path: Path) -> None:
    assert "only REQUEST" in _errors(_mutated(tmp_path, TEMPLATES[1], 'authorizer_type = "REQUEST"', 'authorizer_type = "JWT"'))


def test_an_authorizer_on_another_route_is_caught(tmp_path: Path) -> None:
    assert "$connect only" in _errors(
        _mutated(tmp_path, TEMPLATES[1], 'route_key          = "$connect"', 'route_key          = "$default"')
    )


def test_a_rest_style_stage_wildcard_in_authorized_apis_is_caught(tmp_path: Path) -> None:
    path = _mutated(
        tmp_path,
        TEMPLATES[1],
        'JWT_TOKEN_SOURCES        = "header,query,protocol"',
        'JWT_TOKEN_SOURCES = "header,query,protocol"\n      AUTHORIZED_APIS = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/*/*"',
    )
    assert "does not match a WebSocket methodArn" in _errors(path)


def test_a_permission_on_a_route_arn_instead_of_the_authorizer_is_caught(tmp_path: Path) -> None:
    path = _mutated(tmp_path, TEMPLATES[1], "/authorizers/${aws_apigatewayv2_authorizer.fastauthz.id}", "/prod/$connect")
    (path / "rest_http.tf").unlink()  # rest_and_http_apis = false, the default: their permissions do not exist
    assert "invoke the authorizer" in _errors(path)


def test_the_serverless_default_header_identity_source_is_warned_about(tmp_path: Path) -> None:
    path = _mutated(tmp_path, TEMPLATES[2], "            identitySource: []\n", "")
    warnings = [str(f) for f in check(read(path), str(path)) if f.level == "warning"]
    assert any("route.request.header.Auth" in w and "browsers" in w for w in warnings)


def test_simple_responses_without_the_setting_on_the_function_are_caught(tmp_path: Path) -> None:
    path = _mutated(tmp_path, FRONT_TEMPLATES[0], 'FASTAUTHZ_HTTP_SIMPLE_RESPONSES: "true"', 'FASTAUTHZ_HTTP_SIMPLE_RESPONSES: "false"')
    assert "set FASTAUTHZ_HTTP_SIMPLE_RESPONSES=true" in _errors(path)


def test_the_setting_without_simple_responses_is_caught(tmp_path: Path) -> None:
    path = _mutated(tmp_path, FRONT_TEMPLATES[2], "enableSimpleResponses: true", "enableSimpleResponses: false")
    assert "expects a policy" in _errors(path)


def test_simple_responses_on_payload_one_and_an_odd_rest_authorizer_are_caught(tmp_path: Path) -> None:
    path = _mutated(tmp_path, FRONT_TEMPLATES[0], 'AuthorizerPayloadFormatVersion: "2.0"', 'AuthorizerPayloadFormatVersion: "1.0"')
    assert "simple responses need payload format 2.0" in _errors(path)
    path = _mutated(tmp_path, FRONT_TEMPLATES[1], 'type                             = "TOKEN"', 'type = "COGNITO"')
    assert "TOKEN or REQUEST" in _errors(path)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_every_websocket_template_ends_connections_with_their_tokens(template: Path) -> None:
    model = read(template)
    assert {"$connect", "$disconnect", "reauth"} <= {route["key"] for route in model.routes}
    assert [route["key"] for route in model.routes if route["authorized"]] == ["$connect"]
    assert model.connection_handlers == {"on_connect", "on_disconnect", "on_reauth", "sweeper"}
    assert model.manage_connections and all("/@connections/" in resource for resource in model.manage_connections)
    assert [(table["indexes"], table["ttl"]) for table in model.tables] == [
        ({"by-deadline": ["bucket", "deadline"], "by-sub": ["sub"]}, "ttl")
    ]
    # On by default; a parameter stops the sweeper's schedule.
    text = "".join(file.read_text() for file in ([template] if template.is_file() else sorted(template.glob("*.tf"))))
    assert {
        "template.yaml": "State: !If [Sweeping, ENABLED, DISABLED]",
        "terraform": 'state               = var.end_connections_with_tokens ? "ENABLED" : "DISABLED"',
        "serverless.yml": "enabled: ${strToBool(${param:endConnectionsWithTokens})}",
    }[template.name] in text


def test_the_frameworks_manage_connections_on_every_api_is_caught(tmp_path: Path) -> None:
    """What Serverless v3 adds to its default role for any WebSocket service: `*/@connections/*`."""
    path = _mutated(tmp_path, TEMPLATES[2], "    role: AuthorizerRole\n", "")
    document = {
        "Resources": {
            "IamRoleLambdaExecution": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Policies": [
                        {
                            "PolicyDocument": {
                                "Statement": [
                                    {
                                        "Effect": "Allow",
                                        "Action": ["execute-api:ManageConnections"],
                                        "Resource": [{"Fn::Sub": "arn:${AWS::Partition}:execute-api:*:*:*/@connections/*"}],
                                    }
                                ]
                            }
                        }
                    ]
                },
            }
        }
    }
    import json

    generated = tmp_path / "generated.json"
    generated.write_text(json.dumps(document))
    assert "scope it to <api>/<stage>/*/@connections/*" in _errors(generated)
    assert path.exists()


def test_a_registry_table_without_its_indexes_or_ttl_is_caught(tmp_path: Path) -> None:
    path = _mutated(tmp_path, TEMPLATES[1], 'range_key       = "deadline"', 'range_key       = "connectedAt"')
    assert "by-deadline on ['bucket', 'deadline']" in _errors(path)
    path = _mutated(tmp_path, TEMPLATES[0], "TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}", "")
    assert "enable TTL on 'ttl'" in _errors(path)


def test_reauth_and_sweeper_without_manage_connections_are_caught(tmp_path: Path) -> None:
    path = _mutated(tmp_path, TEMPLATES[1], '["execute-api:ManageConnections"]', '["execute-api:Invoke"]')
    assert "need execute-api:ManageConnections" in _errors(path)


def test_manage_connections_on_every_api_is_caught(tmp_path: Path) -> None:
    path = _mutated(
        tmp_path,
        TEMPLATES[0],
        "Resource: !Sub arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocket}/${StageName}/DELETE/@connections/*",
        'Resource: "*"',
    )
    assert "ManageConnections on '*'" in _errors(path)


def test_an_origin_allow_list_on_a_caching_front_needs_origin_among_the_identity_sources(tmp_path: Path) -> None:
    """#31: API Gateway's result cache keys on the identity sources only: without Origin among them an
    Allow earned on an allowed page answers any page for the TTL, and a TOKEN event has no Origin."""
    shipped = (DEPLOY / "sam" / "rest-http.yaml").read_text()
    assert "JWT_ALLOWED_ORIGINS" not in shipped  # the shipped template does not set one: it passes as is
    with_origins = shipped.replace(
        "JWT_AUTHORIZED_AUDIENCES: !Ref Audiences",
        "JWT_AUTHORIZED_AUDIENCES: !Ref Audiences\n          JWT_ALLOWED_ORIGINS: https://app.example.com",
    )
    template = tmp_path / "rest-http.yaml"
    template.write_text(with_origins)
    errors = [str(f) for f in check(read(template), "t") if f.level == "error"]
    assert any("Token: a TOKEN authorizer's event carries no Origin" in e for e in errors), errors
    assert any("Request: caches results by identity sources without Origin" in e for e in errors), errors
    assert any("Fastauthz: caches results by identity sources without Origin" in e for e in errors), errors
    template.write_text(with_origins.replace("Headers: [Authorization]", "Headers: [Authorization, Origin]"))
    errors = [str(f) for f in check(read(template), "t") if f.level == "error"]
    assert [e for e in errors if "Origin" in e] == [
        "error: t: Token: a TOKEN authorizer's event carries no Origin, so JWT_ALLOWED_ORIGINS cannot hold: use a REQUEST authorizer"
    ]
