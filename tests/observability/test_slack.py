"""Slack alerts: aggregated, throttled by an injected clock, posted to a real local server."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.helpers import delete_queues, running_worker, wait_for
from tests.observability.support import RecordingServer, make_ctx
from workerkit import App, Message, NonRetriable, Settings
from workerkit.breakers.events import State, StateChange
from workerkit.config import AlertSettings, BrokerSettings, Secret, SecretUrl
from workerkit.deadletters.query import DeadLetterFilter
from workerkit.deadletters.store import DeadLetterStore
from workerkit.observability import SlackAlertMiddleware

HOOK_PATH = "/services/T0001/B0002/hook-secret-5a4b3c"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def texts(sink: RecordingServer) -> list[str]:
    return [json.loads(body)["text"] for body in sink.bodies()]


def alert_settings(sink: RecordingServer, amqp_url: str | None = None, **alerts: float) -> Settings:
    return Settings(
        broker=BrokerSettings(url=SecretUrl(amqp_url or "amqp://guest:guest@127.0.0.1:5672/")),
        alerts=AlertSettings(slack_webhook_url=Secret(sink.url + HOOK_PATH), **alerts),
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def slack(http_sink: RecordingServer, clock: FakeClock) -> Iterator[SlackAlertMiddleware]:
    mw = SlackAlertMiddleware(
        alert_settings(http_sink, min_interval=60, timeout=0.5), clock=clock, poll_interval=0.02
    )
    yield mw
    mw.close()


def fail(mw: SlackAlertMiddleware, error: Exception, *, queue: str = "orders.delay-notice") -> None:
    mw.after_process_message(make_ctx(queue), outcome="dead", exception=error, duration=0.1)


async def settled(mw: SlackAlertMiddleware) -> None:
    """Wait for a sender pass that began after everything recorded so far."""
    start = mw.passes
    await wait_for(lambda: mw.passes >= start + 2, what="two sender passes")


async def test_a_storm_of_dead_letters_is_one_post_and_then_one_summary_per_interval(
    slack: SlackAlertMiddleware, http_sink: RecordingServer, clock: FakeClock
) -> None:
    fail(slack, ValueError("bad date 2026-13-01"))
    await wait_for(lambda: len(http_sink.requests) == 1, what="the first post")
    for n in range(36):
        clock.now += 1
        fail(slack, ValueError(f"bad date #{n}"))
    await settled(slack)
    assert len(http_sink.requests) == 1, "posted again inside the interval"

    clock.now = 1060.0
    await wait_for(lambda: len(http_sink.requests) == 2, what="the summary after 60 s")
    first, summary = texts(http_sink)
    assert first.startswith("orders.delay-notice: 1 dead letter of ValueError")
    assert summary == (
        "orders.delay-notice: 36 dead letters of ValueError in the last 60 s; "
        "first: id=m-1 trace=trace-1: ValueError: bad date #0; "
        "see `workerkit dead-letters groups --queue orders.delay-notice`"
    )
    assert all(r.path == HOOK_PATH for r in http_sink.requests)


async def test_each_group_has_its_own_throttle(
    slack: SlackAlertMiddleware, http_sink: RecordingServer, clock: FakeClock
) -> None:
    fail(slack, ValueError("a"))
    await wait_for(lambda: len(http_sink.requests) == 1, what="the first post")
    fail(slack, ValueError("b"))  # same group, inside the interval: held back
    fail(slack, KeyError("sku"))  # a new group: due at once
    fail(slack, ValueError("c"), queue="billing")  # another queue: due at once
    await wait_for(lambda: len(http_sink.requests) == 2, what="the new groups")
    await settled(slack)
    lines = texts(http_sink)[1].splitlines()
    assert len(lines) == 2
    assert any(line.startswith("orders.delay-notice: 1 dead letter of KeyError") for line in lines)
    assert any(line.startswith("billing: 1 dead letter of ValueError") for line in lines)
    assert len(http_sink.requests) == 2


async def test_an_example_is_one_line_without_secrets_and_with_slack_markup_escaped(
    slack: SlackAlertMiddleware, http_sink: RecordingServer
) -> None:
    ctx = make_ctx("orders<eu>", message_id=None)
    error = ValueError("first line\n  second line at amqp://svc:pw-0001@mq/ & <b>")
    slack.after_process_message(ctx, outcome="parked", exception=error, duration=0.1)
    await wait_for(lambda: http_sink.requests, what="the post")
    [text] = texts(http_sink)
    assert text == (
        "orders&lt;eu&gt;: 1 dead letter of ValueError parked in orders&lt;eu&gt;.dead "
        "(dead-letter database unreachable) in the last 1 s; first: id=- trace=trace-1: "
        "ValueError: first line second line at amqp://svc:[Filtered]@mq/ &amp; &lt;b&gt;; "
        "see `workerkit dead-letters groups --queue orders&lt;eu&gt;`"
    )


async def test_breaker_openings_from_another_thread_and_lost_connections_are_alerted(
    slack: SlackAlertMiddleware, http_sink: RecordingServer
) -> None:
    now = datetime.now(UTC)
    opened = StateChange("tms-api", State.CLOSED, State.OPEN, "too many failures", 62.0, None, now)
    probing = StateChange("tms-api", State.OPEN, State.HALF_OPEN, "wait over", None, None, now)
    for event in (probing, opened):
        thread = threading.Thread(target=slack.after_breaker_state_change, args=(event,))
        thread.start()
        thread.join(5)
    slack.after_connection_state("connected", "")
    slack.after_connection_state("lost", "")
    await wait_for(lambda: len("\n".join(texts(http_sink)).splitlines()) >= 2, what="two alerts")
    await settled(slack)
    lines = sorted("\n".join(texts(http_sink)).splitlines())
    assert lines == [
        "RabbitMQ: 1 lost connection in the last 1 s; "
        "first: connection closed; the worker is reconnecting",
        "breaker tms-api: 1 opening in the last 1 s; first: closed -&gt; open: "
        "too many failures (failure rate 62%); see `workerkit breakers list`",
    ]


async def test_a_failing_webhook_is_logged_once_keeps_the_counts_and_never_shows_its_url(
    slack: SlackAlertMiddleware,
    http_sink: RecordingServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    http_sink.status = 500
    fail(slack, ValueError("x"))
    await wait_for(lambda: slack.failed == 1, what="a failed post")
    clock.now += 60
    fail(slack, ValueError("y"))
    await wait_for(lambda: slack.failed == 2, what="a second failed post")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "HTTP Error 500" in errors[0].getMessage()

    http_sink.status = 200
    clock.now += 60
    await wait_for(lambda: slack.posted == 1, what="a post once Slack answers")
    assert texts(http_sink)[-1].startswith("orders.delay-notice: 2 dead letters of ValueError")
    assert "hook-secret" not in caplog.text and http_sink.url not in caplog.text


async def test_a_webhook_that_hangs_never_slows_the_hooks(
    slack: SlackAlertMiddleware, http_sink: RecordingServer
) -> None:
    http_sink.delay = 2.0  # longer than the 0.5 s timeout
    started = time.perf_counter()
    for n in range(200):
        fail(slack, ValueError(str(n)), queue=f"q{n % 5}")
    assert time.perf_counter() - started < 0.5
    await wait_for(lambda: slack.failed == 1, what="the post to time out")
    assert slack.book.pending() == 200  # kept for the next try


@pytest.mark.integration
async def test_dead_letters_from_a_running_worker_arrive_as_a_summary_and_the_rest_at_shutdown(
    http_sink: RecordingServer,
    clock: FakeClock,
    amqp_url: str,
    queue_name: str,
    dead_letter_store: DeadLetterStore,
) -> None:
    settings = alert_settings(http_sink, amqp_url, min_interval=3600)
    slack = SlackAlertMiddleware(settings, clock=clock, poll_interval=0.02)
    app = App("test", settings=settings, middleware=[slack])
    store = dead_letter_store

    @app.consumer(queue_name)
    async def handle(message: Message) -> None:
        raise NonRetriable(f"order {message.body['n']} has no customer")

    try:
        async with running_worker(app, store=store):
            for n in range(6):
                await app.publish(queue_name, {"n": n})
            await wait_for(
                lambda: store.count(DeadLetterFilter(queue=queue_name)) == 6,
                15,
                what="six dead letters",
            )
        await asyncio.to_thread(slack.close)
    finally:
        await delete_queues(amqp_url, queue_name, f"{queue_name}.dead", f"{queue_name}.retriable")
    posts = texts(http_sink)
    assert 1 <= len(posts) <= 2, posts
    counts = [int(m) for m in re.findall(r": (\d+) dead letters? of NonRetriable", "".join(posts))]
    assert sum(counts) == 6
