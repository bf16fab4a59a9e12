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
import sys
from pathlib import Path
from typing import Any

from .cloudformation import _cfn_yaml, read_cloudformation
from .model import Finding, Model
from .rules import check, check_connections, check_origins_and_result_cache, check_other_fronts, check_packages
from .serverless import read_serverless
from .terraform import read_terraform


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


__all__ = [
    "Finding",
    "Model",
    "check",
    "check_connections",
    "check_origins_and_result_cache",
    "check_other_fronts",
    "check_packages",
    "main",
    "read",
]
