"""The in-memory harness behaves like the real worker path; no services needed."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from pydantic import BaseModel

import workerkit
from workerkit import App, Context, Message, Middleware, NonRetriable, Retry, Settings, Unroutable
from workerkit.testing import TestBroker


def make_app() -> App:
    return App("test", settings=Settings())


async def test_a_handler_failing_twice_then_succeeding_sees_retry_counts_none_1_2() -> None:
    app = make_app()
    seen: list[Any] = []

    @app.consumer("orders")
    async def handle(message: Message, ctx: Context) -> None:
        seen.append(message.headers.get("x-retry-count"))
        if len(seen) < 3:
            raise ValueError("downstream flaky")

    async with TestBroker(app) as broker:
        await broker.publish("orders", {"id": 1})
        await broker.join()

    assert seen == [None, 1, 2]
    assert broker.dead_letters == []
    assert len(broker.acked) == 3  # each original is acked once its retry copy is queued
    last = broker.messages("orders")[-1]
    assert last.headers["x-last-error-type"] == "ValueError"
    assert [h["attempt"] for h in json.loads(last.headers["x-error-history"])] == [1, 2]


async def test_an_always_failing_handler_gives_one_exhausted_record_with_the_exact_bytes() -> None:
    app = make_app()
    body = b'{"id":  7, "note": "caf\xc3\xa9"}'

    @app.consumer("orders", max_attempts=4)
    async def handle(message: Message) -> None:
        raise ValueError(f"attempt {message.attempt}")

    async with TestBroker(app) as broker:
        await broker.publish("orders", body, content_type="application/json", trace_id="t-1")
        await broker.join()

    [record] = broker.dead_letters
    assert record.reason == "exhausted"
    assert record.body == body
    assert record.attempts == 4
    assert len(record.history) == 4
    assert record.error_message == "attempt 4"
    assert (record.queue, record.trace_id) == ("orders", "t-1")
    assert broker.pending("orders") == []


async def test_a_non_retriable_error_is_dead_lettered_after_one_attempt() -> None:
    app = make_app()
    calls: list[int] = []

    @app.consumer("orders")
    async def handle(message: Message) -> None:
        calls.append(message.attempt)
        raise NonRetriable("customer deleted")

    async with TestBroker(app) as broker:
        await broker.publish("orders", {"id": 1})
        await broker.join()

    assert calls == [1]
    [record] = broker.dead_letters
    assert (record.reason, record.attempts, len(record.history)) == ("non_retriable", 1, 1)


@pytest.mark.parametrize(
    ("body", "headers"),
    [(b"{not json", {}), (b'{"id": 1}', {"x-retry-count": -1})],
    ids=["bad-json", "negative-retry-count"],
)
async def test_malformed_messages_are_dead_lettered_as_invalid_without_calling_the_handler(
    body: bytes, headers: dict[str, Any]
) -> None:
    app = make_app()
    calls: list[Message] = []

    @app.consumer("orders")
    async def handle(message: Message) -> None:
        calls.append(message)

    async with TestBroker(app) as broker:
        await broker.publish("orders", body, headers=headers, content_type="application/json")
        await broker.join()

    assert calls == []
    [record] = broker.dead_letters
    assert (record.reason, record.body) == ("invalid", body)


class Order(BaseModel):
    id: int
    total: float


async def test_a_model_annotated_handler_gets_the_model_and_a_mismatch_is_invalid() -> None:
    app = make_app()
    got: list[Order] = []

    @app.consumer("orders")
    async def handle(order: Order) -> None:
        got.append(order)

    async with TestBroker(app) as broker:
        await broker.publish("orders", Order(id=1, total=9.5))
        await broker.publish("orders", {"id": "not a number"})
        await broker.join()

    assert got == [Order(id=1, total=9.5)]
    [record] = broker.dead_letters
    assert record.reason == "invalid"
    assert "body does not match Order" in record.error_message


async def test_ctx_publish_lands_in_the_other_queue_with_the_same_trace_id() -> None:
    app = make_app()

    @app.consumer("orders")
    async def handle(message: Message, ctx: Context) -> None:
        await ctx.publish("emails", {"to": message.body["email"]})

    async with TestBroker(app, queues=["emails"]) as broker:
        await broker.publish("orders", {"email": "a@example.com"}, trace_id="trace-42")
        await broker.join()

    [email] = broker.pending("emails")
    assert email.json() == {"to": "a@example.com"}
    assert email.headers["x-trace-id"] == "trace-42"
    assert email.properties.delivery_mode == 2


async def test_app_publish_from_code_under_test_lands_in_memory_with_the_trace_id() -> None:
    app = make_app()

    async def notify(address: str) -> None:  # a service function that only knows the app
        await app.publish("emails", {"to": address})

    @app.consumer("orders")
    async def handle(message: Message) -> None:
        await notify(message.body["email"])

    async with TestBroker(app, queues=["emails"]) as broker:
        await broker.publish("orders", {"email": "a@example.com"}, trace_id="trace-7")
        await broker.join()
        await app.publish("emails", {"to": "b@example.com"})  # outside any handler
        with pytest.raises(Unroutable):
            await app.publish("nowhere", {})

    first, second = broker.pending("emails")
    assert first.json() == {"to": "a@example.com"}
    assert first.headers["x-trace-id"] == "trace-7"  # copied from the message being handled
    assert second.json() == {"to": "b@example.com"}
    assert second.headers["x-trace-id"] not in ("trace-7", "")  # a fresh trace outside one
    assert app._publisher is None  # closing gave the app back its own (unopened) publisher


async def test_publishing_to_a_queue_nobody_declared_raises_unroutable() -> None:
    app = make_app()

    @app.consumer("orders", max_attempts=2)
    async def handle(message: Message, ctx: Context) -> None:
        await ctx.publish("nowhere", {})

    async with TestBroker(app) as broker:
        with pytest.raises(Unroutable):
            await broker.publish("nowhere", {})
        await broker.publish("orders", {})
        await broker.join()

    [record] = broker.dead_letters
    assert (record.reason, record.error_type) == ("exhausted", "workerkit.errors.Unroutable")


async def test_join_raises_for_a_handler_that_never_returns_and_keeps_its_message() -> None:
    app = make_app()

    @app.consumer("orders")
    async def handle(message: Message) -> None:
        await asyncio.Event().wait()

    async with TestBroker(app) as broker:
        await broker.publish("orders", {"id": 1})
        with pytest.raises(TimeoutError, match="'orders': 1"):
            await broker.join(timeout=0.1)

    [kept] = broker.pending("orders")
    assert kept.redelivered
    assert broker.acked == []


async def test_join_raises_when_a_handler_keeps_feeding_its_own_queue() -> None:
    app = make_app()

    @app.consumer("orders")
    async def handle(message: Message, ctx: Context) -> None:
        await ctx.publish("orders", message.body)

    async with TestBroker(app) as broker:
        await broker.publish("orders", {})
        with pytest.raises(TimeoutError, match="keep publishing"):
            await broker.join(timeout=0.2)


async def test_a_sync_handler_runs_in_a_thread_through_the_same_path() -> None:
    app = make_app()
    calls: list[int] = []

    @app.consumer("orders", max_attempts=2)
    def handle(message: Message) -> None:
        calls.append(message.attempt)
        raise KeyError("missing")

    async with TestBroker(app) as broker:
        await broker.publish("orders", {})
        await broker.join()

    assert calls == [1, 2]
    assert [r.reason for r in broker.dead_letters] == ["exhausted"]


async def test_an_ad_hoc_retry_delay_goes_through_its_own_retry_queue() -> None:
    app = make_app()

    @app.consumer("orders", retry_delays=[1.0])
    async def handle(message: Message) -> None:
        if message.attempt == 1:
            raise Retry("later", delay=7)

    async with TestBroker(app) as broker:
        await broker.publish("orders", {})
        await broker.join()

    assert len(broker.messages("orders.retriable.7s")) == 1
    assert broker.messages("orders.retriable") == []
    assert broker.dead_letters == []


async def test_retry_delays_are_scaled_when_a_factor_is_given() -> None:
    app = make_app()

    @app.consumer("orders", max_attempts=2, retry_delays=[20.0])
    async def handle(message: Message) -> None:
        raise ValueError("no")

    async with TestBroker(app, retry_delay_scale=0.01) as broker:
        await broker.publish("orders", {})
        started = time.perf_counter()
        await broker.join()

    assert time.perf_counter() - started >= 0.2
    assert len(broker.dead_letters) == 1


async def test_topic_bindings_route_to_the_consumers_that_match() -> None:
    app = make_app()
    got: list[str] = []

    @app.consumer("eu", exchange="events", routing_key="order.eu.*")
    async def eu(message: Message) -> None:
        got.append(f"eu:{message.routing_key}")

    @app.consumer("all", exchange="events", routing_key="order.#")
    async def every(message: Message) -> None:
        got.append(f"all:{message.routing_key}")

    async with TestBroker(app) as broker:
        await broker.publish("order.eu.created", {}, exchange="events")
        await broker.publish("order.us.created", {}, exchange="events")
        with pytest.raises(Unroutable):
            await broker.publish("invoice.eu", {}, exchange="events")
        await broker.join()

    assert sorted(got) == ["all:order.eu.created", "all:order.us.created", "eu:order.eu.created"]


async def test_a_consumer_whose_switch_is_off_keeps_its_messages_until_switched_on() -> None:
    app = make_app()
    got: list[int] = []

    @app.consumer("orders", switch="orders-on")
    async def handle(message: Message) -> None:
        got.append(message.body["id"])

    async with TestBroker(app, switches={"orders-on": False}) as broker:
        await broker.publish("orders", {"id": 1})
        await broker.join()
        assert (got, len(broker.pending("orders"))) == ([], 1)
        broker.switches["orders-on"] = True
        await broker.join()

    assert got == [1]


async def test_a_header_amqp_cannot_carry_fails_at_publish() -> None:
    async with TestBroker(make_app(), queues=["q"]) as broker:
        with pytest.raises(TypeError):
            await broker.publish("q", {}, headers={"bad": object()})


async def test_middleware_hooks_see_the_outcomes() -> None:
    outcomes: list[str] = []

    class Record(Middleware):
        def after_process_message(
            self, ctx: Context, *, outcome: str, exception: BaseException | None, duration: float
        ) -> None:
            outcomes.append(outcome)

    app = App("test", settings=Settings(), middleware=[Record()])

    @app.consumer("orders", max_attempts=2)
    async def handle(message: Message) -> None:
        raise ValueError("no")

    async with TestBroker(app) as broker:
        await broker.publish("orders", {})
        await broker.publish("orders", b"\xff", content_type="application/json")
        await broker.join()

    assert sorted(outcomes) == ["dead", "invalid", "retry"]


async def test_join_of_one_queue_leaves_the_other_consumers_alone() -> None:
    app = make_app()
    got: list[str] = []

    @app.consumer("a")
    async def handle_a(message: Message) -> None:
        got.append("a")

    @app.consumer("b")
    async def handle_b(message: Message) -> None:
        got.append("b")

    async with TestBroker(app) as broker:
        await broker.publish("a", {})
        await broker.publish("b", {})
        await broker.join("a")
        assert (got, len(broker.pending("b"))) == (["a"], 1)
        with pytest.raises(ValueError, match="no consumer"):
            await broker.join("a.dead")


def test_the_harness_is_exported_from_workerkit_testing_only() -> None:
    assert "TestBroker" not in workerkit.__all__
    assert "TestBroker" in workerkit.testing.__all__
