from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from fastauthz.config import SETTING_NAMES
from tests.support.server import KeyServer

# What configures the authorizer or the runtime around it: a developer's shell must not change a result.
AMBIENT = ("JWT_", "FASTAUTHZ_", "AWS_", "GATE_")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts from an environment without fastauthz's variables (httpx's clean_environ):
    those it needs, it sets itself."""
    for name in list(os.environ):
        if name in SETTING_NAMES or name.startswith(AMBIENT):
            monkeypatch.delenv(name)


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    server = KeyServer()
    yield server
    server.close()
