"""Making a failure durable: the retry copy, the dead-letter row, or the parking copy."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiormq.abc import DeliveredMessage

from workerkit.broker.publisher import Publisher
from workerkit.broker.topology import ConsumerTopology, declare_queue
from workerkit.consumer import Consumer
from workerkit.deadletters.record import DeadLetterRecord, Reason
from workerkit.message import (
    FIRST_FAILED_HEADER,
    REPLAYED_FROM_HEADER,
    TRACE_HEADER,
)
from workerkit.worker.deadwriter import DeadLetterWriter

log = logging.getLogger("workerkit.worker")

_SKIP_PREFIXES = tuple(
    {
        os.path.dirname(os.path.dirname(__file__)),
        sysconfig.get_paths()["stdlib"],
        sysconfig.get_paths()["purelib"],
        sysconfig.get_paths()["platlib"],
    }
)
PARK_PREFIX = "x-dl-"


@dataclass(frozen=True, slots=True)
class Failure:
    error_type: str
    error_message: str
    traceback: str
    fingerprint: str
    fault_location: str | None


def error_name(exc: BaseException) -> str:
    """``ValueError``, ``myapp.errors.TmsDown``: what an operator greps for."""
    return f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins.")


def describe_failure(exc: BaseException, max_traceback: int = 20_000) -> Failure:
    """Type, message, traceback, and a fingerprint of the type plus the innermost frame of the
    user's own code, so that the same bug groups together across messages and line edits."""
    error_type = error_name(exc)
    location = None
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        filename = frame.f_code.co_filename
        if not filename.startswith(_SKIP_PREFIXES) and not filename.startswith("<"):
            module = frame.f_globals.get("__name__", "?")
            location = f"{module}:{frame.f_code.co_qualname}"
    tb = "".join(traceback.format_exception(exc))[-max_traceback:]
    digest = hashlib.sha1(f"{error_type}|{location}".encode()).hexdigest()[:16]
    return Failure(error_type, str(exc) or error_type, tb, digest, location)


class FailureSink:
    def __init__(
        self,
        consumer: Consumer,
        topology: ConsumerTopology,
        publisher_fn: Callable[[], Publisher | None],
        writer: DeadLetterWriter | None,
    ) -> None:
        self.consumer = consumer
        self.topology = topology
        self.publisher_fn = publisher_fn
        self.writer = writer

    def _publisher(self) -> Publisher:
        publisher = self.publisher_fn()
        if publisher is None:
            raise RuntimeError("no broker connection")
        return publisher

    async def retry(
        self, delivery: DeliveredMessage, headers: dict[str, Any], delay: float
    ) -> None:
        publisher = self._publisher()
        spec, new = self.topology.retry_queue_for(delay)
        if new:
            await declare_queue(publisher.channel, spec)
        props = delivery.header.properties
        await publisher.publish(
            spec.name,
            delivery.body,
            headers=headers,
            message_id=props.message_id,
            content_type=props.content_type,
            properties=_properties(delivery),
        )

    async def dead(
        self, delivery: DeliveredMessage, attempt: int, reason: Reason, failure: Failure
    ) -> str:
        record = build_record(self.consumer, delivery, attempt, reason, failure)
        if self.writer is not None:
            try:
                await self.writer.add(record)
                return "dead"
            except Exception as exc:  # noqa: BLE001 - any refusal: park, never lose
                log.error(
                    "dead-letter database unavailable (%s); parking in %s",
                    exc,
                    self.topology.parking.name,
                )
        await self.park(record)
        return "parked"

    async def park(self, record: DeadLetterRecord) -> None:
        """Keep the message and its failure in ``<queue>.dead`` until the table answers."""
        headers = dict(record.headers)
        headers.update(park_headers(record))
        await self._publisher().publish(
            self.topology.parking.name,
            record.body,
            headers=headers,
            message_id=record.message_id,
            content_type=record.content_type,
            properties=record.properties,
        )


def _properties(delivery: DeliveredMessage) -> dict[str, Any]:
    from workerkit.worker.dispatch import PROPERTY_FIELDS

    props = delivery.header.properties
    return {f: getattr(props, f) for f in PROPERTY_FIELDS if getattr(props, f) is not None}


def build_record(
    consumer: Consumer, delivery: DeliveredMessage, attempt: int, reason: Reason, failure: Failure
) -> DeadLetterRecord:
    from workerkit.worker.dispatch import frame, load_history

    props = delivery.header.properties
    headers = dict(props.headers or {}) if isinstance(props.headers, dict) else {}
    now = datetime.now(UTC)
    history = load_history(headers)
    history.append(
        {
            "attempt": attempt,
            "error_type": failure.error_type,
            "error_message": failure.error_message[:500],
            "at": now.isoformat(),
        }
    )
    first = _parse_time(headers.get(FIRST_FAILED_HEADER)) or now
    replayed_from = headers.get(REPLAYED_FROM_HEADER)
    trace = headers.get(TRACE_HEADER)
    return DeadLetterRecord(
        queue=consumer.queue,
        consumer=consumer.name,
        message_id=props.message_id,
        trace_id=trace if isinstance(trace, str) else None,
        exchange=frame(delivery).exchange or "",
        routing_key=frame(delivery).routing_key or "",
        headers=headers,
        body=delivery.body,
        content_type=props.content_type,
        properties=_properties(delivery),
        attempts=attempt,
        error_type=failure.error_type,
        error_message=failure.error_message,
        traceback=failure.traceback,
        fingerprint=failure.fingerprint,
        fault_location=failure.fault_location,
        reason=reason,
        history=history,
        first_failed_at=first,
        last_failed_at=now,
        replayed_from=replayed_from if isinstance(replayed_from, int) else None,
    )


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def park_headers(record: DeadLetterRecord) -> dict[str, Any]:
    """Everything the importer needs to rebuild the row, under an ``x-dl-`` prefix."""
    meta = {
        "consumer": record.consumer,
        "exchange": record.exchange,
        "routing_key": record.routing_key,
        "attempts": record.attempts,
        "error_type": record.error_type,
        "error_message": record.error_message[:2000],
        "traceback": record.traceback[-8000:],
        "fingerprint": record.fingerprint,
        "fault_location": record.fault_location,
        "reason": record.reason,
        "history": record.history[-20:],
        "first_failed_at": record.first_failed_at.isoformat(),
        "last_failed_at": record.last_failed_at.isoformat(),
        "replayed_from": record.replayed_from,
    }
    return {f"{PARK_PREFIX}meta": json.dumps(meta)}
