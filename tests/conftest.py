from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from types import ModuleType

import pytest

from fastauthz.settings import NAMES as SETTING_NAMES
from testkit.authorizers import LoadHandler
from testkit.server import KeyServer

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


@pytest.fixture
def load_handler(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoadHandler]:
    """Imports fastauthz.handler afresh, as a cold start does, with these environment variables set
    (metrics off unless given)."""

    def load(**env: str) -> ModuleType:
        for name, value in {"FASTAUTHZ_METRICS": "false", **env}.items():
            monkeypatch.setenv(name, value)
        sys.modules.pop("fastauthz.handler", None)
        return importlib.import_module("fastauthz.handler")

    yield load
    sys.modules.pop("fastauthz.handler", None)
