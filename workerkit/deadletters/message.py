"""What a replay sends: the stored message rebuilt for the broker, marked as a replay.

The body and properties go out exactly as received. The headers too, except: the attempt
count starts again (``x-retry-count`` = 0), ``x-replayed-from`` names the row, the message
gets a new id (aiormq matches returned messages by id, and consumers that de-duplicate by id
must not drop the replay) with the first original kept in ``x-original-message-id``, and the
broker's own dead-lettering history (``x-death``...) is dropped because it describes routes
the old copy took, not this one.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

import aio_pika

from workerkit.broker.publisher import sendable
from workerkit.deadletters.codec import decode_headers
from workerkit.message import (
    ERROR_HISTORY_HEADER,
    FIRST_FAILED_HEADER,
    ORIGINAL_ID_HEADER,
    REPLAYED_FROM_HEADER,
    RETRY_HEADER,
    TRACE_HEADER,
)


class Replayable(Protocol):
    """A stored message: a claimed row on replay, a full row in ``--dry-run`` and tests."""

    @property
    def id(self) -> int: ...
    @property
    def exchange(self) -> str: ...
    @property
    def routing_key(self) -> str: ...
    @property
    def headers(self) -> dict[str, Any]: ...
    @property
    def properties(self) -> dict[str, Any]: ...
    @property
    def body(self) -> bytes: ...
    @property
    def content_type(self) -> str | None: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def trace_id(self) -> str | None: ...


# the broker's own dead-lettering headers, and the failure trail of the previous run: a
# replay starts a fresh history (its new row links back through x-replayed-from)
_BROKER_HEADERS = (
    "x-death",
    "x-first-death-",
    "x-last-death-",
    "x-last-error-",  # ERROR_TYPE_HEADER, ERROR_MESSAGE_HEADER
    ERROR_HISTORY_HEADER,
    FIRST_FAILED_HEADER,
)
_PROPERTIES = (
    "content_encoding",
    "correlation_id",
    "priority",
    "type",
    "app_id",
    "reply_to",
    "timestamp",
    "user_id",
    "delivery_mode",
)


def replay_headers(row: Replayable) -> dict[str, Any]:
    headers = {
        k: v for k, v in decode_headers(row.headers).items() if not k.startswith(_BROKER_HEADERS)
    }
    headers[RETRY_HEADER] = 0
    headers[REPLAYED_FROM_HEADER] = row.id
    if row.message_id and ORIGINAL_ID_HEADER not in headers:
        headers[ORIGINAL_ID_HEADER] = row.message_id
    if row.trace_id and TRACE_HEADER not in headers:
        headers[TRACE_HEADER] = row.trace_id
    return headers


def replay_message(
    row: Replayable,
    *,
    body: bytes | None = None,
    broker_user: str | None = None,
    message_id: str | None = None,
) -> aio_pika.Message:
    """Build the message for ``row``; ``body`` replaces the stored body after an edit.

    ``user_id`` is kept only when it names the user we publish as: RabbitMQ closes the
    channel on a message claiming another user.
    """
    stored = decode_headers(row.properties)
    if "message_type" in stored:  # the worker stores pamqp's name for the type property
        stored.setdefault("type", stored.pop("message_type"))
    props = {k: v for k, v in stored.items() if k in _PROPERTIES}
    if props.get("user_id") not in (None, broker_user):
        props.pop("user_id")
    # rows imported from older parked copies have no delivery_mode: a replay is a message
    # someone cares about, so it is persistent unless the original said otherwise
    props.setdefault("delivery_mode", aio_pika.DeliveryMode.PERSISTENT)
    return aio_pika.Message(
        row.body if body is None else body,
        headers=sendable(replay_headers(row)),
        content_type=row.content_type,
        message_id=message_id or uuid.uuid4().hex,
        **props,
    )


def route(row: Replayable, to_queue: str | None) -> tuple[str, str]:
    """(exchange, routing key): the original route, or the queue itself via the default exchange."""
    if to_queue:
        return "", to_queue
    return row.exchange, row.routing_key
