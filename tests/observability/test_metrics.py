"""Prometheus metrics: counted from a real worker, served over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import threading
import urllib.request
from datetime import UTC, datetime

import pytest

from tests.helpers import delete_queues, running_worker, wait_for
from tests.observability.support import make_ctx
from workerkit import App, Message, NonRetriable, Settings
from workerkit.breakers.events import State, StateChange
from workerkit.config import BrokerSettings, SecretUrl
from workerkit.deadletters.store import DeadLetterStore
from workerkit.errors import ConfigError
from workerkit.observability import PrometheusMiddleware


def sample(mw: PrometheusMiddleware, name: str, **labels: str) -> float | None:
    return mw.registry.get_sample_value(name, labels)


@pytest.mark.integration
async def test_messages_are_counted_by_queue_and_outcome_and_timed(
    amqp_url: str, queue_name: str, dead_letter_store: DeadLetterStore
) -> None:
    metrics = PrometheusMiddleware()
    settings = Settings(broker=BrokerSettings(url=SecretUrl(amqp_url)))
    app = App("test", settings=settings, middleware=[metrics])

    @app.consumer(queue_name, concurrency=2)
    async def handle(message: Message) -> None:
        if message.body["n"] % 2:
            raise NonRetriable("odd numbers are refused")

    q = queue_name
    try:
        async with running_worker(app, store=dead_letter_store):
            for n in range(5):
                await app.publish(queue_name, {"n": n})
            await wait_for(
                lambda: sample(metrics, "workerkit_handler_duration_seconds_count", queue=q) == 5,
                what="five timed messages",
            )
        assert sample(metrics, "workerkit_messages_total", queue=q, outcome="ok") == 3
        assert sample(metrics, "workerkit_messages_total", queue=q, outcome="dead") == 2
        assert sample(metrics, "workerkit_busy_handlers", queue=q) == 0
        assert sample(metrics, "workerkit_broker_connected") == 1
    finally:
        await delete_queues(amqp_url, q, f"{q}.dead", f"{q}.retriable")


async def test_the_exporter_serves_the_registry_on_the_configured_port() -> None:
    metrics = PrometheusMiddleware(port=0)
    metrics.after_worker_boot(["orders"])
    assert metrics.port
    url = f"http://127.0.0.1:{metrics.port}/metrics"
    try:
        metrics.after_consumer_paused("orders", frozenset({"switch"}))
        page = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
        assert b'workerkit_consumer_paused{queue="orders"} 1.0' in page
    finally:
        metrics.stop_exporter()
    with pytest.raises(OSError):
        await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=2).read())


def test_a_taken_port_is_refused_with_the_setting_to_change() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        metrics = PrometheusMiddleware(port=taken.getsockname()[1])
        with pytest.raises(ConfigError, match="metrics.port: cannot serve metrics on 127.0.0.1"):
            metrics.start_exporter()


def test_worker_state_hooks_move_the_gauges() -> None:
    metrics = PrometheusMiddleware()
    metrics.after_concurrency_change("orders", 5, 12, "all slots busy")
    metrics.after_consumer_paused("orders", frozenset({"breaker"}))
    metrics.after_consumer_resumed("orders")
    metrics.after_connection_state("connected", "")
    metrics.after_connection_state("lost", "")
    assert sample(metrics, "workerkit_concurrency", queue="orders") == 12
    assert sample(metrics, "workerkit_consumer_paused", queue="orders") == 0
    assert sample(metrics, "workerkit_broker_connected") == 0
    assert sample(metrics, "workerkit_broker_connection_losses_total") == 1


def test_breaker_states_are_one_hot_even_when_reported_from_another_thread() -> None:
    metrics = PrometheusMiddleware()
    event = StateChange(
        "tms-api", State.CLOSED, State.OPEN, "62% failed", 62.0, None, datetime.now(UTC)
    )
    thread = threading.Thread(target=metrics.after_breaker_state_change, args=(event,))
    thread.start()
    thread.join(5)
    assert sample(metrics, "workerkit_breaker_state", breaker="tms-api", state="open") == 1
    assert sample(metrics, "workerkit_breaker_state", breaker="tms-api", state="closed") == 0
    assert (
        sample(metrics, "workerkit_breaker_transitions_total", breaker="tms-api", to_state="open")
        == 1
    )


def test_fallbacks_are_counted_per_queue_and_breaker() -> None:
    metrics = PrometheusMiddleware()
    ctx = make_ctx("orders")
    ctx.fallbacks.append("tms-api")
    metrics.before_process_message(ctx)
    metrics.after_process_message(ctx, outcome="ok", exception=None, duration=0.01)
    assert (
        sample(metrics, "workerkit_breaker_fallbacks_total", queue="orders", breaker="tms-api") == 1
    )


def test_two_instances_count_separately() -> None:
    first, second = PrometheusMiddleware(), PrometheusMiddleware()
    first.after_process_message(make_ctx("orders"), outcome="retry", exception=None, duration=0.1)
    assert sample(first, "workerkit_messages_total", queue="orders", outcome="retry") == 1
    assert sample(second, "workerkit_messages_total", queue="orders", outcome="retry") is None
