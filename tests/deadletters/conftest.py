"""Dead-letter fixtures: every test module gets its own PostgreSQL schema and SQLite file.

``database_url`` is parametrized, so a store test written once runs on both backends.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, text

from tests.deadletters import amqp_helpers
from workerkit.deadletters.models import DeadLetter
from workerkit.deadletters.record import DeadLetterRecord
from workerkit.deadletters.schema import upgrade
from workerkit.deadletters.store import DeadLetterStore


@pytest.fixture(scope="module")
def pg_schema_url(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a schema created for this module only."""
    schema = f"wk_{uuid.uuid4().hex[:10]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{postgres_url}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="module")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("deadletters") / "dead-letters.sqlite3"
    return f"sqlite:///{path}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty (unmigrated) database of each kind."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_schema_url"
    return str(request.getfixturevalue(name))


@pytest.fixture(scope="module")
def migrated_url(database_url: str) -> str:
    upgrade(database_url)
    return database_url


@pytest.fixture
def queue(amqp_url: str, queue_name: str) -> Iterator[str]:
    """A declared, empty RabbitMQ queue, deleted afterwards. Sync on purpose: the CLI under
    test runs its own event loop with asyncio.run."""
    asyncio.run(amqp_helpers.declare(amqp_url, queue_name))
    yield queue_name
    asyncio.run(amqp_helpers.delete(amqp_url, queue_name))


@pytest.fixture
def store(migrated_url: str) -> Iterator[DeadLetterStore]:
    """A store on a migrated database, emptied after each test."""
    s = DeadLetterStore(migrated_url, pool_size=5)
    yield s
    with s.engine.begin() as conn:
        conn.execute(delete(DeadLetter))
    s.close()


SAMPLE_HEADERS: dict[str, Any] = {
    "x-retry-count": 4,
    "x-trace-id": "trace-abc",
    "raw": bytearray(b"\x00\xffbytes"),
    "latin": b"caf\xe9",
    "price": Decimal("12.50"),
    "sent": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    "nested": {"list": [1, "two", bytearray(b"3"), {"deep": Decimal("-0.001")}], "flag": True},
    "nothing": None,
}


@pytest.fixture
def make_record() -> Callable[..., DeadLetterRecord]:
    """Build a realistic record; keyword arguments override any field."""

    def build(**overrides: Any) -> DeadLetterRecord:
        now = datetime.now(UTC)
        fields: dict[str, Any] = {
            "queue": "orders",
            "consumer": "notify_buyer",
            "message_id": uuid.uuid4().hex,
            "trace_id": "trace-abc",
            "exchange": "",
            "routing_key": "orders",
            "headers": dict(SAMPLE_HEADERS),
            "body": b'{"order": 42, "note": "caf\\u00e9"}',
            "content_type": "application/json",
            "properties": {"correlation_id": "corr-1", "priority": 3, "delivery_mode": 2},
            "attempts": 5,
            "error_type": "builtins.KeyError",
            "error_message": "'buyer_email' is missing",
            "traceback": 'Traceback (most recent call last):\n  File "x.py"\nKeyError',
            "fingerprint": "0123456789abcdef",
            "fault_location": "workers.orders:notify_buyer",
            "reason": "exhausted",
            "history": [
                {
                    "attempt": n,
                    "error_type": "KeyError",
                    "error_message": "boom",
                    "at": now.isoformat(),
                }
                for n in range(1, 6)
            ],
            "first_failed_at": now - timedelta(minutes=3),
            "last_failed_at": now,
            "replayed_from": None,
        }
        fields.update(overrides)
        return DeadLetterRecord(**fields)

    return build
