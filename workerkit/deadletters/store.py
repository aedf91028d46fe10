"""DeadLetterStore: the one door to the ``dead_letters`` table for workers and operators.

Synchronous on purpose: the worker calls it through ``asyncio.to_thread``, so it holds one
thread-safe engine and opens a short transaction per call. Writes on the worker's path retry
connection failures briefly with tenacity, then raise :class:`DatabaseUnavailable` so the
caller can park the message instead of holding it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Connection, String, insert, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from workerkit.config import mask_url
from workerkit.deadletters import reads, transitions
from workerkit.deadletters.codec import encode_headers, encode_value
from workerkit.deadletters.engine import is_transient, make_engine, missing_schema, unavailable
from workerkit.deadletters.models import DeadLetter
from workerkit.deadletters.query import DeadLetterFilter
from workerkit.deadletters.reads import FailureGroup
from workerkit.deadletters.record import DeadLetterRecord
from workerkit.deadletters.transitions import ClaimedRow
from workerkit.errors import DatabaseUnavailable

T = TypeVar("T")
log = logging.getLogger("workerkit.deadletters")


class DeadLetterStore:
    """Thread-safe access to the dead-letter table (SQLite or PostgreSQL)."""

    def __init__(self, database_url: str, *, pool_size: int = 20, retry_for: float = 2.0) -> None:
        self._url = database_url
        self._retry_for = retry_for
        self.engine = make_engine(database_url, pool_size=pool_size)
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._insert = insert(DeadLetter).returning(DeadLetter.id, sort_by_parameter_order=True)

    @property
    def masked_url(self) -> str:
        return mask_url(self._url)

    def close(self) -> None:
        self.engine.dispose()

    def _call(self, fn: Callable[[], T], *, retry: bool = True) -> T:
        """Run ``fn``; connection failures retry for ``retry_for`` s, then become one error."""
        stop = stop_after_delay(self._retry_for if retry else 0)
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            stop=stop,
            wait=wait_exponential(multiplier=0.05, max=0.5),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            return retrying(fn)
        except DBAPIError as exc:
            if is_transient(exc) or missing_schema(exc):
                raise unavailable(self._url, exc) from exc
            raise

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning("dead-letter database %s: %s; retrying", self.masked_url, error)

    def _session(self) -> Session:
        return self._sessions()

    def check(self) -> None:
        """Raise DatabaseUnavailable unless the database answers and its schema is current."""
        from workerkit.deadletters.schema import current_state

        state = self._call(lambda: current_state(self.engine), retry=False)
        if state.current is None:
            raise DatabaseUnavailable(
                f"dead-letter database {self.masked_url} has no dead_letters schema; "
                "create it with: workerkit db upgrade"
            )
        if not state.up_to_date:
            raise DatabaseUnavailable(
                f"dead-letter database {self.masked_url} is at revision {state.current}, "
                f"this workerkit needs {state.head}; run: workerkit db upgrade"
            )

    # -- the worker's path -------------------------------------------------------------------

    def add(self, record: DeadLetterRecord) -> int:
        """Insert and commit one row; return its id.

        A single INSERT runs in autocommit: it is atomic on its own, and skipping the
        BEGIN/COMMIT round trips is most of what makes the worker's path fast.
        """
        if record.replayed_from is not None:
            return self.add_many([record])[0]
        row = _row(record)

        def run() -> int:
            with self._autocommit.connect() as conn:
                return int(conn.execute(self._insert, row).scalar_one())

        return self._call(run)

    def add_many(self, records: Sequence[DeadLetterRecord]) -> list[int]:
        """Insert and commit several rows in one transaction; ids in the order given."""
        if not records:
            return []
        rows = [_row(r) for r in records]
        parents = {r["replayed_from"] for r in rows if r["replayed_from"] is not None}

        def run() -> list[int]:
            with self.engine.begin() as conn:
                if parents:
                    _unlink_purged_parents(conn, rows, parents)
                if len(rows) == 1:
                    return [conn.execute(self._insert, rows[0]).scalar_one()]
                return list(conn.execute(self._insert, rows).scalars())

        return self._call(run)

    # -- reads for the CLI ---------------------------------------------------------------------

    def rows(self, selection: DeadLetterFilter) -> list[DeadLetter]:
        """Matching rows, newest first, at most ``selection.limit``."""
        return self._read(lambda s: reads.newest_first(s, selection))

    def ids(self, selection: DeadLetterFilter) -> list[int]:
        """Matching ids, oldest first (the order replay sends them in)."""
        return self._read(lambda s: reads.ids(s, selection))

    def count(self, selection: DeadLetterFilter) -> int:
        return self._read(lambda s: reads.count(s, selection))

    def get(self, row_id: int) -> DeadLetter | None:
        return self._read(lambda s: s.get(DeadLetter, row_id))

    def chain(self, row_id: int) -> list[DeadLetter]:
        """The row, the rows it was replayed from, and every row its replays became."""
        return self._read(lambda s: reads.chain(s, row_id))

    def groups(self, selection: DeadLetterFilter) -> list[FailureGroup]:
        return self._read(lambda s: reads.groups(s, selection))

    def stats(self, selection: DeadLetterFilter) -> dict[str, Any]:
        return self._read(lambda s: reads.stats(s, selection))

    def iter_rows(self, selection: DeadLetterFilter, batch: int = 500) -> Iterator[DeadLetter]:
        """Every matching row, oldest first, fetched in batches (for export)."""
        after = 0
        while True:
            page = self._read(
                functools.partial(reads.page, selection=selection, after=after, size=batch)
            )
            yield from page
            if len(page) < batch:
                return
            after = page[-1].id

    def _read(self, fn: Callable[[Session], T]) -> T:
        def run() -> T:
            with self._session() as session:
                return fn(session)

        return self._call(run, retry=False)

    # -- state changes (compare-and-set on status) ---------------------------------------------

    def claim(
        self, ids: Iterable[int], by: str, *, now: datetime | None = None
    ) -> list[ClaimedRow]:
        """Move still-``dead`` rows to ``replaying`` and return them; others are skipped."""
        return self._write(lambda s: transitions.claim(s, list(ids), by, now))

    def mark_replayed(self, ids: Iterable[int], by: str, *, edited: bool = False) -> int:
        """Claimed rows whose publish was confirmed become ``replayed``."""
        return self._write(lambda s: transitions.mark_replayed(s, list(ids), by, edited))

    def release(self, ids: Iterable[int]) -> int:
        """Claimed rows whose publish failed go back to ``dead``."""
        return self._write(lambda s: transitions.release(s, list(ids)))

    def discard(self, ids: Iterable[int], by: str, reason: str | None) -> int:
        return self._write(lambda s: transitions.discard(s, list(ids), by, reason))

    def restore(self, ids: Iterable[int]) -> int:
        """Discarded rows (and replay claims abandoned by a crash) go back to ``dead``."""
        return self._write(lambda s: transitions.restore(s, list(ids)))

    def purge(self, selection: DeadLetterFilter) -> int:
        """Delete matching rows for good; returns how many."""
        return self._write(lambda s: transitions.purge(s, selection))

    def _write(self, fn: Callable[[Connection], T]) -> T:
        """One Core transaction: status changes need no ORM, and bulk replay calls this often."""

        def run() -> T:
            with self.engine.begin() as conn:
                return fn(conn)

        return self._call(run, retry=False)


def _unlink_purged_parents(conn: Connection, rows: list[dict[str, Any]], parents: set[int]) -> None:
    """A replay whose source row was purged must still be stored: drop the dangling link."""
    found = set(conn.execute(select(DeadLetter.id).where(DeadLetter.id.in_(parents))).scalars())
    for row in rows:
        if row["replayed_from"] not in found:
            row["replayed_from"] = None


#: the length of every bounded text column; longer values are cut to fit
_LIMITS = {
    column.name: column.type.length
    for column in DeadLetter.__table__.columns
    if isinstance(column.type, String) and column.type.length is not None
}


def _row(record: DeadLetterRecord) -> dict[str, Any]:
    """Column values for one record; AMQP values go through the exact-round-trip codec.

    Text longer than its column is cut: PostgreSQL refuses it, and a refused row would park
    the message and block every later import of its queue. The full values stay in the
    headers and properties.
    """
    row = {f.name: getattr(record, f.name) for f in fields(record)}
    for name, limit in _LIMITS.items():
        value = row.get(name)
        if isinstance(value, str) and len(value) > limit:
            row[name] = value[:limit]
    row.update(
        headers=encode_headers(record.headers),
        properties=encode_headers(record.properties),
        history=encode_value(record.history),
        body=bytes(record.body),
        created_at=transitions.utcnow(),
        status="dead",
    )
    return row
