"""Making a failure durable: the retry copy, the dead-letter row, or the parking copy."""

from __future__ import annotations

import hashlib
import json
import linecache
import logging
import os
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic

from workerkit.broker.publisher import Publisher
from workerkit.broker.topology import ConsumerTopology, declare_queue
from workerkit.consumer import Consumer
from workerkit.deadletters.codec import encode_headers
from workerkit.deadletters.record import DeadLetterRecord, Reason
from workerkit.message import (
    ERROR_HISTORY_HEADER,
    FIRST_FAILED_HEADER,
    REPLAYED_FROM_HEADER,
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


#: AMQP properties kept with a message (pamqp's names), besides id, type of content, headers
PROPERTY_FIELDS = (
    "content_encoding",
    "correlation_id",
    "reply_to",
    "expiration",
    "message_type",
    "user_id",
    "app_id",
    "priority",
    "timestamp",
    "delivery_mode",
)


def frame(delivery: DeliveredMessage) -> Basic.Deliver:
    """The Basic.Deliver of a consumed message (aiormq types it as any incoming frame)."""
    return cast(Basic.Deliver, delivery.delivery)


def load_history(headers: dict[str, Any]) -> list[dict[str, Any]]:
    raw = headers.get(ERROR_HISTORY_HEADER)
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    try:
        value = json.loads(raw) if isinstance(raw, str) else []
    except ValueError:
        return []
    return [h for h in value if isinstance(h, dict)] if isinstance(value, list) else []


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
    tb = format_traceback(exc)[-max_traceback:]
    digest = hashlib.sha1(f"{error_type}|{location}".encode()).hexdigest()[:16]
    return Failure(error_type, str(exc) or error_type, tb, digest, location)


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def format_traceback(exc: BaseException, limit: int = 100) -> str:
    """Python's traceback text, chained exceptions included, without 3.11's ``^^^^`` lines.

    Drawing those carets re-parses every source line with ``ast``; it made formatting the
    costliest step of dead-lettering a message, and an operator reading a row needs the frames,
    not the column marks. Exception groups keep the standard (slower) format.
    """
    if isinstance(exc, BaseExceptionGroup):
        return "".join(traceback.format_exception(exc))
    chain: list[tuple[BaseException, str | None]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.__cause__ is not None:
            chain.append((current, _CAUSE))
            current = current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            chain.append((current, _CONTEXT))
            current = current.__context__
        else:
            chain.append((current, None))
            current = None
    parts: list[str] = []
    for error, link in reversed(chain):
        if link is not None:  # how this exception relates to the one printed above it
            parts.append(link)
        parts.extend(_frames(error, limit))
        parts.extend(_exception_only(error))
    return "".join(parts)


def _exception_only(error: BaseException) -> list[str]:
    """``traceback.format_exception_only`` re-walks the whole chain on every call."""
    if isinstance(error, SyntaxError):
        return traceback.format_exception_only(error)
    kind = type(error)
    name = kind.__qualname__
    if kind.__module__ not in ("__main__", "builtins"):
        name = f"{kind.__module__}.{name}"
    try:
        text = str(error)
    except Exception:  # noqa: BLE001 - a broken __str__ must not lose the row
        text = "<exception str() failed>"
    lines = [f"{name}: {text}\n" if text else f"{name}\n"]
    notes = getattr(error, "__notes__", None)
    if isinstance(notes, list | tuple):
        lines.extend(f"{note}\n" for note in notes)
    return lines


def _frames(error: BaseException, limit: int) -> list[str]:
    entries = []
    tb = error.__traceback__
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    if not entries:
        return []
    lines = ["Traceback (most recent call last):\n"]
    for entry in entries[-limit:]:
        code, lineno = entry.tb_frame.f_code, entry.tb_lineno
        lines.append(f'  File "{code.co_filename}", line {lineno}, in {code.co_name}\n')
        source = linecache.getline(code.co_filename, lineno, entry.tb_frame.f_globals).strip()
        if source:
            lines.append(f"    {source}\n")
    return lines


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
        # no per-message TTL on the copy: an ``expiration`` shorter than the delay would
        # dead-letter it back early (cutting the backoff short) or let a broker policy drop it
        properties = properties_of(delivery)
        properties.pop("expiration", None)
        await publisher.publish(
            spec.name,
            delivery.body,
            headers=headers,
            message_id=props.message_id,
            content_type=props.content_type,
            properties=properties,
        )

    async def dead(
        self,
        delivery: DeliveredMessage,
        attempt: int,
        reason: Reason,
        failure: Failure,
        trace_id: str,
    ) -> str:
        record = build_record(self.consumer, delivery, attempt, reason, failure, trace_id)
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
        """Keep the message and its failure in ``<queue>.dead`` until the table answers.

        The original AMQP properties travel inside ``x-dl-meta``, not on the wire: an
        ``expiration`` would let the broker delete the copy (``<queue>.dead`` has no
        dead-letter exchange) after the original was acked, and a foreign ``user_id`` would
        make the broker refuse it.
        """
        headers = dict(record.headers)
        headers.update(park_headers(record))
        await self._publisher().publish(
            self.topology.parking.name,
            record.body,
            headers=headers,
            message_id=record.message_id,
            content_type=record.content_type,
        )


def properties_of(delivery: DeliveredMessage) -> dict[str, Any]:
    """The AMQP properties a message keeps (pamqp's names), the unset ones left out."""
    props = delivery.header.properties
    return {f: getattr(props, f) for f in PROPERTY_FIELDS if getattr(props, f) is not None}


def build_record(
    consumer: Consumer,
    delivery: DeliveredMessage,
    attempt: int,
    reason: Reason,
    failure: Failure,
    trace_id: str,
) -> DeadLetterRecord:
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
    return DeadLetterRecord(
        queue=consumer.queue,
        consumer=consumer.name,
        message_id=props.message_id,
        trace_id=trace_id,
        exchange=frame(delivery).exchange or "",
        routing_key=frame(delivery).routing_key or "",
        headers=headers,
        body=delivery.body,
        content_type=props.content_type,
        properties=properties_of(delivery),
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
        "properties": encode_headers(record.properties),
    }
    return {f"{PARK_PREFIX}meta": json.dumps(meta)}
