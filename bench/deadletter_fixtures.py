"""What the dead-letter benchmarks share: a realistic record and a throwaway schema."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import create_engine, text

from workerkit.deadletters.record import DeadLetterRecord
from workerkit.deadletters.schema import upgrade

POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def sample_record(queue: str, n: int, *, body_size: int) -> DeadLetterRecord:
    """A record shaped like the worker's: JSON body, a few headers, five attempts."""
    now = datetime.now(UTC)
    return DeadLetterRecord(
        queue=queue,
        consumer="bench",
        message_id=f"bench-{n}",
        trace_id=uuid.uuid4().hex,
        exchange="",
        routing_key=queue,
        headers={"x-retry-count": 4, "x-trace-id": uuid.uuid4().hex, "tenant": "acme"},
        body=(b'{"order": %d, "payload": "' % n) + b"x" * body_size + b'"}',
        content_type="application/json",
        properties={"delivery_mode": 2, "correlation_id": f"c{n}"},
        attempts=5,
        error_type="builtins.TimeoutError",
        error_message="downstream timed out",
        traceback="Traceback (most recent call last):\n  ...\nTimeoutError\n" * 5,
        fingerprint="0123456789abcdef",
        fault_location="bench:handler",
        reason="exhausted",
        history=[
            {"attempt": a, "error_type": "TimeoutError", "at": now.isoformat()} for a in range(5)
        ],
        first_failed_at=now,
        last_failed_at=now,
        replayed_from=None,
    )


@contextmanager
def migrated_schema(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema with the dead-letter table; dropped afterwards."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(postgres_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{postgres_url}?options=-csearch_path%3D{schema}"
    try:
        upgrade(url)
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
