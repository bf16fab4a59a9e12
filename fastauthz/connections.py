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
TTL_ATTRIBUTE = "ttl"  # the table's time-to-live attribute (templates enable TTL on it)


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
    caught_up: bool  # False: a bound (closes, time) stopped it, or a close failed; the next run carries on
    failed: int = 0  # closes that failed (not a 410): the next run tries them again


SWEEP_WORKERS = 32  # closes in flight at once: in AWS a DeleteConnection waits ~10-30 ms, mostly on the network
SWEEP_PAGE = 1000  # due connections read, then closed, between two looks at the bounds
SWEEP_MAX_CLOSES = 100_000  # a run's bound on closes (the sweeper's time budget usually binds first)


def sweep(
    registry: Registry,
    management: Management,
    now: float,
    max_closes: int = SWEEP_MAX_CLOSES,
    workers: int = SWEEP_WORKERS,
    stop_at: float | None = None,
) -> SweepReport:
    """Close every registered connection whose deadline has passed, minute by minute and page by page
    from the cursor, `workers` at a time; stop after `max_closes`, or at the first page boundary past
    `stop_at` (time.monotonic()), and carry on from there next run. 500 connects/s sustained means
    up to 30,000 deadlines a minute: one close at a time (~40 ms in AWS) would manage 1,500.

    A close is one call, DeleteConnection (a 410 counts): API Gateway then runs `$disconnect`, whose
    integration removes the row, and rows nobody removed expire with their TTL. The cursor keeps the
    position within a minute, so nothing is closed twice even while `$disconnect` lags."""
    from concurrent.futures import ThreadPoolExecutor

    current = int(now // BUCKET_SECONDS)
    # API Gateway has closed every connection older than 2 hours itself: nothing before is worth a look.
    oldest = current - (MAX_LIFETIME_SECONDS // BUCKET_SECONDS) - 1
    cursor = registry.cursor()
    minute, after = (oldest, None) if cursor is None or cursor[0] < oldest else cursor
    closed = finished = failed = 0
    caught_up = True

    def close(connection: Connection) -> bool:
        try:
            return management.close(connection.connection_id)
        except Exception as error:  # after botocore's retries: logged, tried again next run
            print(json.dumps({"message": "sweeper: close failed", "connectionId": connection.connection_id, "error": repr(error)}))
            return False

    def bound_reached() -> bool:
        return closed >= max_closes or (stop_at is not None and time.monotonic() >= stop_at)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="sweep") as pool:
        while caught_up:
            for page, position in registry.due_pages(minute, now, after, min(SWEEP_PAGE, max(1, max_closes - closed))):
                results = list(pool.map(close, page))
                if not all(results):  # keep the position before this page: the next run tries it again
                    failed += results.count(False)
                    closed += results.count(True)
                    caught_up = False
                    break
                closed += len(results)
                after = position
                if bound_reached():
                    caught_up = False
                    break
            else:  # every due connection of this minute is closed
                if minute >= current:  # its later deadlines are not due yet: the next run reads on
                    break
                minute, after = minute + 1, None
                finished += 1
                if bound_reached():
                    caught_up = False
    registry.set_cursor(minute, after)
    return SweepReport(closed, finished, caught_up, failed)


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
            # Not in the past (a token inside the leeway, a grace under it): the sweep, whose cursor
            # has left past minutes, would never see it.
            max(exp + grace_seconds(), time.time()),
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
        if not registry.extend(connection_id, max(float(exp) + grace_seconds(), time.time())):
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
    """The scheduled sweep (EventBridge, every minute). One run sweeps, and while a deadline falls
    before its time is up, sleeps until it and sweeps again (no sooner than FASTAUTHZ_SWEEP_INTERVAL_SECONDS,
    default 5): a busy API's connections close within seconds of their deadline, not up to a minute
    later, and an idle one's run ends after one sweep. No close starts in the last 10 s of the
    function's timeout (the next run carries on)."""
    remaining = context.get_remaining_time_in_millis() / 1000 if hasattr(context, "get_remaining_time_in_millis") else 60.0
    stop_at = time.monotonic() + remaining - 10
    workers = int(_env("FASTAUTHZ_SWEEP_WORKERS", str(SWEEP_WORKERS)))
    interval = float(_env("FASTAUTHZ_SWEEP_INTERVAL_SECONDS", "5"))
    registry, management = _shared_registry(), management_for(None)
    totals = {"closed": 0, "failed": 0, "sweeps": 0}
    while True:
        report = sweep(registry, management, time.time(), workers=workers, stop_at=stop_at)
        totals = {"closed": totals["closed"] + report.closed, "failed": totals["failed"] + report.failed, "sweeps": totals["sweeps"] + 1}
        upcoming = registry.next_deadline(time.time()) if report.caught_up else None
        wait = None if upcoming is None else max(interval, upcoming - time.time())
        if wait is None or time.monotonic() + wait >= stop_at:
            break
        time.sleep(wait)
    summary = {"message": "swept", **totals, "caught_up": report.caught_up}
    print(json.dumps(summary))
    return summary


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
