"""The authorizer's side of a load test, from its logs: Lambda's `REPORT` line per invocation (Init
Duration on a cold start, Duration, Max Memory Used) and fastauthz's decision lines (reason codes).

Read from CloudWatch Logs (`--lambda-log-group`, boto3's FilterLogEvents over the run's window, and
Lambda's `Throttles` metric, which no log line records), or from a captured log (`--lambda-log-file`):
`aws logs tail GROUP --since 10m > file` (its short or detailed format), FilterLogEvents' JSON, or the
local stage's `<state>/logs/authorizer.log`, which writes the same lines.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .results import percentile

REPORT = re.compile(
    r"REPORT RequestId: (?P<id>\S+)\s+Duration: (?P<duration>[\d.]+) ms\s+Billed Duration: \d+ ms\s+"
    r"Memory Size: (?P<size>\d+) MB\s+Max Memory Used: (?P<used>\d+) MB"
    r"(?:\s+Init Duration: (?P<init>[\d.]+) ms)?(?:\s+Restore Duration: (?P<restore>[\d.]+) ms)?(?:.*?Status: (?P<status>\w+))?"
)
REASON = re.compile(r'"reason":\s*"([^"\\]{1,64})"')
# A captured line's timestamp: `aws logs tail`'s (ISO 8601, with or without zone and fraction).
STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s+(?:\S+\s+)?(?=REPORT |\{|START |END )")


class LambdaLogs:
    """What the authorizer's log lines of a window say."""

    def __init__(self) -> None:
        self.invocations = 0
        self.durations: list[float] = []
        self.inits: list[float] = []  # Init Duration of each cold start (or Restore Duration: SnapStart)
        self.cold_at: list[float] = []  # epoch seconds of the cold starts whose time is known
        self.max_memory_mb = 0
        self.memory_size_mb = 0
        self.failed: dict[str, int] = {}  # REPORT's Status other than success (timeout, error)
        self.reasons: dict[str, int] = {}
        self.throttles: int | None = None  # from the Throttles metric; None when not read
        self.lines = 0

    def read(self, message: str, at: float | None = None) -> None:
        """One log event's message (a line may hold several records when captured by hand)."""
        self.lines += 1
        if "REPORT RequestId:" in message:
            match = REPORT.search(message)
            if match is None:
                return
            self.invocations += 1
            self.durations.append(float(match["duration"]))
            self.memory_size_mb = max(self.memory_size_mb, int(match["size"]))
            self.max_memory_mb = max(self.max_memory_mb, int(match["used"]))
            init = match["init"] or match["restore"]
            if init is not None:
                self.inits.append(float(init))
                if at is not None:
                    self.cold_at.append(at)
            if match["status"] and match["status"] != "success":
                self.failed[match["status"]] = self.failed.get(match["status"], 0) + 1
        elif '"reason"' in message:
            for reason in REASON.findall(message):
                self.reasons[reason] = self.reasons.get(reason, 0) + 1

    def summary(self) -> dict[str, Any]:
        durations, inits = sorted(self.durations), sorted(self.inits)
        return {
            "invocations": self.invocations,
            "cold_starts": len(inits),
            "cold_share": len(inits) / self.invocations if self.invocations else 0.0,
            "init_ms": {"p50": percentile(inits, 0.5), "p99": percentile(inits, 0.99), "max": inits[-1] if inits else 0.0},
            "duration_ms": {
                "p50": percentile(durations, 0.5),
                "p99": percentile(durations, 0.99),
                "max": durations[-1] if durations else 0.0,
            },
            "max_memory_mb": self.max_memory_mb,
            "memory_size_mb": self.memory_size_mb,
            "throttles": self.throttles,
            "failed": self.failed,
            "reasons": dict(sorted(self.reasons.items(), key=lambda item: -item[1])),
            "cold_at": sorted(self.cold_at),
        }


def describe(summary: dict[str, Any]) -> list[str]:
    """The authorizer's figures as the verdict prints them."""
    if not summary["invocations"]:
        return ["  authorizer: no REPORT line in the run's window (wrong log group, or the logs have not arrived yet: --lambda-log-wait)"]
    init, duration = summary["init_ms"], summary["duration_ms"]
    throttles = "not read" if summary["throttles"] is None else str(summary["throttles"])
    lines = [
        f"  authorizer: {summary['invocations']} invocations, {summary['cold_starts']} cold starts ({summary['cold_share']:.1%}; "
        f"Init Duration p50 {init['p50']:.0f} ms, p99 {init['p99']:.0f} ms), Duration p50 {duration['p50']:.1f} ms, "
        f"p99 {duration['p99']:.1f} ms, max memory {summary['max_memory_mb']} of {summary['memory_size_mb']} MB, throttles {throttles}"
    ]
    if summary["failed"]:
        lines.append("  authorizer invocations that failed: " + ", ".join(f"{k} {v}" for k, v in summary["failed"].items()))
    if summary["reasons"]:
        lines.append("  authorizer reason codes: " + ", ".join(f"{k} {v}" for k, v in summary["reasons"].items()))
    return lines


def read_file(path: str | Path, start: float = 0.0, end: float = float("inf")) -> LambdaLogs:
    """A captured log: FilterLogEvents' JSON ({"events": [...]}) or text lines, timestamped or not.
    Timestamped lines outside [start, end) are skipped; lines without a time are all read."""
    logs = LambdaLogs()
    text = Path(path).read_text(errors="replace")
    if text.lstrip().startswith("{") and '"events"' in text[:200]:
        try:
            for event in json.loads(text).get("events", []):
                at = event.get("timestamp", 0) / 1000
                if start <= at < end:
                    logs.read(str(event.get("message", "")), at)
            return logs
        except ValueError:
            pass  # not one JSON document: read it as lines
    for line in text.splitlines():
        at, message = None, line
        if stamp := STAMP.match(line):
            at = _epoch(stamp[1])
            if at is not None and not start <= at < end:
                continue
            message = line[stamp.end() :]
        logs.read(message, at)
    return logs


def read_cloudwatch(group: str, start: float, end: float, region: str | None = None) -> LambdaLogs:
    """The log group's events of [start, end], and the function's Throttles metric over the same window
    (the function's name is the group's last part: /aws/lambda/<name>). Credentials, region and endpoints
    are boto3's (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, …)."""
    import boto3  # only here: the load test's other paths never need it

    session = boto3.session.Session(region_name=region)
    logs = LambdaLogs()
    pages = (
        session.client("logs")
        .get_paginator("filter_log_events")
        .paginate(logGroupName=group, startTime=int(start * 1000), endTime=int(end * 1000))
    )
    for page in pages:
        for event in page.get("events", []):
            logs.read(event.get("message", ""), event.get("timestamp", 0) / 1000)
    if group.startswith("/aws/lambda/"):
        answer = session.client("cloudwatch").get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName="Throttles",
            Dimensions=[{"Name": "FunctionName", "Value": group.rstrip("/").rsplit("/", 1)[-1]}],
            StartTime=datetime.fromtimestamp(start - start % 60, UTC),
            EndTime=datetime.fromtimestamp(end + 60 - end % 60, UTC),
            Period=60,
            Statistics=["Sum"],
        )
        logs.throttles = int(sum(point["Sum"] for point in answer.get("Datapoints", [])))
    return logs


def _epoch(stamp: str) -> float | None:
    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:  # `aws logs tail` prints UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()
