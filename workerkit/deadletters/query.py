"""Which rows an operator means: one filter shared by list, groups, replay, discard and export.

Keeping the selection in one value (instead of keyword arguments per method) means "replay
what ``list`` showed" is the same query by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, true

from workerkit.deadletters.models import DeadLetter


@dataclass(frozen=True)
class DeadLetterFilter:
    """Every field narrows the selection; an empty filter means every row."""

    ids: Sequence[int] = ()
    queue: str | None = None
    consumer: str | None = None
    error_type: str | None = None
    statuses: Sequence[str] = ()
    reason: str | None = None
    fingerprint: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    search: str | None = None
    limit: int | None = None

    @property
    def is_empty(self) -> bool:
        return not (
            self.ids
            or self.queue
            or self.consumer
            or self.error_type
            or self.statuses
            or self.reason
            or self.fingerprint
            or self.since
            or self.until
            or self.search
        )

    def where(self) -> ColumnElement[bool]:
        """The SQL condition; ``limit`` is applied by the caller, which knows the ordering."""
        t = DeadLetter
        parts: list[ColumnElement[bool]] = []
        if self.ids:
            parts.append(t.id.in_(list(self.ids)))
        if self.queue:
            parts.append(t.queue == self.queue)
        if self.consumer:
            parts.append(t.consumer == self.consumer)
        if self.error_type:
            parts.append(t.error_type == self.error_type)
        if self.statuses:
            parts.append(t.status.in_(list(self.statuses)))
        if self.reason:
            parts.append(t.reason == self.reason)
        if self.fingerprint:
            parts.append(t.fingerprint == self.fingerprint)
        if self.since:
            parts.append(t.created_at >= self.since)
        if self.until:
            parts.append(t.created_at < self.until)
        if self.search:
            parts.append(t.error_message.icontains(self.search, autoescape=True))
        return and_(true(), *parts)
