"""The value the worker hands to the store: everything needed to show and replay a failure.

It is deliberately a plain frozen dataclass, not the ORM model, so the dispatch path never
touches SQLAlchemy sessions and the store can batch or reshape rows as it likes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Reason = Literal["exhausted", "non_retriable", "invalid"]
REASONS: tuple[Reason, ...] = ("exhausted", "non_retriable", "invalid")


@dataclass(frozen=True)
class DeadLetterRecord:
    """One message that will not be retried any more, as received plus why it failed."""

    queue: str
    consumer: str
    message_id: str | None
    trace_id: str | None
    exchange: str
    routing_key: str
    headers: dict[str, Any]
    body: bytes
    content_type: str | None
    properties: dict[str, Any]
    attempts: int
    error_type: str
    error_message: str
    traceback: str
    fingerprint: str
    fault_location: str | None
    reason: Reason
    history: list[dict[str, Any]]
    first_failed_at: datetime
    last_failed_at: datetime
    replayed_from: int | None = None

    def __post_init__(self) -> None:
        # Naive datetimes would be read back in whatever zone the database server uses.
        for name in ("first_failed_at", "last_failed_at"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"DeadLetterRecord.{name} must be timezone-aware (UTC)")
        if self.reason not in REASONS:
            raise ValueError(f"DeadLetterRecord.reason must be one of {REASONS}")
