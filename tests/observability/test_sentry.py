"""Sentry reports from a real worker to a real HTTP server standing in for Sentry's ingest."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import sentry_sdk

from tests.helpers import delete_queues, running_worker, wait_for
from tests.observability.support import RecordingServer, make_ctx
from workerkit import App, Message, NonRetriable, Settings
from workerkit.config import (
    AlertSettings,
    BrokerSettings,
    Secret,
    SecretUrl,
    SentrySettings,
    ZooKeeperSettings,
)
from workerkit.errors import ConfigError
from workerkit.observability import SentryMiddleware

DB_PASSWORD = "db-pw-7f3a9c"
WEBHOOK = "https://hooks.slack.com/services/T0001/B0002/webhook-9d8e7f"
DIGEST_PASSWORD = "zk-digest-42bd1e"
TOKEN = "tok-5e6f7a8b9c"


def events(sink: RecordingServer, kind: str = "event") -> list[dict[str, Any]]:
    """The items of one type in every envelope (header line, item header line, item line)."""
    found = []
    for body in sink.bodies():
        lines = body.split(b"\n")
        for header, item in zip(lines[1::2], lines[2::2], strict=False):
            if json.loads(header).get("type") == kind:
                found.append(json.loads(item))
    return found


@pytest.fixture
def sentry_settings(amqp_url: str, http_sink: RecordingServer) -> Iterator[Settings]:
    yield Settings(
        broker=BrokerSettings(url=SecretUrl(amqp_url)),
        sentry=SentrySettings(dsn=Secret(f"http://publickey123@127.0.0.1:{http_sink.port}/1")),
        alerts=AlertSettings(slack_webhook_url=Secret(WEBHOOK)),
        zookeeper=ZooKeeperSettings(admin_digest=Secret(f"admin:{DIGEST_PASSWORD}")),
    )
    sentry_sdk.get_client().close(timeout=2)


def test_without_a_dsn_the_middleware_never_starts_the_sdk(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(sentry_sdk, "init", lambda *a, **k: calls.append("init"))
    monkeypatch.setattr(sentry_sdk, "capture_exception", lambda *a, **k: calls.append("capture"))
    sentry = SentryMiddleware(Settings())
    sentry.after_process_message(make_ctx(), outcome="dead", exception=ValueError("x"), duration=1)
    assert not sentry.enabled
    assert calls == []


def test_an_unknown_capture_outcome_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigError, match="use dead, retry"):
        SentryMiddleware(Settings(), capture=["dead", "ok"])


@pytest.mark.integration
async def test_a_dead_lettered_failure_reaches_sentry_tagged_and_without_secrets(
    sentry_settings: Settings, http_sink: RecordingServer, queue_name: str, amqp_url: str
) -> None:
    sentry = SentryMiddleware(sentry_settings)
    app = App("test", settings=sentry_settings, middleware=[sentry])

    @app.consumer(queue_name)
    async def handle(message: Message) -> None:
        api_token = TOKEN  # a local variable Sentry would otherwise send  # noqa: F841
        logging.getLogger("tests.sentry").warning("digest is admin:%s", DIGEST_PASSWORD)
        raise NonRetriable(
            f"postgresql://svc:{DB_PASSWORD}@db.internal/orders refused; told {WEBHOOK}"
        )

    try:
        async with running_worker(app):
            await app.publish(queue_name, {"order": 7}, message_id="msg-7", trace_id="trace-77")
            await wait_for(lambda: events(http_sink), 15, what="an event at the fake Sentry")
        await asyncio.to_thread(sentry.close)
    finally:
        await delete_queues(amqp_url, queue_name, f"{queue_name}.dead", f"{queue_name}.retriable")

    assert all(r.path == "/api/1/envelope/" for r in http_sink.requests)
    [event] = events(http_sink)
    assert event["tags"] == {
        "queue": queue_name,
        "consumer": app.consumers[queue_name].name,
        "attempt": "1",
        "trace_id": "trace-77",
        "message_id": "msg-7",
        "outcome": "parked",
    }
    assert event["level"] == "error"
    assert "db.internal" in event["exception"]["values"][0]["value"]
    everything = b"".join(http_sink.bodies())
    for secret in (DB_PASSWORD, WEBHOOK, "webhook-9d8e7f", DIGEST_PASSWORD, TOKEN):
        assert secret.encode() not in everything, secret


@pytest.mark.integration
@pytest.mark.parametrize(("capture", "expected"), [(None, 0), (["dead", "retry"], 1)])
async def test_retries_are_reported_only_when_asked(
    sentry_settings: Settings,
    http_sink: RecordingServer,
    queue_name: str,
    amqp_url: str,
    capture: list[str] | None,
    expected: int,
) -> None:
    sentry = SentryMiddleware(sentry_settings, capture=capture)
    app = App("test", settings=sentry_settings, middleware=[sentry])
    attempts: list[int] = []

    @app.consumer(queue_name, max_attempts=2, retry_delays=[0.1])
    async def handle(message: Message) -> None:
        attempts.append(message.attempt)
        if message.attempt == 1:
            raise ConnectionError("downstream blip")

    try:
        async with running_worker(app):
            await app.publish(queue_name, {"order": 8})
            await wait_for(lambda: attempts == [1, 2], 15, what="a retry that succeeds")
        await asyncio.to_thread(sentry.close)  # sends whatever was queued
    finally:
        await delete_queues(amqp_url, queue_name, f"{queue_name}.dead", f"{queue_name}.retriable")

    found = events(http_sink)
    assert len(found) == expected
    if expected:
        assert found[0]["level"] == "warning"
        assert found[0]["tags"]["outcome"] == "retry"


@pytest.mark.integration
async def test_an_event_carries_the_breadcrumbs_of_its_own_message_only(
    sentry_settings: Settings, http_sink: RecordingServer, queue_name: str, amqp_url: str
) -> None:
    sentry = SentryMiddleware(sentry_settings)
    app = App("test", settings=sentry_settings, middleware=[sentry])
    done: list[int] = []
    crumbs = logging.getLogger("tests.sentry")

    @app.consumer(queue_name, concurrency=4)
    async def handle(message: Message) -> None:
        n = message.body["n"]
        crumbs.warning("step one of order %d", n)
        await asyncio.sleep(0.05)  # the other handlers log in between
        done.append(n)
        if n == 0:
            raise NonRetriable("order 0 is broken")

    try:
        async with running_worker(app):
            for n in range(4):
                await app.publish(queue_name, {"n": n})
            await wait_for(lambda: len(done) == 4, 15, what="four messages")
            await wait_for(lambda: events(http_sink), 15, what="an event at the fake Sentry")
        await asyncio.to_thread(sentry.close)
    finally:
        await delete_queues(amqp_url, queue_name, f"{queue_name}.dead", f"{queue_name}.retriable")
    [event] = events(http_sink)
    messages = [c.get("message") for c in event["breadcrumbs"]["values"]]
    assert "step one of order 0" in messages
    assert not any(
        m and m.startswith("step one of order") and m != "step one of order 0" for m in messages
    )


@pytest.mark.integration
async def test_with_tracing_on_each_message_is_a_transaction_under_its_own_trace_id(
    amqp_url: str, http_sink: RecordingServer, queue_name: str
) -> None:
    settings = Settings(
        broker=BrokerSettings(url=SecretUrl(amqp_url)),
        sentry=SentrySettings(
            dsn=Secret(f"http://publickey123@127.0.0.1:{http_sink.port}/1"),
            traces_sample_rate=1.0,
        ),
    )
    sentry = SentryMiddleware(settings)
    app = App("test", settings=settings, middleware=[sentry])
    done: list[int] = []

    @app.consumer(queue_name)
    async def handle(message: Message) -> None:
        done.append(1)

    trace = "0123456789abcdef0123456789abcdef"
    try:
        async with running_worker(app):
            await app.publish(queue_name, {"order": 9}, trace_id=trace)
            await wait_for(lambda: done, 15, what="the message")
        await asyncio.to_thread(sentry.close)
    finally:
        sentry_sdk.get_client().close(timeout=2)
        await delete_queues(amqp_url, queue_name, f"{queue_name}.dead", f"{queue_name}.retriable")
    [tx] = events(http_sink, "transaction")
    assert tx["transaction"] == app.consumers[queue_name].name
    assert tx["contexts"]["trace"]["trace_id"] == trace
    assert tx["contexts"]["trace"]["status"] == "ok"
    assert tx["tags"]["queue"] == queue_name


def test_a_malformed_dsn_is_a_config_error_that_does_not_show_it() -> None:
    settings = Settings(sentry=SentrySettings(dsn=Secret("not-a-dsn-9f8e7d")))
    with pytest.raises(ConfigError, match="sentry.dsn: not a usable Sentry DSN") as caught:
        SentryMiddleware(settings)
    assert "9f8e7d" not in str(caught.value)
