"""base64url for tooling, tests, benchmarks and the load test: padding optional on the way in, none on
the way out. The handler never uses this: its decoder (fastauthz.token.b64url_decode) is strict."""

from __future__ import annotations

import base64


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
