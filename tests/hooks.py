"""Authorization hooks (FASTAUTHZ_AUTHORIZE=tests.hooks:<name>) for the tests and the local stage."""

from __future__ import annotations

import json
import os
from typing import Any

from fastauthz import Unauthorized

CALLS = {"count": 0}


def chat_users_only(claims: dict[str, Any], event: Any) -> bool:
    """The README's example: only members of the Cognito group `chat-users` may connect."""
    return "chat-users" in (claims.get("cognito:groups") or [])


def tenant_context(claims: dict[str, Any], event: Any) -> dict[str, Any]:
    """Allow, telling the backend the tenant and the stage the event came for."""
    return {"tenant": claims.get("tenant", "none"), "stage": event["requestContext"]["stage"], "premium": True}


def stages_of_the_token(claims: dict[str, Any], event: Any) -> bool:
    """The README's example: a token lists the stages it may connect to."""
    return bool(event["requestContext"]["stage"] in claims.get("stages", []))


def revoked_sessions(claims: dict[str, Any], event: Any) -> None:
    """Refuse with a 401 when the session is on a revocation list (here: a file named by REVOKED_FILE)."""
    CALLS["count"] += 1
    path = os.environ.get("REVOKED_FILE", "")
    revoked = json.loads(open(path).read()) if path and os.path.exists(path) else []
    if claims.get("sid") in revoked:
        raise Unauthorized("session revoked")


def broken(claims: dict[str, Any], event: Any) -> bool:
    raise KeyError("tenant")


def odd_answer(claims: dict[str, Any], event: Any) -> Any:
    return {"nested": {"not": "allowed"}}


def counting(claims: dict[str, Any], event: Any) -> bool:
    CALLS["count"] += 1
    return True


NOT_A_FUNCTION = 42


def plan_key(claims: dict[str, Any], event: Any) -> dict[str, Any]:
    """Allow with the usage plan's API key of the caller's plan (a lookup of one's own, in real life)."""
    return {"usageIdentifierKey": f"key-for-{claims.get('plan', 'free')}", "plan": claims.get("plan", "free")}


def plan_key_of_the_wrong_type(claims: dict[str, Any], event: Any) -> dict[str, Any]:
    return {"usageIdentifierKey": 42}
