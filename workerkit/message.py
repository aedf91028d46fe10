"""The frozen message a handler receives, and the parsing of what arrives on the wire.

Parsing never raises anything but :class:`InvalidMessage`, so a bad delivery always ends as a
dead letter with reason ``invalid`` instead of a crashed worker or a retry loop.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workerkit.errors import InvalidMessage

RETRY_HEADER = "x-retry-count"
TRACE_HEADER = "x-trace-id"
REPLAYED_FROM_HEADER = "x-replayed-from"
ORIGINAL_ID_HEADER = "x-original-message-id"
ERROR_TYPE_HEADER = "x-last-error-type"
ERROR_MESSAGE_HEADER = "x-last-error-message"
ERROR_HISTORY_HEADER = "x-error-history"
FIRST_FAILED_HEADER = "x-first-failed-at"

#: A retry count above this cannot come from workerkit (max_attempts is capped at 1000).
MAX_RETRY_COUNT = 10_000

JSON_TYPES = frozenset({"application/json", "text/json"})


@dataclass(frozen=True, slots=True)
class Message:
    """One delivery as the handler sees it. ``body`` is decoded; ``raw`` is the exact bytes."""

    body: Any
    raw: bytes
    headers: Mapping[str, Any]
    message_id: str | None
    content_type: str | None
    routing_key: str
    exchange: str
    retry_count: int
    trace_id: str
    redelivered: bool = False
    properties: Mapping[str, Any] = field(default_factory=dict)

    @property
    def attempt(self) -> int:
        """1 on the first delivery, 2 on the first retry, and so on."""
        return self.retry_count + 1


def parse_retry_count(headers: Mapping[str, Any] | None) -> int:
    """Read ``x-retry-count``; absent is 0. Anything but a sane non-negative integer is invalid."""
    if not headers or RETRY_HEADER not in headers:
        return 0
    value = headers[RETRY_HEADER]
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        text = value.strip()
        # isdigit() also accepts "²", and int() refuses more than 4,300 digits
        if text.isascii() and text.isdigit() and len(text) <= 6:
            value = int(text)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidMessage(f"header {RETRY_HEADER} is not an integer: {value!r:.60}")
    if value < 0 or value > MAX_RETRY_COUNT:
        raise InvalidMessage(f"header {RETRY_HEADER} is out of range: {value}")
    return value


def parse_trace_id(headers: Mapping[str, Any] | None) -> str:
    """Keep the incoming trace id when it is usable text; otherwise start a new trace."""
    value = headers.get(TRACE_HEADER) if headers else None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str) and 0 < len(value) <= 200:
        return value
    return new_id()


def new_id() -> str:
    return uuid.uuid4().hex


def decode_body(raw: bytes, content_type: str | None, accept: frozenset[str] | None) -> Any:
    """JSON bodies become Python objects; other accepted types are passed through as bytes.

    ``accept`` None means JSON only (the default); a missing content type is read as JSON.
    """
    ctype = (content_type or "application/json").split(";", 1)[0].strip().lower()
    allowed = accept if accept is not None else JSON_TYPES
    if ctype not in allowed:
        raise InvalidMessage(f"content type {ctype!r} is not accepted (accepts {sorted(allowed)})")
    if ctype not in JSON_TYPES:
        return raw
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidMessage(f"body is not valid JSON: {exc}") from None


def encode_body(body: Any) -> tuple[bytes, str]:
    """Bytes are sent as they are; anything else is JSON. Returns the bytes and content type."""
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body), "application/octet-stream"
    if hasattr(body, "model_dump_json"):  # a pydantic model
        return body.model_dump_json().encode(), "application/json"
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(), "application/json"
