"""The CloudFormation a SAM template becomes, offline: `make deploy-check` checks that too.

    .venv-sam/bin/python tools/sam_transform.py deploy/sam/template.yaml > transformed.json

Run by aws-sam-cli's own interpreter (make deploy-check installs it in .venv-sam, apart from the
project's dependencies), so it imports nothing of fastauthz. What `sam deploy` does before
CloudFormation sees the template: local CodeUris become S3 URIs (placeholders here: nothing is
uploaded), then the SAM transform runs. The only answer it would ask IAM for, the ARNs of the
managed policies the template names, is given from their published ARNs.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

# Managed policies by name, as IAM lists them (arn:aws:iam::aws:policy/...): the transform asks for
# the ARN of every managed policy a function names in `Policies`.
MANAGED_POLICIES = {
    "AWSLambdaBasicExecutionRole": "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
}


class PublishedPolicies:
    def load(self) -> dict[str, str]:
        return MANAGED_POLICIES


def transformed(path: str, parameters: dict[str, str]) -> dict[str, Any]:
    from samtranslator.translator.transform import transform  # type: ignore[import-not-found,unused-ignore]
    from samtranslator.yaml_helper import yaml_parse  # type: ignore[import-not-found,unused-ignore]

    with open(path) as handle:
        template = yaml_parse(handle.read())
    for name, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(properties.get("CodeUri"), str):
            properties["CodeUri"] = f"s3://deploy-check/{name}.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")  # the transform resolves AWS::Region
    return transform(template, parameters, PublishedPolicies())  # type: ignore[no-any-return]


def main(argv: list[str]) -> int:
    parameters = dict(item.split("=", 1) for item in argv[1:])
    print(json.dumps(transformed(argv[0], parameters), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
