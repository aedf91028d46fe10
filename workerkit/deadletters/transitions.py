"""Status changes as compare-and-set UPDATEs, so concurrent operators cannot both win.

    dead ──claim──► replaying ──mark_replayed──► replayed
      ▲                 │
      └────release──────┘          dead ──discard──► discarded ──restore──► dead

A replay claims rows first (``UPDATE ... WHERE status = 'dead'``): the database lets exactly
one transaction change a row, so of two operators replaying the same row only one gets it
back and publishes. A claim left behind by a crashed replay is returned to ``dead`` by
``restore`` once it is older than :data:`STALE_CLAIM`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Table, and_, delete, or_, update

from workerkit.deadletters.models import DeadLetter
from workerkit.deadletters.query import DeadLetterFilter

STALE_CLAIM = timedelta(minutes=10)
_CHUNK = 500  # stays below every backend's bound-parameter limit


def utcnow() -> datetime:
    return datetime.now(UTC)


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """What a replay needs of a claimed row; plain Core rows, as ORM loading costs more
    than the publish itself on a bulk replay."""

    id: int
    exchange: str
    routing_key: str
    headers: dict[str, Any]
    properties: dict[str, Any]
    body: bytes
    content_type: str | None
    message_id: str | None
    trace_id: str | None


_CLAIMED = [DeadLetter.__table__.c[name] for name in ClaimedRow.__slots__]


def claim(conn: Connection, ids: list[int], by: str, now: datetime | None) -> list[ClaimedRow]:
    now = now or utcnow()
    claimed: list[ClaimedRow] = []
    table = DeadLetter.__table__
    assert isinstance(table, Table)
    for chunk in _chunks(ids):
        stmt = (
            update(table)
            .where(table.c.id.in_(chunk), table.c.status == "dead")
            .values(status="replaying", claimed_at=now, claimed_by=by)
            .returning(*_CLAIMED)
        )
        claimed.extend(ClaimedRow(*row) for row in conn.execute(stmt))
    claimed.sort(key=lambda r: r.id)
    return claimed


def mark_replayed(conn: Connection, ids: list[int], by: str, edited: bool) -> int:
    values: dict[str, object] = {
        "status": "replayed",
        "replayed_at": utcnow(),
        "replayed_by": by,
        "replay_count": DeadLetter.replay_count + 1,
        "claimed_at": None,
        "claimed_by": None,
    }
    if edited:
        values["edited"] = True
    return _update(conn, ids, DeadLetter.status == "replaying", values)


def release(conn: Connection, ids: list[int]) -> int:
    values: dict[str, object] = {"status": "dead", "claimed_at": None, "claimed_by": None}
    return _update(conn, ids, DeadLetter.status == "replaying", values)


def discard(conn: Connection, ids: list[int], by: str, reason: str | None) -> int:
    values: dict[str, object] = {
        "status": "discarded",
        "discarded_at": utcnow(),
        "discarded_by": by,
        "discard_reason": reason,
    }
    return _update(conn, ids, DeadLetter.status == "dead", values)


def restore(conn: Connection, ids: list[int]) -> int:
    stale = and_(DeadLetter.status == "replaying", DeadLetter.claimed_at < utcnow() - STALE_CLAIM)
    values: dict[str, object] = {
        "status": "dead",
        "discarded_at": None,
        "discarded_by": None,
        "discard_reason": None,
        "claimed_at": None,
        "claimed_by": None,
    }
    return _update(conn, ids, or_(DeadLetter.status == "discarded", stale), values)


def purge(conn: Connection, selection: DeadLetterFilter) -> int:
    # Children keep existing; their replayed_from becomes NULL (ON DELETE SET NULL).
    result = conn.execute(delete(DeadLetter).where(selection.where()))
    return int(result.rowcount)


def _update(conn: Connection, ids: list[int], guard: object, values: dict[str, object]) -> int:
    changed = 0
    for chunk in _chunks(ids):
        result = conn.execute(
            update(DeadLetter)
            .where(DeadLetter.id.in_(chunk), guard)  # type: ignore[arg-type]
            .values(**values)
        )
        changed += int(result.rowcount)
    return changed
