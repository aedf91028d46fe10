"""One message's fate: decode, run the handler, then ack, retry or dead-letter.

This is the only place that decides an ack. The rule on every path: the message is settled
only after its outcome is durable (handler returned, retry copy confirmed, dead-letter row
committed, or parking copy confirmed). If that step fails the delivery is left to the broker
(requeued after a pause), never dropped.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any, cast

from aiormq.abc import DeliveredMessage
from pydantic import ValidationError

from workerkit.consumer import Consumer
from workerkit.context import HANDLING, Context
from workerkit.errors import InvalidMessage
from workerkit.message import (
    ERROR_HISTORY_HEADER,
    ERROR_MESSAGE_HEADER,
    ERROR_TYPE_HEADER,
    FIRST_FAILED_HEADER,
    RETRY_HEADER,
    TRACE_HEADER,
    Message,
    decode_body,
    parse_retry_count,
    parse_trace_id,
)
from workerkit.middleware import MiddlewareChain
from workerkit.worker.acker import Action
from workerkit.worker.failures import (
    FailureSink,
    describe_failure,
    error_name,
    frame,
    load_history,
    properties_of,
)

log = logging.getLogger("workerkit.worker")

HISTORY_LIMIT = 20
HEADER_TEXT_LIMIT = 1000


def tag_of(delivery: DeliveredMessage) -> int:
    return cast(int, frame(delivery).delivery_tag)


def to_message(delivery: DeliveredMessage, accept: frozenset[str] | None) -> Message:
    """Parse a delivery; raises :class:`InvalidMessage` for anything malformed."""
    try:
        return _to_message(delivery, accept)
    except InvalidMessage:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the bytes do, the worker survives
        raise InvalidMessage(f"unreadable delivery: {type(exc).__name__}: {exc}") from None


def _to_message(delivery: DeliveredMessage, accept: frozenset[str] | None) -> Message:
    props = delivery.header.properties
    headers = props.headers or {}
    if not isinstance(headers, dict):
        raise InvalidMessage("headers are not a table")
    retry_count = parse_retry_count(headers)
    body = decode_body(delivery.body, props.content_type, accept)
    return envelope(delivery, headers, body, retry_count)


def envelope(
    delivery: DeliveredMessage, headers: dict[str, Any], body: Any, retry_count: int
) -> Message:
    props = delivery.header.properties
    return Message(
        body=body,
        raw=delivery.body,
        headers=headers,
        message_id=props.message_id,
        content_type=props.content_type,
        routing_key=frame(delivery).routing_key or "",
        exchange=frame(delivery).exchange or "",
        retry_count=retry_count,
        trace_id=parse_trace_id(headers),
        redelivered=bool(frame(delivery).redelivered),
        properties=properties_of(delivery),
    )


class Dispatcher:
    """Runs one consumer's handler and settles each delivery through ``settle``."""

    def __init__(
        self,
        consumer: Consumer,
        *,
        sink: FailureSink,
        middleware: MiddlewareChain,
        executor: Executor | None,
        settle: Callable[[DeliveredMessage, Action], None],
        publisher_fn: Callable[[], Any],
    ) -> None:
        self.consumer = consumer
        self.sink = sink
        self.middleware = middleware
        self.executor = executor
        self.settle = settle
        self.publisher_fn = publisher_fn
        self._emit = middleware.emit if middleware.middleware else None

    async def process(self, delivery: DeliveredMessage) -> None:
        c = self.consumer
        started = time.perf_counter()
        try:
            message = to_message(delivery, c.accept)
            arg: Any = message
            if c.model is not None:
                try:
                    arg = c.model.model_validate(message.body)
                except ValidationError as exc:
                    raise InvalidMessage(f"body does not match {c.model.__name__}: {exc}") from None
        except InvalidMessage as exc:
            await self._fail(delivery, None, exc, started)
            return
        ctx = Context(message, queue=c.queue, consumer=c.name, publisher=self.publisher_fn())
        if self._emit:
            self._emit("before_process_message", ctx)
        handling = HANDLING.set(message.trace_id)
        try:
            if c.is_async:
                if c.takes_context:
                    await c.handler(arg, ctx)
                else:
                    await c.handler(arg)
            else:
                call = (
                    (lambda: c.handler(arg, ctx)) if c.takes_context else (lambda: c.handler(arg))
                )
                # copy the context so log lines in the thread keep the message's trace id
                run = contextvars.copy_context().run
                result = await asyncio.get_running_loop().run_in_executor(self.executor, run, call)
                if inspect.isawaitable(result):  # a coroutine behind a plain callable: run it
                    await result
        except Exception as exc:
            failed: Exception | None = exc
        else:
            failed = None
        finally:
            HANDLING.reset(handling)
        if failed is not None:
            await self._fail(delivery, ctx, failed, started)
            return
        self.settle(delivery, "ack")
        if self._emit:
            self._emit(
                "after_process_message",
                ctx,
                outcome="ok",
                exception=None,
                duration=time.perf_counter() - started,
            )

    async def _fail(
        self, delivery: DeliveredMessage, ctx: Context | None, exc: Exception, started: float
    ) -> None:
        c = self.consumer
        if ctx is None:  # it could not be parsed: the hooks and the row get what is known
            ctx = self._bare_context(delivery)
        attempt = ctx.message.attempt
        decision = c.retry.decide(exc, attempt)
        # one trace id for the log lines, the retry copy and the row, even when the message
        # came without one and the dispatcher started it
        trace = ctx.trace_id
        where = f"[{c.queue} id={ctx.message.message_id} attempt={attempt} trace={trace}]"
        try:
            if decision.action == "retry":
                # a retry needs only the error's name and text; the traceback is for rows
                error_type, error_message = error_name(exc), str(exc) or error_name(exc)
                log.warning(
                    "%s failed with %s: %s; retry in %gs",
                    where,
                    error_type,
                    error_message[:300],
                    decision.delay,
                )
                log.debug("traceback of %s", where, exc_info=exc)
                headers = retry_headers(delivery, attempt, error_type, error_message, trace)
                await self.sink.retry(delivery, headers, decision.delay)
                outcome = "retry"
            else:
                failure = describe_failure(exc)
                log.error(
                    "%s dead-lettered (%s) after %s: %s",
                    where,
                    decision.reason,
                    failure.error_type,
                    failure.error_message[:300],
                )
                log.debug("traceback of %s:\n%s", where, failure.traceback)
                assert decision.reason != "retry"
                outcome = await self.sink.dead(delivery, attempt, decision.reason, failure, trace)
        except Exception as store_exc:  # noqa: BLE001 - whatever failed, keep the message
            # the outcome could not be made durable: leave the message to the broker
            log.error(
                "%s: could not record its failure (%s); it will be redelivered",
                where,
                store_exc,
            )
            await asyncio.sleep(1.0)  # no hot requeue loop while the broker or DB is sick
            self.settle(delivery, "requeue")
            outcome = "requeued"
        else:
            self.settle(delivery, "ack")
            if decision.reason == "invalid" and outcome == "dead":
                outcome = "invalid"
        if self._emit:
            self._emit(
                "after_process_message",
                ctx,
                outcome=outcome,
                exception=exc,
                duration=time.perf_counter() - started,
            )

    def _bare_context(self, delivery: DeliveredMessage) -> Context:
        """For hooks about a message that could not be parsed: what is known of it."""
        props = delivery.header.properties
        headers = props.headers if isinstance(props.headers, dict) else {}
        message = envelope(delivery, headers, None, _attempt_or_one(delivery) - 1)
        return Context(
            message, queue=self.consumer.queue, consumer=self.consumer.name, publisher=None
        )


def _attempt_or_one(delivery: DeliveredMessage) -> int:
    try:
        return parse_retry_count(delivery.header.properties.headers) + 1
    except InvalidMessage:
        return 1


def retry_headers(
    delivery: DeliveredMessage, attempt: int, error_type: str, error_message: str, trace_id: str
) -> dict[str, Any]:
    """The original headers plus the attempt count, a bounded error history and the trace id
    the attempt was logged under."""
    headers = dict(delivery.header.properties.headers or {})
    headers[TRACE_HEADER] = trace_id
    now = datetime.now(UTC).isoformat()
    history = load_history(headers)
    history.append(
        {
            "attempt": attempt,
            "error_type": error_type,
            "error_message": error_message[:200],
            "at": now,
        }
    )
    headers[RETRY_HEADER] = attempt
    headers[ERROR_TYPE_HEADER] = error_type[:HEADER_TEXT_LIMIT]
    headers[ERROR_MESSAGE_HEADER] = error_message[:HEADER_TEXT_LIMIT]
    headers[ERROR_HISTORY_HEADER] = json.dumps(history[-HISTORY_LIMIT:])
    headers.setdefault(FIRST_FAILED_HEADER, now)
    return headers
