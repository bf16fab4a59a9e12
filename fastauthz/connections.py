"""Connections that end when their token does: for the Lambda integrations around the authorizer.

API Gateway authorizes a WebSocket once, on `$connect`; the connection then lives up to 2 hours
whatever its token said. This module keeps a registry of open connections in DynamoDB and closes
each one when its token expires (plus a grace), unless the client re-authenticated over the socket:

  on_connect     `$connect` integration: records connectionId, sub, issuer, exp, connect time
  on_disconnect  `$disconnect`: forgets the connection
  on_reauth      the `reauth` route, {"action": "reauth", "token": "<jwt>"}: same sub and issuer, a
                 later exp; a refused or mismatched one is answered and the connection closed
  sweep          (the scheduled `sweeper` handler) closes every connection past its deadline
  guard          for message routes: False once the connection's deadline has passed
  disconnect_user  sign-out: closes every connection of a sub

The table: key `connectionId`; `bucket` (the minute of the deadline) with `deadline` as a global
secondary index, so that the sweeper reads only the connections that are due, minute by minute
from where it stopped (a cursor row), never the table; `sub` as another index (sign-out); `ttl`
so that rows of connections nobody closed expire by themselves. boto3 (Lambda's Python runtime
has it) is imported here only; the authorizer's handler never imports this module.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

from .errors import Rejected

BUCKET_SECONDS = 60  # the sweeper's unit of work: the connections whose deadline falls in one minute
MAX_LIFETIME_SECONDS = 7200  # API Gateway closes every WebSocket after 2 hours
ROW_RETENTION_SECONDS = 86400  # DynamoDB's TTL removes a row this long after the connection's end at the latest
CURSOR_ID = "#sweeper"  # the row that remembers the first minute not yet swept
SUB_INDEX = "by-sub"
DUE_INDEX = "by-deadline"


class Connection(NamedTuple):
    connection_id: str
    sub: str
    issuer: str
    deadline: float  # the token's exp plus the grace: the connection closes after it
    connected_at: int


def _client(service: str, **options: Any) -> Any:
    import boto3
    from botocore.config import Config

    # Standard retries: throttling (TooManyRequests, ProvisionedThroughputExceeded) backs off and retries.
    return boto3.client(service, config=Config(retries={"mode": "standard", "max_attempts": 6}), **options)


class Registry:
    """The open connections, in a DynamoDB table."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client if client is not None else _client("dynamodb")

    def record(self, connection: Connection) -> None:
        self.client.put_item(TableName=self.table, Item=_item(connection))

    def forget(self, connection_id: str) -> None:
        self.client.delete_item(TableName=self.table, Key={"connectionId": {"S": connection_id}})

    def get(self, connection_id: str) -> Connection | None:
        item = self.client.get_item(TableName=self.table, Key={"connectionId": {"S": connection_id}}, ConsistentRead=True).get("Item")
        return _connection(item) if item is not None and "sub" in item else None

    def extend(self, connection_id: str, deadline: float) -> bool:
        """Move a connection's deadline (a re-auth); False when the connection is not registered."""
        from botocore.exceptions import ClientError

        try:
            self.client.update_item(
                TableName=self.table,
                Key={"connectionId": {"S": connection_id}},
                UpdateExpression="SET deadline = :deadline, #bucket = :bucket, #ttl = :ttl",
                ConditionExpression="attribute_exists(connectionId)",
                ExpressionAttributeNames={"#bucket": "bucket", "#ttl": "ttl"},  # both reserved words in DynamoDB
                ExpressionAttributeValues={
                    ":deadline": {"N": _number(deadline)},
                    ":bucket": {"S": _bucket(deadline)},
                    ":ttl": {"N": str(int(deadline) + ROW_RETENTION_SECONDS)},
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def of_user(self, sub: str) -> list[str]:
        return [
            item["connectionId"]["S"]
            for page in self._pages(
                IndexName=SUB_INDEX,
                KeyConditionExpression="#sub = :sub",
                ExpressionAttributeNames={"#sub": "sub"},
                ExpressionAttributeValues={":sub": {"S": sub}},
            )
            for item in page
        ]

    def due(self, minute: int, until: float, limit: int) -> list[Connection]:
        """Connections whose deadline is in `minute` (epoch seconds // 60) and not after `until`."""
        found: list[Connection] = []
        for page in self._pages(
            IndexName=DUE_INDEX,
            KeyConditionExpression="#bucket = :bucket AND deadline <= :until",
            ExpressionAttributeNames={"#bucket": "bucket"},
            ExpressionAttributeValues={":bucket": {"S": str(minute)}, ":until": {"N": _number(until)}},
        ):
            found += [_connection(item) for item in page]
            if len(found) >= limit:
                break
        return found[:limit]

    def remove_if_due(self, connection: Connection) -> None:
        """Forget a closed connection unless a re-auth moved its deadline meanwhile."""
        from botocore.exceptions import ClientError

        try:
            self.client.delete_item(
                TableName=self.table,
                Key={"connectionId": {"S": connection.connection_id}},
                ConditionExpression="deadline = :deadline",
                ExpressionAttributeValues={":deadline": {"N": _number(connection.deadline)}},
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise

    def cursor(self) -> int | None:
        item = self.client.get_item(TableName=self.table, Key={"connectionId": {"S": CURSOR_ID}}, ConsistentRead=True).get("Item")
        return int(item["minute"]["N"]) if item else None

    def set_cursor(self, minute: int) -> None:
        self.client.put_item(TableName=self.table, Item={"connectionId": {"S": CURSOR_ID}, "minute": {"N": str(minute)}})

    def _pages(self, **query: Any) -> Iterator[list[dict[str, Any]]]:
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(TableName=self.table, **query):
            yield page.get("Items", [])


class Management:
    """API Gateway's management API for one stage: close a connection, or send to it."""

    def __init__(self, endpoint: str, client: Any = None) -> None:
        self.endpoint = endpoint
        self.client = client if client is not None else _client("apigatewaymanagementapi", endpoint_url=endpoint)

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


class SweepReport(NamedTuple):
    closed: int
    minutes: int  # minutes of deadlines finished this run
    caught_up: bool  # False: the work bound stopped it; the next run carries on


def sweep(registry: Registry, management: Management, now: float, max_closes: int = 500) -> SweepReport:
    """Close every registered connection whose deadline has passed, minute by minute from the cursor,
    at most `max_closes` per run. A minute is done once nothing in it is due; the current minute is
    read again next run (its later deadlines are not due yet)."""
    current = int(now // BUCKET_SECONDS)
    cursor = registry.cursor()
    minute = current - (MAX_LIFETIME_SECONDS // BUCKET_SECONDS) - 1 if cursor is None else cursor
    closed = finished = 0
    caught_up = True
    while True:
        budget = max_closes - closed
        due = registry.due(minute, now, budget + 1)  # one more than may be closed: is the minute done?
        for connection in due[:budget]:
            management.close(connection.connection_id)
            registry.remove_if_due(connection)
            closed += 1
        if len(due) > budget:  # the bound: this minute still has due connections, the next run carries on
            caught_up = False
            break
        if minute >= current:
            break
        minute += 1
        finished += 1
    registry.set_cursor(minute)
    return SweepReport(closed, finished, caught_up)


# -- settings ----------------------------------------------------------------------------------------
def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, "").strip() or default


def grace_seconds() -> float:
    """FASTAUTHZ_SWEEP_GRACE_SECONDS, default the authorizer's leeway (JWT_LEEWAY_SECONDS)."""
    return float(_env("FASTAUTHZ_SWEEP_GRACE_SECONDS", _env("JWT_LEEWAY_SECONDS", "5")))


def registry_from_env() -> Registry:
    table = _env("FASTAUTHZ_CONNECTIONS_TABLE")
    if not table:
        from .errors import ConfigError

        raise ConfigError("FASTAUTHZ_CONNECTIONS_TABLE", "name the DynamoDB table of open connections")
    return Registry(table)


def management_for(event: dict[str, Any] | None) -> Management:
    """FASTAUTHZ_MANAGEMENT_ENDPOINT, else the endpoint of the stage the event came through."""
    endpoint = _env("FASTAUTHZ_MANAGEMENT_ENDPOINT")
    if not endpoint and event is not None:
        context = event.get("requestContext") or {}
        endpoint = f"https://{context['domainName']}/{context['stage']}"
    if not endpoint:
        from .errors import ConfigError

        raise ConfigError(
            "FASTAUTHZ_MANAGEMENT_ENDPOINT",
            "the sweeper needs the stage's management endpoint, https://<api>.execute-api.<region>.amazonaws.com/<stage>",
        )
    return Management(endpoint)


# -- Lambda handlers -----------------------------------------------------------------------------------
_registry: Registry | None = None
_verifier: Any = None


def _shared_registry() -> Registry:
    global _registry
    if _registry is None:
        _registry = registry_from_env()
    return _registry


def on_connect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`$connect` integration: register the connection (the authorizer allowed it), and echo the first
    offered subprotocol that is not a token (browsers sending `bearer, <jwt>` need it)."""
    request = event.get("requestContext") or {}
    authorizer = request.get("authorizer") or {}
    exp = float(authorizer["exp"])
    _shared_registry().record(
        Connection(
            request["connectionId"],
            str(authorizer.get("principalId", "")),
            str(authorizer.get("iss", "")),
            exp + grace_seconds(),
            int(request.get("connectedAt") or time.time() * 1000),
        )
    )
    return accept_echoing_subprotocol(event)


def accept_echoing_subprotocol(event: dict[str, Any]) -> dict[str, Any]:
    """A `$connect` integration's acceptance, echoing the first offered subprotocol that is not a
    token: browsers refuse a connection whose offered subprotocols get no echo, so a client passing
    its token as `bearer, <jwt>` needs it (API Gateway never echoes by itself)."""
    headers = event.get("headers") or {}
    offered = next((v for k, v in headers.items() if k.lower() == "sec-websocket-protocol"), "")
    names = [entry.strip() for entry in offered.split(",") if entry.strip() and entry.count(".") != 2]
    return {"statusCode": 200, "headers": {"Sec-WebSocket-Protocol": names[0]}} if names else {"statusCode": 200}


def on_disconnect(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _shared_registry().forget((event.get("requestContext") or {})["connectionId"])
    return {"statusCode": 200}


def on_reauth(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The `reauth` route: a fresh token for the same sub and issuer moves the deadline and is
    answered {"action": "reauth", "ok": true, "exp": ...}; anything else is answered
    {"action": "reauth", "ok": false, "reason": ...} and the connection is closed."""
    global _verifier
    connection_id = (event.get("requestContext") or {})["connectionId"]
    registry = _shared_registry()
    management = management_for(event)
    reason = "malformed"
    try:
        body = json.loads(event.get("body") or "{}")
        token = body.get("token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            raise Rejected("missing_token")
        if _verifier is None:
            from .authorizer import Authorizer

            _verifier = Authorizer.from_env(load_keys=True)
        claims = _verifier.verify(token)
        current = registry.get(connection_id)
        if current is None or claims.get("sub") != current.sub or claims.get("iss") != current.issuer:
            raise Rejected("reauth_mismatch")
        exp = claims.get("exp")
        if type(exp) not in (int, float):
            raise Rejected("missing_exp")
        if not registry.extend(connection_id, float(exp) + grace_seconds()):
            raise Rejected("reauth_mismatch")
    except Rejected as refusal:
        reason = refusal.reason
    except ValueError:
        reason = "malformed"
    else:
        management.send(connection_id, {"action": "reauth", "ok": True, "exp": exp})
        return {"statusCode": 200}
    management.send(connection_id, {"action": "reauth", "ok": False, "reason": reason})
    management.close(connection_id)
    return {"statusCode": 200}


def sweeper(event: Any, context: Any) -> dict[str, Any]:
    """The scheduled sweep (EventBridge, every minute): closes the connections past their deadline."""
    report = sweep(_shared_registry(), management_for(None), time.time())
    print(json.dumps({"message": "swept", "closed": report.closed, "minutes": report.minutes, "caught_up": report.caught_up}))
    return report._asdict()


def guard(event: dict[str, Any], registry: Registry | None = None, now: float | None = None) -> bool:
    """For message routes: whether the connection is still within its deadline. The authorizer's
    context carries the `exp` of connect time: within it (plus the grace) no registry read is
    needed; after it, a re-auth may have moved the deadline, so the registry answers."""
    now = time.time() if now is None else now
    request = event.get("requestContext") or {}
    exp = (request.get("authorizer") or {}).get("exp")
    grace = grace_seconds()
    try:
        if exp is not None and now <= float(exp) + grace:
            return True
    except (TypeError, ValueError):
        pass
    current = (registry or _shared_registry()).get(str(request.get("connectionId")))
    return current is not None and now <= current.deadline


def disconnect_user(sub: str, registry: Registry | None = None, management: Management | None = None) -> int:
    """Sign-out: close every connection of `sub`; returns how many."""
    registry = registry or _shared_registry()
    management = management or management_for(None)
    closed = 0
    for connection_id in registry.of_user(sub):
        management.close(connection_id)
        registry.forget(connection_id)
        closed += 1
    return closed


# -- rows ----------------------------------------------------------------------------------------------
def _bucket(deadline: float) -> str:
    return str(int(deadline // BUCKET_SECONDS))


def _number(value: float) -> str:
    return repr(float(value)) if value != int(value) else str(int(value))


def _item(connection: Connection) -> dict[str, Any]:
    end = min(connection.deadline, connection.connected_at / 1000 + MAX_LIFETIME_SECONDS)
    return {
        "connectionId": {"S": connection.connection_id},
        "sub": {"S": connection.sub},
        "issuer": {"S": connection.issuer},
        "deadline": {"N": _number(connection.deadline)},
        "bucket": {"S": _bucket(connection.deadline)},
        "connectedAt": {"N": str(connection.connected_at)},
        "ttl": {"N": str(int(end) + ROW_RETENTION_SECONDS)},
    }


def _connection(item: dict[str, Any]) -> Connection:
    return Connection(
        item["connectionId"]["S"], item["sub"]["S"], item["issuer"]["S"], float(item["deadline"]["N"]), int(item["connectedAt"]["N"])
    )


def table_definition(table: str) -> dict[str, Any]:
    """CreateTable's arguments for the registry (on demand): tests, the local stage and templates."""
    return {
        "TableName": table,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "connectionId", "AttributeType": "S"},
            {"AttributeName": "bucket", "AttributeType": "S"},
            {"AttributeName": "deadline", "AttributeType": "N"},
            {"AttributeName": "sub", "AttributeType": "S"},
        ],
        "KeySchema": [{"AttributeName": "connectionId", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": DUE_INDEX,
                "KeySchema": [{"AttributeName": "bucket", "KeyType": "HASH"}, {"AttributeName": "deadline", "KeyType": "RANGE"}],
                "Projection": {"ProjectionType": "ALL"},
            },
            {
                "IndexName": SUB_INDEX,
                "KeySchema": [{"AttributeName": "sub", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            },
        ],
    }
