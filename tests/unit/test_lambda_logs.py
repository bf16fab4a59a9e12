"""The authorizer's side of a load test, read from Lambda's log lines: a captured log (`aws logs tail`'s
text, FilterLogEvents' JSON, the local stage's file) and CloudWatch Logs itself, through boto3 against
moto's server on 127.0.0.1 (its CloudWatch Logs and CloudWatch APIs)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastauthz.loadtest.lambda_logs import describe, read_cloudwatch, read_file

# As Lambda writes them (text log format), the first a cold start's; the decision line is fastauthz's.
CAPTURED = """\
2026-12-07T10:00:00.100000+00:00 2026/12/07/[$LATEST]abc START RequestId: 1 Version: $LATEST
2026-12-07T10:00:00.140000+00:00 2026/12/07/[$LATEST]abc {"timestamp":1796637600140,"level":"INFO","message":"unauthorized","reason":"expired","token":"ab12"}
2026-12-07T10:00:00.150000+00:00 2026/12/07/[$LATEST]abc END RequestId: 1
2026-12-07T10:00:00.151000+00:00 2026/12/07/[$LATEST]abc REPORT RequestId: 1\tDuration: 2.51 ms\tBilled Duration: 3 ms\tMemory Size: 256 MB\tMax Memory Used: 48 MB\tInit Duration: 151.20 ms
2026-12-07T10:00:01.000000+00:00 2026/12/07/[$LATEST]abc REPORT RequestId: 2\tDuration: 0.90 ms\tBilled Duration: 1 ms\tMemory Size: 256 MB\tMax Memory Used: 49 MB
2026-12-07T10:00:02 REPORT RequestId: 3\tDuration: 1.10 ms\tBilled Duration: 2 ms\tMemory Size: 256 MB\tMax Memory Used: 49 MB\tRestore Duration: 80.00 ms
2026-12-07T10:00:03Z REPORT RequestId: 4\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 256 MB\tMax Memory Used: 50 MB\tStatus: timeout
2026-12-07T11:00:00Z REPORT RequestId: 5\tDuration: 9.00 ms\tBilled Duration: 9 ms\tMemory Size: 256 MB\tMax Memory Used: 50 MB
"""
START = 1796637600.0  # 2026-12-07T10:00:00Z


def test_a_captured_log_gives_invocations_cold_starts_durations_memory_and_reasons(tmp_path: Path) -> None:
    path = tmp_path / "authorizer.log"
    path.write_text(CAPTURED)
    summary = read_file(path, START, START + 60).summary()  # the 11:00 line is outside the run's window
    assert summary["invocations"] == 4
    assert summary["cold_starts"] == 2 and summary["cold_share"] == 0.5  # Init Duration, and SnapStart's Restore Duration
    assert summary["init_ms"]["p50"] == 80.0 and summary["init_ms"]["p99"] == 151.2
    assert summary["duration_ms"]["p50"] == 1.1 and summary["duration_ms"]["max"] == 3000.0
    assert summary["max_memory_mb"] == 50 and summary["memory_size_mb"] == 256
    assert summary["failed"] == {"timeout": 1} and summary["reasons"] == {"expired": 1}
    assert summary["cold_at"] == [pytest.approx(START + 0.151), pytest.approx(START + 2)]
    assert summary["throttles"] is None
    text = "\n".join(describe(summary))
    assert "4 invocations, 2 cold starts (50.0%" in text and "throttles not read" in text and "expired 1" in text
    assert "ab12" not in text  # a token's fingerprint is no figure


def test_filter_log_events_json_is_read_too(tmp_path: Path) -> None:
    events = [
        {"timestamp": int((START + i) * 1000), "message": line.split(" ", 2)[2] if "[$LATEST]" in line else line.split(" ", 1)[1]}
        for i, line in enumerate(CAPTURED.splitlines()[:5])
    ]
    path = tmp_path / "events.json"
    path.write_text(json.dumps({"events": events}))
    summary = read_file(path).summary()
    assert summary["invocations"] == 2 and summary["cold_starts"] == 1 and summary["reasons"] == {"expired": 1}


def test_an_empty_window_says_what_may_be_wrong(tmp_path: Path) -> None:
    path = tmp_path / "authorizer.log"
    path.write_text(CAPTURED)
    summary = read_file(path, START + 7200, START + 7300).summary()
    assert summary["invocations"] == 0
    assert "no REPORT line" in describe(summary)[0]


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's server on a free port, and boto3 pointed at it (as AWS_ENDPOINT_URL points any boto3 client)."""
    from moto.server import ThreadedMotoServer

    from fastauthz.dev.lifetime import free_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.mark.slow
def test_cloudwatch_logs_and_the_throttles_metric_are_read_for_the_runs_window(cloudwatch: str) -> None:
    import boto3

    now = time.time()
    group = "/aws/lambda/chat-authorizer"
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName=group)
    lines = [line.split(" ", 2)[2] for line in CAPTURED.splitlines()[:5]]
    for stream, offset in (("2026/12/07/[$LATEST]a", 0.0), ("2026/12/07/[$LATEST]b", 1.0)):  # two execution environments
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": int((now - 30 + offset + i * 0.01) * 1000), "message": line} for i, line in enumerate(lines)],
        )
    logs.create_log_stream(logGroupName=group, logStreamName="old")
    logs.put_log_events(logGroupName=group, logStreamName="old", logEvents=[{"timestamp": int((now - 3600) * 1000), "message": lines[3]}])
    boto3.client("cloudwatch").put_metric_data(
        Namespace="AWS/Lambda",
        MetricData=[
            {"MetricName": "Throttles", "Dimensions": [{"Name": "FunctionName", "Value": "chat-authorizer"}], "Value": 7, "Unit": "Count"}
        ],
    )
    summary = read_cloudwatch(group, now - 60, now + 1).summary()
    assert summary["invocations"] == 4 and summary["cold_starts"] == 2  # the hour-old line is not the run's
    assert summary["reasons"] == {"expired": 2}
    assert summary["throttles"] == 7
    assert summary["init_ms"]["p50"] == 151.2
