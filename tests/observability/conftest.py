from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.observability.support import RecordingServer
from workerkit.deadletters.schema import upgrade
from workerkit.deadletters.store import DeadLetterStore


@pytest.fixture
def http_sink() -> Iterator[RecordingServer]:
    server = RecordingServer().start()
    yield server
    server.stop()


@pytest.fixture
def dead_letter_store(tmp_path: Path) -> Iterator[DeadLetterStore]:
    """A real (SQLite) dead-letter table, so failures end as ``dead``, not parked."""
    url = f"sqlite:///{tmp_path / 'dead-letters.sqlite3'}"
    upgrade(url)
    store = DeadLetterStore(url)
    yield store
    store.close()
