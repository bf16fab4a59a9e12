"""The registry of open connections: a DynamoDB table, its rows and its two indexes. Cold path
(the connection functions only; the authorizer never imports this package).

The table: key `connectionId`; `bucket` (the minute of the deadline) with `deadline` as a global
secondary index, so that the sweeper reads only the connections that are due, minute by minute
from where it stopped (a cursor row), never the table; `sub` as another index (sign-out); `ttl`
so that rows of connections nobody closed expire by themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from .aws import aws_client

BUCKET_SECONDS = 60  # the sweeper's unit of work: the connections whose deadline falls in one minute
MAX_LIFETIME_SECONDS = 7200  # API Gateway closes every WebSocket after 2 hours
ROW_RETENTION_SECONDS = 86400  # DynamoDB's TTL removes a row this long after the connection's end at the latest
CURSOR_ID = "#sweeper"  # the row that remembers the first minute not yet swept
SUB_INDEX = "by-sub"
DUE_INDEX = "by-deadline"
TTL_ATTRIBUTE = "ttl"  # the table's time-to-live attribute (templates enable TTL on it)


class Connection(NamedTuple):
    connection_id: str
    sub: str
    issuer: str
    deadline: float  # the token's exp plus the grace: the connection closes after it
    connected_at: int


class Registry:
    """The open connections, in a DynamoDB table."""

    def __init__(self, table: str, client: Any = None) -> None:
        self.table = table
        self.client = client if client is not None else aws_client("dynamodb")

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
                ExpressionAttributeNames={"#bucket": "bucket", "#ttl": TTL_ATTRIBUTE},  # both reserved words in DynamoDB
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

    def due_pages(self, minute: int, until: float, after: dict[str, Any] | None, size: int) -> Iterator[tuple[list[Connection], Any]]:
        """Connections whose deadline is in `minute` (epoch seconds // 60) and not after `until`, in
        deadline order, page by page from just after the position `after`; each page comes with the
        position after its last connection."""
        query: dict[str, Any] = {"ExclusiveStartKey": after} if after else {}
        while True:
            page = self._by_deadline(minute, "<=", until, Limit=size, **query)
            items = page.get("Items", [])
            position = _position(items[-1]) if items else after
            yield [_connection(item) for item in items], position
            if "LastEvaluatedKey" not in page:
                return
            query = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    def next_deadline(self, now: float) -> float | None:
        """The earliest deadline after `now` in this minute or the next (two reads at most)."""
        minute = int(now // BUCKET_SECONDS)
        for bucket in (minute, minute + 1):
            items = self._by_deadline(bucket, ">", now, Limit=1).get("Items", [])
            if items:
                return float(items[0]["deadline"]["N"])
        return None

    def _by_deadline(self, minute: int, comparison: str, bound: float, **options: Any) -> dict[str, Any]:
        """One Query of the deadline index: the rows of `minute` whose deadline is `comparison` `bound`."""
        result: dict[str, Any] = self.client.query(
            TableName=self.table,
            IndexName=DUE_INDEX,
            KeyConditionExpression=f"#bucket = :bucket AND deadline {comparison} :bound",
            ExpressionAttributeNames={"#bucket": "bucket"},
            ExpressionAttributeValues={":bucket": {"S": str(minute)}, ":bound": {"N": _number(bound)}},
            **options,
        )
        return result

    def cursor(self) -> tuple[int, dict[str, Any] | None] | None:
        """Where the sweep goes on: a minute, and the position in it after the last connection closed."""
        item = self.client.get_item(TableName=self.table, Key={"connectionId": {"S": CURSOR_ID}}, ConsistentRead=True).get("Item")
        if not item:
            return None
        after = {name: item[f"after_{name}"] for name in ("connectionId", "bucket", "deadline") if f"after_{name}" in item}
        return int(item["minute"]["N"]), after or None

    def set_cursor(self, minute: int, after: dict[str, Any] | None = None) -> None:
        item = {"connectionId": {"S": CURSOR_ID}, "minute": {"N": str(minute)}}
        item |= {f"after_{name}": value for name, value in (after or {}).items()}
        self.client.put_item(TableName=self.table, Item=item)

    def _pages(self, **query: Any) -> Iterator[list[dict[str, Any]]]:
        paginator = self.client.get_paginator("query")
        for page in paginator.paginate(TableName=self.table, **query):
            yield page.get("Items", [])


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
        TTL_ATTRIBUTE: {"N": str(int(end) + ROW_RETENTION_SECONDS)},
    }


def _position(item: dict[str, Any]) -> dict[str, Any]:
    """The index position just after a row: its keys in the table and in the deadline index."""
    return {name: item[name] for name in ("connectionId", "bucket", "deadline")}


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
