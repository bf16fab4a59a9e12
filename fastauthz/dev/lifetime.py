"""Connection lifetime on the local stage (fastauthz.connections, as deployed): a DynamoDB API server
on loopback (moto's server mode: pip only, no node), the registry's table, the `$connect`,
`$disconnect` and `reauth` integrations, and the sweeper every few seconds. `fastauthz dev` runs it
by default; the functions reach the table through AWS_ENDPOINT_URL_DYNAMODB and close connections
through the stage's own management API, as they would through API Gateway's.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

TABLE = "fastauthz-connections"
# moto's server accepts any credentials: these only keep boto3 from looking for real ones.
CLIENT_OPTIONS = {"region_name": "us-east-1", "aws_access_key_id": "local", "aws_secret_access_key": "local"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalLifetime:
    def __init__(self, stage: str = "local", sweep_interval: float = 5.0, log: Any = print) -> None:
        self.stage, self.sweep_interval, self.log = stage, sweep_interval, log
        self.management_port = free_port()
        self._server: Any = None
        self.environment: dict[str, str] = {}

    def start(self) -> LocalLifetime:
        import logging

        import boto3
        from moto.server import ThreadedMotoServer

        from ..connections import table_definition

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server would log every request
        port = free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()
        self.environment = {
            "AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "FASTAUTHZ_CONNECTIONS_TABLE": TABLE,
            "FASTAUTHZ_MANAGEMENT_ENDPOINT": f"http://127.0.0.1:{self.management_port}/{self.stage}",
        }
        client = boto3.client("dynamodb", endpoint_url=self.environment["AWS_ENDPOINT_URL_DYNAMODB"], **CLIENT_OPTIONS)
        try:
            client.create_table(**table_definition(TABLE))
        except client.exceptions.ResourceInUseException:
            # moto keeps its state per process, not per server: an earlier LocalLifetime's registry
            # (make demo's, a test's) is still there. Start empty, as a new stage would.
            client.delete_table(TableName=TABLE)
            client.create_table(**table_definition(TABLE))
        return self

    def stage_options(self, env: dict[str, str]) -> dict[str, Any]:
        """StageConfig's arguments for the connection-lifetime integrations: `$connect` and
        `$disconnect` (which register and forget), the `reauth` route (verifying with `env`, the
        authorizer's settings) and the management API the sweeper and re-auth close through."""
        from .runtime import FunctionSpec

        env = {**env, **self.environment}

        def function(handler: str, name: str) -> FunctionSpec:
            return FunctionSpec(f"fastauthz.connections:{handler}", env=env, name=name)

        return {
            "connect": function("on_connect", "connect"),
            "disconnect": function("on_disconnect", "disconnect"),
            "routes": {"reauth": function("on_reauth", "reauth")},
            "management_port": self.management_port,
        }

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    async def sweep_forever(self) -> None:
        """The sweeper's schedule, every `sweep_interval` seconds instead of every minute."""
        import boto3

        from ..connections import Management, Registry, sweep

        registry = Registry(TABLE, boto3.client("dynamodb", endpoint_url=self.environment["AWS_ENDPOINT_URL_DYNAMODB"], **CLIENT_OPTIONS))
        endpoint = self.environment["FASTAUTHZ_MANAGEMENT_ENDPOINT"]
        management = Management(endpoint, boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, **CLIENT_OPTIONS))
        while True:
            await asyncio.sleep(self.sweep_interval)
            try:
                report = await asyncio.to_thread(sweep, registry, management, time.time())
            except Exception as error:  # a failed run is logged; the schedule goes on, as EventBridge's would
                self.log(f"sweeper: run failed: {type(error).__name__}: {error}")
                continue
            if report.closed:
                self.log(f"sweeper: closed {report.closed} connection{'' if report.closed == 1 else 's'} past their token's exp")
