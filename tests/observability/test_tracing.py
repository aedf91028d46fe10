"""Trace ids: carried by published messages through a real broker, and stamped on log lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.helpers import delete_queues, running_worker, wait_for
from tests.observability.support import make_ctx
from workerkit import App, Context, Message, Settings
from workerkit.config import BrokerSettings, DeadLetterSettings, LogSettings, SecretUrl
from workerkit.observability import (
    JsonFormatter,
    TextFormatter,
    TraceFilter,
    TracingMiddleware,
    configure_logging,
)

log = logging.getLogger("tests.orders")


@pytest.fixture
def json_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Reads back every record that reached the root logger, as the JSON formatter wrote it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(TraceFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = log.level
    log.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    log.setLevel(old_level)


def ours(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "tests.orders"]


@pytest.mark.integration
async def test_a_message_published_from_a_handler_carries_the_incoming_trace_id(
    amqp_url: str, queue_name: str, json_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    follow_up = f"{queue_name}.notify"
    app = App(
        "test",
        settings=Settings(broker=BrokerSettings(url=SecretUrl(amqp_url))),
        middleware=[TracingMiddleware()],
    )
    received: list[str] = []

    @app.consumer(queue_name)
    async def place(message: Message, ctx: Context) -> None:
        log.info("placing order %s", message.body["order"])
        await ctx.publish(follow_up, {"order": message.body["order"]})

    @app.consumer(follow_up)
    async def notify(message: Message) -> None:
        log.info("notifying")
        received.append(message.trace_id)

    try:
        async with running_worker(app):
            await app.publish(queue_name, {"order": 5}, message_id="m-5", trace_id="trace-e2e")
            await wait_for(lambda: received, 15, what="the follow-up message")
        log.info("after the messages")
    finally:
        await delete_queues(
            amqp_url, queue_name, follow_up, *(f"{q}.retriable" for q in (queue_name, follow_up))
        )

    assert received == ["trace-e2e"]
    placing, notifying, after = ours(json_lines())
    assert placing["message"] == "placing order 5"
    assert (placing["queue"], placing["message_id"], placing["trace_id"]) == (
        queue_name,
        "m-5",
        "trace-e2e",
    )
    assert placing["attempt"] == "1"
    assert (notifying["queue"], notifying["trace_id"]) == (follow_up, "trace-e2e")
    assert "trace_id" not in after and "queue" not in after


@pytest.mark.integration
async def test_app_publish_inside_a_handler_keeps_the_trace_without_tracing_middleware(
    amqp_url: str, queue_name: str
) -> None:
    """Code that publishes through the app, not ctx, still continues the message's trace;
    concurrent messages each pass on their own, and a publish outside a handler starts one."""
    follow_up = f"{queue_name}.notify"
    app = App("test", settings=Settings(broker=BrokerSettings(url=SecretUrl(amqp_url))))
    received: dict[int, str] = {}

    async def notify_customer(order: int) -> None:  # a service function that knows the app
        await asyncio.sleep(0.01)  # interleave the concurrent handlers
        await app.publish(follow_up, {"order": order})

    @app.consumer(queue_name, concurrency=5)
    async def place(message: Message) -> None:
        await notify_customer(message.body["order"])

    @app.consumer(follow_up)
    async def notify(message: Message) -> None:
        received[message.body["order"]] = message.trace_id

    try:
        async with running_worker(app):
            for n in range(10):
                await app.publish(queue_name, {"order": n}, trace_id=f"trace-{n}")
            await wait_for(lambda: len(received) == 10, 15, what="ten follow-up messages")
            await app.publish(follow_up, {"order": 99})
            await wait_for(lambda: 99 in received, 15, what="the message from outside")
    finally:
        await delete_queues(
            amqp_url, queue_name, follow_up, *(f"{q}.retriable" for q in (queue_name, follow_up))
        )

    assert {n: received[n] for n in range(10)} == {n: f"trace-{n}" for n in range(10)}
    assert received[99] not in {f"trace-{n}" for n in range(10)}


@pytest.mark.integration
async def test_concurrent_messages_keep_their_own_ids_in_log_lines(
    amqp_url: str, queue_name: str, json_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    app = App(
        "test",
        settings=Settings(broker=BrokerSettings(url=SecretUrl(amqp_url))),
        middleware=[TracingMiddleware()],
    )
    done: list[int] = []

    @app.consumer(queue_name, concurrency=5)
    async def handle(message: Message) -> None:
        log.info("start %s", message.body["trace"])
        await asyncio.sleep(0.05)  # let the other handlers interleave
        log.info("end %s", message.body["trace"])
        done.append(1)

    try:
        async with running_worker(app):
            for n in range(10):
                await app.publish(queue_name, {"trace": f"t{n}"}, trace_id=f"t{n}")
            await wait_for(lambda: len(done) == 10, 15, what="ten messages")
    finally:
        await delete_queues(amqp_url, queue_name, f"{queue_name}.retriable")
    lines = ours(json_lines())
    assert len(lines) == 20
    for line in lines:
        assert line["message"].split()[1] == line["trace_id"]


def test_text_lines_name_the_message_once() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(TraceFilter())
    handler.setFormatter(TextFormatter())
    tracing, ctx = TracingMiddleware(), make_ctx("orders", message_id="m-9", trace_id="t-9")
    loggers = (log, ctx.log.logger)
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    try:
        tracing.before_process_message(ctx)
        log.info("plain line")
        ctx.log.info("handler line")
        tracing.after_process_message(ctx, outcome="ok", exception=None, duration=0.1)
        log.info("outside")
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)
    plain, via_ctx, outside = stream.getvalue().splitlines()
    assert plain.endswith("[orders id=m-9 attempt=1 trace=t-9] plain line")
    assert via_ctx.count("trace=t-9") == 1 and via_ctx.endswith("handler line")
    assert "trace=" not in outside


def test_configure_logging_writes_scrubbed_json_with_extras_and_replaces_its_own_handler() -> None:
    root = logging.getLogger()
    old_level, old_handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    try:
        configure_logging(Settings(log=LogSettings(format="text")))
        settings = Settings(
            log=LogSettings(level="WARNING", format="json"),
            deadletters=DeadLetterSettings(
                database_url=SecretUrl("postgresql://u:pg-pw-4242@db/x")
            ),
        )
        handler = configure_logging(settings, stream)
        ours_now = [h for h in root.handlers if h not in old_handlers]
        assert ours_now == [handler]
        try:
            raise KeyError("sku at postgresql://u:pg-pw-4242@db/x")
        except KeyError:
            log.warning("db %s down", "pg-pw-4242", extra={"breaker": "tms-api"}, exc_info=True)
        log.info("too quiet to show")
    finally:
        for h in root.handlers[:]:
            if h not in old_handlers:
                root.removeHandler(h)
        root.setLevel(old_level)
    [line] = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert line["level"] == "WARNING" and line["breaker"] == "tms-api"
    assert line["message"] == "db [Filtered] down"
    assert "KeyError: 'sku at postgresql://u:[Filtered]@db/x'" in line["exception"]
    assert "pg-pw-4242" not in stream.getvalue()
    assert logging.getLogger("aiormq").level == logging.WARNING
    assert logging.getLogger("workerkit.zk.kazoo").level == logging.WARNING


def test_secrets_in_extra_fields_never_reach_a_json_line() -> None:
    root = logging.getLogger()
    old_level, old_handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    try:
        configure_logging(Settings(log=LogSettings(format="json")), stream)
        log.warning(
            "publishing failed",
            extra={
                "target": "amqp://u:secretpw@h/",
                "api_token": "abcdef123",
                "headers": {"Authorization": "Bearer tok-777", "x-trace-id": "t1"},
                "breaker": "tms-api",
            },
        )
    finally:
        for h in root.handlers[:]:
            if h not in old_handlers:
                root.removeHandler(h)
        root.setLevel(old_level)
    text = stream.getvalue()
    for secret in ("secretpw", "abcdef123", "tok-777"):
        assert secret not in text
    [line] = [json.loads(x) for x in text.splitlines()]
    assert line["target"] == "amqp://u:[Filtered]@h/" and line["api_token"] == "[Filtered]"
    assert line["headers"] == {"Authorization": "[Filtered]", "x-trace-id": "t1"}
    assert line["breaker"] == "tms-api"
