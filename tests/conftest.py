from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import KeyServer


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    server = KeyServer()
    yield server
    server.close()
