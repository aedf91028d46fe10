"""The ``dead_letters`` table as a typed SQLAlchemy 2 model.

The schema itself is created only by the Alembic migrations; this model must match the
latest revision (a test compares them). Columns use portable types (JSON, not JSONB) so the
same code runs on the embedded SQLite default and on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Dialect,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    false,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import DateTime, TypeDecorator

REASONS = ("exhausted", "non_retriable", "invalid")
STATUSES = ("dead", "replaying", "replayed", "discarded")
"""``replaying`` is the claim a replay takes before publishing, so two operators never both send."""


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # A naive time is taken as UTC: refusing it would fail a dead letter on its way in.
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # SQLite stores text; keep it naive UTC so string comparison orders correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class DeadLetter(Base):
    """One failed message. Rows are never updated except for their replay/discard state."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(primary_key=True)
    queue: Mapped[str] = mapped_column(String(255))
    consumer: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str | None] = mapped_column(String(255))
    trace_id: Mapped[str | None] = mapped_column(String(255))
    exchange: Mapped[str] = mapped_column(String(255))
    routing_key: Mapped[str] = mapped_column(String(255))
    headers: Mapped[dict[str, Any]] = mapped_column(JSON)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    content_type: Mapped[str | None] = mapped_column(String(255))
    attempts: Mapped[int]
    error_type: Mapped[str] = mapped_column(String(255))
    error_message: Mapped[str] = mapped_column(Text)
    traceback: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(64))
    fault_location: Mapped[str | None] = mapped_column(String(512))
    reason: Mapped[str] = mapped_column(String(32))
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, server_default=func.now())
    status: Mapped[str] = mapped_column(String(16), server_default="dead")
    replayed_from: Mapped[int | None] = mapped_column(
        ForeignKey("dead_letters.id", ondelete="SET NULL")
    )
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    replayed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replay_count: Mapped[int] = mapped_column(server_default=text("0"))
    replayed_by: Mapped[str | None] = mapped_column(String(255))
    edited: Mapped[bool] = mapped_column(server_default=false())
    discarded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    discarded_by: Mapped[str | None] = mapped_column(String(255))
    discard_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(
            "status IN ('dead', 'replaying', 'replayed', 'discarded')",
            name="ck_dead_letters_status",
        ),
        CheckConstraint(
            "reason IN ('exhausted', 'non_retriable', 'invalid')", name="ck_dead_letters_reason"
        ),
        Index("ix_dead_letters_status_created", "status", "created_at"),
        Index("ix_dead_letters_queue_status", "queue", "status"),
        Index("ix_dead_letters_fingerprint", "fingerprint"),
        Index("ix_dead_letters_replayed_from", "replayed_from"),
    )
