from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.observability.support import RecordingServer


@pytest.fixture
def http_sink() -> Iterator[RecordingServer]:
    server = RecordingServer().start()
    yield server
    server.stop()
