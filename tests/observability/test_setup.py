"""default_middleware builds what the settings enable; close_middleware ends it cleanly."""

from __future__ import annotations

import asyncio
import json
import socket

import sentry_sdk

from tests.helpers import wait_for
from tests.observability.support import RecordingServer, make_ctx
from workerkit import Settings
from workerkit.config import AlertSettings, MetricsSettings, Secret, SentrySettings
from workerkit.observability import (
    PrometheusMiddleware,
    SentryMiddleware,
    SlackAlertMiddleware,
    TracingMiddleware,
    close_middleware,
    default_middleware,
)


def test_plain_settings_give_tracing_only() -> None:
    assert [type(m) for m in default_middleware(Settings())] == [TracingMiddleware]


async def test_each_configured_integration_is_built_and_closing_flushes_and_stops_them(
    http_sink: RecordingServer,
) -> None:
    settings = Settings(
        metrics=MetricsSettings(port=0),
        sentry=SentrySettings(dsn=Secret(f"http://key@127.0.0.1:{http_sink.port}/1")),
        alerts=AlertSettings(slack_webhook_url=Secret(f"{http_sink.url}/hook"), min_interval=60),
    )
    chain = default_middleware(settings)
    try:
        assert [type(m) for m in chain] == [
            TracingMiddleware,
            PrometheusMiddleware,
            SentryMiddleware,
            SlackAlertMiddleware,
        ]
        metrics, slack = chain[1], chain[3]
        assert isinstance(metrics, PrometheusMiddleware)
        assert isinstance(slack, SlackAlertMiddleware)
        for m in chain:
            m.after_worker_boot(["orders"])
        slack.after_process_message(make_ctx(), outcome="dead", exception=KeyError(), duration=1)
        await wait_for(lambda: slack.posted == 1, what="the first alert")
        slack.after_process_message(make_ctx(), outcome="dead", exception=KeyError(), duration=1)
        assert metrics.port
        port = metrics.port
    finally:
        await asyncio.to_thread(close_middleware, chain)
    slack_posts = [r for r in http_sink.requests if r.path == "/hook"]
    assert len(slack_posts) == 2  # the second, throttled one was sent at close
    assert json.loads(slack_posts[1].body)["text"].startswith("orders.delay-notice: 1 dead")
    assert sentry_sdk.get_client().transport is None  # closed, after sending
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
