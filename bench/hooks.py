"""The gate's authorization hook (FASTAUTHZ_AUTHORIZE=bench.hooks:stage_listed): the README's shape, a
rule that reads the event, so that every cache hit asks it (FASTAUTHZ_AUTHORIZE_READS=event)."""

from __future__ import annotations

from typing import Any

STAGES = frozenset({"production"})


def stage_listed(claims: dict[str, Any], event: Any) -> bool:
    return bool(event["requestContext"]["stage"] in STAGES)
