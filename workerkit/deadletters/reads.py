"""Read queries behind ``workerkit dead-letters list/groups/show/stats/export``.

Each function takes an open Session so the store decides transactions and retries; results
are detached ORM rows or small dataclasses that are safe to use after the session closes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from workerkit.deadletters.models import DeadLetter
from workerkit.deadletters.query import DeadLetterFilter


@dataclass(frozen=True)
class FailureGroup:
    """Failures sharing a fingerprint: the same error raised at the same place."""

    fingerprint: str
    error_type: str
    fault_location: str | None
    count: int
    queues: list[str]
    first_seen: datetime
    last_seen: datetime
    last_replayed: datetime | None
    sample_id: int
    sample_message: str


S = TypeVar("S", bound=Select[Any])


def _limited(stmt: S, selection: DeadLetterFilter) -> S:
    return stmt.limit(selection.limit) if selection.limit else stmt


def newest_first(session: Session, selection: DeadLetterFilter) -> list[DeadLetter]:
    stmt = select(DeadLetter).where(selection.where()).order_by(DeadLetter.id.desc())
    return list(session.scalars(_limited(stmt, selection)))


def ids(session: Session, selection: DeadLetterFilter) -> list[int]:
    stmt = select(DeadLetter.id).where(selection.where()).order_by(DeadLetter.id)
    return list(session.scalars(_limited(stmt, selection)))


def count(session: Session, selection: DeadLetterFilter) -> int:
    inner = _limited(select(DeadLetter.id).where(selection.where()), selection).subquery()
    return int(session.scalar(select(func.count()).select_from(inner)) or 0)


def page(session: Session, selection: DeadLetterFilter, after: int, size: int) -> list[DeadLetter]:
    stmt = (
        select(DeadLetter)
        .where(selection.where(), DeadLetter.id > after)
        .order_by(DeadLetter.id)
        .limit(size)
    )
    return list(session.scalars(stmt))


def chain(session: Session, row_id: int) -> list[DeadLetter]:
    """Walk up ``replayed_from`` to the first failure, then down through every replay of it."""
    root = session.get(DeadLetter, row_id)
    if root is None:
        return []
    seen = {root.id}
    while root.replayed_from is not None and root.replayed_from not in seen:
        parent = session.get(DeadLetter, root.replayed_from)
        if parent is None:
            break
        seen.add(parent.id)
        root = parent
    found, frontier = [root], [root.id]
    while frontier:
        children = list(
            session.scalars(select(DeadLetter).where(DeadLetter.replayed_from.in_(frontier)))
        )
        children = [c for c in children if c.id not in {f.id for f in found}]
        found.extend(children)
        frontier = [c.id for c in children]
    return sorted(found, key=lambda r: r.id)


def groups(session: Session, selection: DeadLetterFilter) -> list[FailureGroup]:
    t = DeadLetter
    where = selection.where()
    stmt = (
        select(
            t.fingerprint,
            func.min(t.error_type),
            func.max(t.fault_location),
            func.count(),
            func.min(t.first_failed_at),
            func.max(t.last_failed_at),
            func.max(t.replayed_at),
            func.max(t.id),
        )
        .where(where)
        .group_by(t.fingerprint)
        .order_by(func.count().desc(), func.max(t.id).desc())
    )
    rows = session.execute(stmt.limit(selection.limit) if selection.limit else stmt).all()
    queues: dict[str, set[str]] = {}
    for fp, queue in session.execute(select(t.fingerprint, t.queue).where(where).distinct()):
        queues.setdefault(fp, set()).add(queue)
    samples = {
        r.id: r.error_message
        for r in session.execute(
            select(t.id, t.error_message).where(t.id.in_([r[7] for r in rows]))
        )
    }
    return [
        FailureGroup(
            fingerprint=fp,
            error_type=etype,
            fault_location=where_,
            count=n,
            queues=sorted(queues.get(fp, ())),
            first_seen=first,
            last_seen=last,
            last_replayed=replayed,
            sample_id=sample,
            sample_message=samples.get(sample, ""),
        )
        for fp, etype, where_, n, first, last, replayed, sample in rows
    ]


def stats(session: Session, selection: DeadLetterFilter) -> dict[str, Any]:
    """Counts by queue, status and reason, plus per-queue status counts."""
    t = DeadLetter
    where = selection.where()
    result: dict[str, Any] = {
        "total": int(session.scalar(select(func.count()).select_from(t).where(where)) or 0)
    }
    for column in ("queue", "status", "reason"):
        col = getattr(t, column)
        pairs = session.execute(select(col, func.count()).where(where).group_by(col).order_by(col))
        result[f"by_{column}"] = {k: int(n) for k, n in pairs}
    by_queue_status: dict[str, dict[str, int]] = {}
    pairs3 = session.execute(
        select(t.queue, t.status, func.count()).where(where).group_by(t.queue, t.status)
    )
    for queue, status, n in pairs3:
        by_queue_status.setdefault(queue, {})[status] = int(n)
    result["by_queue_status"] = by_queue_status
    return result
