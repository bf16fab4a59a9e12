"""A REST or HTTP API route behind fastauthz: answers with what the authorizer told API Gateway."""

import json


def handler(event, context):
    authorizer = event.get("requestContext", {}).get("authorizer") or {}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps({"authorizer": authorizer})}
