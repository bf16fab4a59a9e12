"""boto3 clients for the connection functions, and API Gateway's management API for one stage. Cold path.

boto3 (Lambda's Python runtime has it) is imported here, on first use: never by the authorizer.
"""

from __future__ import annotations

import json
from typing import Any


def aws_client(service: str, **options: Any) -> Any:
    import boto3
    from botocore.config import Config

    # Standard retries: throttling (TooManyRequests, ProvisionedThroughputExceeded) backs off and retries.
    return boto3.client(service, config=Config(retries={"mode": "standard", "max_attempts": 6}), **options)


class Management:
    """API Gateway's management API for one stage: close a connection, or send to it."""

    def __init__(self, endpoint: str, client: Any = None) -> None:
        self.endpoint = endpoint
        self.client = client if client is not None else aws_client("apigatewaymanagementapi", endpoint_url=endpoint)

    def close(self, connection_id: str) -> bool:
        """DeleteConnection; True also when it is already gone (410): closing is idempotent."""
        from botocore.exceptions import ClientError

        try:
            self.client.delete_connection(ConnectionId=connection_id)
        except ClientError as error:
            if not _gone(error):
                raise
        return True

    def send(self, connection_id: str, message: dict[str, Any]) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=json.dumps(message).encode())
        except ClientError as error:
            if not _gone(error):
                raise
            return False
        return True


def _gone(error: Any) -> bool:
    """A GoneException, or a 410 however its body is spelled: the connection no longer exists."""
    response = error.response
    return bool(
        response.get("Error", {}).get("Code") == "GoneException" or response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 410
    )
