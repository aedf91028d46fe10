"""Moving parked messages (``<queue>.dead``) into the dead-letter table.

A worker parks a failed message when the database cannot take its row; the copy carries the
failure in an ``x-dl-meta`` header. Each worker runs :func:`import_loop` in the background,
and ``workerkit dead-letters import-parked`` does the same by hand. A parked message is acked
only after its row is committed, so an import that dies half-way loses nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage

from workerkit.broker.connection import connect
from workerkit.broker.topology import PARKING_SUFFIX, parking_queue_name
from workerkit.config import Settings
from workerkit.deadletters.codec import decode_headers
from workerkit.deadletters.models import REASONS
from workerkit.deadletters.record import DeadLetterRecord, Reason
from workerkit.errors import DatabaseUnavailable
from workerkit.message import parse_trace_id
from workerkit.worker.deadwriter import BatchStore
from workerkit.worker.failures import PARK_PREFIX

log = logging.getLogger("workerkit.deadletters")
META = f"{PARK_PREFIX}meta"
#: seconds a stopping worker waits for the parked message in hand to be committed and acked
MOVE_GRACE = 5.0

PROPERTY_FIELDS = (
    "content_encoding",
    "correlation_id",
    "reply_to",
    "expiration",
    "user_id",
    "app_id",
    "priority",
)


def record_from_parked(queue: str, message: AbstractIncomingMessage) -> DeadLetterRecord:
    headers = dict(message.headers or {})
    raw = headers.pop(META, None)
    if isinstance(raw, bytes):
        raw = raw.decode()
    try:
        meta: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        meta = {}
    now = datetime.now(UTC)
    stored = meta.get("properties")
    # older versions kept the original properties on the wire instead of in the meta
    properties = decode_headers(stored) if isinstance(stored, dict) else _wire_properties(message)
    return DeadLetterRecord(
        queue=queue,
        consumer=str(meta.get("consumer", "?")),
        message_id=message.message_id,
        trace_id=parse_trace_id(headers),
        exchange=str(meta.get("exchange", "")),
        routing_key=str(meta.get("routing_key", queue)),
        headers=headers,
        body=message.body,
        content_type=message.content_type,
        properties=properties,
        attempts=int(meta.get("attempts", 1)),
        error_type=str(meta.get("error_type", "unknown")),
        error_message=str(meta.get("error_message", "parked without failure details")),
        traceback=str(meta.get("traceback", "")),
        fingerprint=str(meta.get("fingerprint", "0" * 16)),
        fault_location=meta.get("fault_location"),
        reason=_reason(meta.get("reason")),
        history=list(meta.get("history") or []),
        first_failed_at=_time(meta.get("first_failed_at")) or now,
        last_failed_at=_time(meta.get("last_failed_at")) or now,
        replayed_from=meta.get("replayed_from")
        if isinstance(meta.get("replayed_from"), int)
        else None,
    )


def _wire_properties(message: AbstractIncomingMessage) -> dict[str, Any]:
    properties = {f: getattr(message, f) for f in PROPERTY_FIELDS if getattr(message, f)}
    if message.type:
        properties["message_type"] = message.type
    if message.timestamp:
        properties["timestamp"] = message.timestamp
    return properties


def _reason(value: Any) -> Reason:
    return cast(Reason, value) if value in REASONS else "invalid"


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


async def import_queue(channel: AbstractChannel, queue: str, store: BatchStore) -> int:
    """Import every message waiting in ``<queue>.dead``; stops at the first database error."""
    parked = await channel.declare_queue(parking_queue_name(queue), passive=True)
    moved = 0
    while True:
        message = await parked.get(no_ack=False, fail=False)
        if message is None:
            return moved
        move = asyncio.ensure_future(_move(queue, message, store))
        try:
            await asyncio.shield(move)
        except asyncio.CancelledError:
            # a stopping worker lets the row in hand reach its ack: a row committed whose
            # parked copy went back to the queue would be imported twice
            await asyncio.wait([move], timeout=MOVE_GRACE)
            raise
        moved += 1


async def _move(queue: str, message: AbstractIncomingMessage, store: BatchStore) -> None:
    """Commit the row, then ack the parked copy; any failure puts the copy back."""
    try:
        record = record_from_parked(queue, message)
        await asyncio.to_thread(store.add, record)
    except Exception:
        await message.nack(requeue=True)
        raise
    await message.ack()


async def import_parked(settings: Settings, queues: Sequence[str]) -> dict[str, int | None]:
    """What ``workerkit dead-letters import-parked`` runs: messages moved per queue, None for
    a queue that has no parking queue (a typo must not read as "nothing parked"). The caller
    names the queues, since AMQP cannot list them."""
    from workerkit.deadletters.store import DeadLetterStore

    store = DeadLetterStore(settings.deadletters.database_url.get_secret_value())
    store.check()
    connection = await connect(settings.broker, name="workerkit import-parked")
    result: dict[str, int | None] = {}
    try:
        for queue in queues:
            channel = await connection.channel()
            name = queue.removesuffix(PARKING_SUFFIX)
            try:
                result[name] = await import_queue(channel, name, store)
            except aio_pika.exceptions.ChannelNotFoundEntity:
                result[name] = None
    finally:
        await connection.close()
        store.close()
    return result


async def import_loop(
    connection: aio_pika.abc.AbstractConnection,
    queues: Sequence[str],
    store: BatchStore,
    interval: float,
) -> None:
    """Background task of a worker: keep the parking queues empty while the database answers.

    Each queue is imported on a channel and under a ``try`` of its own: a queue whose parked
    message the table refuses, or whose channel the broker closed, must not keep the queues
    after it from being imported.
    """
    warned = False
    broker_warned = False
    me = asyncio.current_task()
    while True:
        if me is not None and me.cancelling():
            # a cancel that landed in an aiormq call can come out as a channel error, which
            # the handlers below take for a broker hiccup: stop here instead of looping on
            raise asyncio.CancelledError
        await asyncio.sleep(interval)
        healthy = True
        for queue in queues:
            try:
                moved = await _import_one(connection, queue, store)
                if moved:
                    log.info(
                        "moved %d parked message(s) from %s into the dead-letter table",
                        moved,
                        parking_queue_name(queue),
                    )
            except DatabaseUnavailable as exc:
                healthy = False
                if not warned:
                    log.warning("parked messages wait: %s", exc)
                    warned = True
                break  # the same for every queue: try them all again next round
            except (aio_pika.exceptions.AMQPException, OSError) as exc:
                # parked messages left waiting must be visible; once per outage is enough
                healthy = False
                log.log(
                    logging.DEBUG if broker_warned else logging.WARNING,
                    "parked messages in %s wait: %s",
                    parking_queue_name(queue),
                    exc,
                )
                broker_warned = True
            except Exception:
                # e.g. a parked message the table refuses: it went back to its queue; the loop
                # must survive, or every later parked message would wait for a manual import
                healthy = False
                log.exception(
                    "moving parked messages from %s into the dead-letter table failed",
                    parking_queue_name(queue),
                )
        if healthy:
            warned = broker_warned = False


async def _import_one(
    connection: aio_pika.abc.AbstractConnection, queue: str, store: BatchStore
) -> int:
    channel = await connection.channel()
    try:
        return await import_queue(channel, queue, store)
    finally:
        if not channel.is_closed:
            await channel.close()
