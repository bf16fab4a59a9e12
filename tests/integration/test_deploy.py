"""The deployment templates, validated offline: cfn-lint, an HCL parser, and the WebSocket rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fastauthz.dev.deploycheck import check, main, read

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TEMPLATES = [DEPLOY / "sam" / "template.yaml", DEPLOY / "terraform" / "main.tf", DEPLOY / "serverless.yml"]


def test_cfn_lint_accepts_the_sam_template():
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    completed = subprocess.run([str(cfn_lint), str(TEMPLATES[0])], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_terraform_parses_and_wires_a_request_authorizer_to_connect():
    model = read(TEMPLATES[1])
    assert [a["type"] for a in model.authorizers] == ["REQUEST"]
    assert {"key": "$connect", "authorized": True} in model.routes
    assert any("/authorizers/" in arn for arn in model.authorizer_permissions)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_every_template_passes_the_websocket_authorizer_rules(template):
    assert [str(f) for f in check(read(template), str(template)) if f.level == "error"] == []


def test_the_checker_exits_zero_on_the_shipped_templates(capsys):
    assert main([str(p) for p in TEMPLATES]) == 0


def _mutated(tmp_path: Path, template: Path, old: str, new: str) -> Path:
    text = template.read_text()
    assert old in text
    path = tmp_path / template.name
    path.write_text(text.replace(old, new))
    return path


def _errors(path: Path) -> str:
    return "\n".join(str(f) for f in check(read(path), str(path)) if f.level == "error")


def test_a_result_ttl_is_caught(tmp_path):
    path = _mutated(tmp_path, TEMPLATES[1], 'authorizer_type = "REQUEST"', 'authorizer_type = "REQUEST"\n  authorizer_result_ttl_in_seconds = 300')
    assert "TTL" in _errors(path)


def test_a_non_request_authorizer_is_caught(tmp_path):
    assert "only REQUEST" in _errors(_mutated(tmp_path, TEMPLATES[1], 'authorizer_type = "REQUEST"', 'authorizer_type = "JWT"'))


def test_an_authorizer_on_another_route_is_caught(tmp_path):
    assert "$connect only" in _errors(_mutated(tmp_path, TEMPLATES[1], 'route_key          = "$connect"', 'route_key          = "$default"'))


def test_a_rest_style_stage_wildcard_in_authorized_apis_is_caught(tmp_path):
    path = _mutated(tmp_path, TEMPLATES[1], 'JWT_TOKEN_SOURCES        = "header,query,protocol"',
                    'JWT_TOKEN_SOURCES = "header,query,protocol"\n      AUTHORIZED_APIS = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/*/*"')
    assert "does not match a WebSocket methodArn" in _errors(path)


def test_a_permission_on_a_route_arn_instead_of_the_authorizer_is_caught(tmp_path):
    path = _mutated(tmp_path, TEMPLATES[1], '/authorizers/${aws_apigatewayv2_authorizer.fastauthz.id}', '/prod/$connect')
    assert "invoke the authorizer" in _errors(path)


def test_the_serverless_default_header_identity_source_is_warned_about(tmp_path):
    path = _mutated(tmp_path, TEMPLATES[2], "            identitySource: []\n", "")
    warnings = [str(f) for f in check(read(path), str(path)) if f.level == "warning"]
    assert any("route.request.header.Auth" in w and "browsers" in w for w in warnings)
