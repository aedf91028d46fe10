"""One failed message as the dispatcher hands it to the store."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Reason = Literal["exhausted", "non_retriable", "invalid"]


@dataclass(frozen=True)
class DeadLetterRecord:
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
    replayed_from: int | None
