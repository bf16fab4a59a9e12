"""Tokens built by hand, tampered with, or taken apart without any check: for attack tests, the
benchmarks' refusal cases and the load test's bad tokens."""

from __future__ import annotations

import json
from typing import Any

from fastauthz.dev.tokens import b64url, b64url_decode, tamper

__all__ = ["forge", "parts", "tamper"]


def forge(header: Any, payload: Any, signature: bytes = b"") -> str:
    """A token built by hand: any header and payload (JSON values, or bytes as they are) and signature."""

    def segment(part: Any) -> str:
        return b64url(part if isinstance(part, bytes) else json.dumps(part).encode())

    return f"{segment(header)}.{segment(payload)}.{b64url(signature)}"


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """Header, claims and signature bytes, decoded without any check."""
    header, payload, signature = token.split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(payload)), b64url_decode(signature)
