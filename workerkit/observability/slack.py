"""Slack alerts for dead letters, open breakers and lost connections, aggregated per group.

Hooks only count (under a lock, so breaker events from other threads are fine) and wake a
sender thread; the thread posts to the webhook with a timeout. A post that fails is logged
once, counted, and its counts are kept for the next summary: an alert never blocks, fails
or requeues a message. The webhook URL is a secret and never appears in a log line.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workerkit.config import Settings
from workerkit.errors import ConfigError
from workerkit.middleware import Middleware
from workerkit.observability.alerts import Aggregator, Summary
from workerkit.observability.scrub import Scrubber, configured_secrets

if TYPE_CHECKING:
    from workerkit.context import Context

log = logging.getLogger("workerkit.observability")

EXAMPLE_CHARS = 300


class SlackAlertMiddleware(Middleware):
    """Posts at most one summary per group per ``settings.alerts.min_interval`` seconds.

    ``clock`` drives the throttle (inject a fake one in tests); ``poll_interval`` is how
    often, in real seconds, the sender looks for groups whose interval has passed.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        poll_interval: float = 1.0,
    ) -> None:
        cfg = settings.alerts
        if cfg.slack_webhook_url is None:
            raise ConfigError("alerts.slack_webhook_url is not set; Slack alerts need a webhook")
        self._url = cfg.slack_webhook_url.get_secret_value()
        self.timeout = cfg.timeout
        self.poll_interval = poll_interval
        self.book = Aggregator(cfg.min_interval, clock)
        self.scrubber = Scrubber(configured_secrets(settings))
        #: posts delivered, posts that failed, and sender passes (a test waits on these)
        self.posted = self.failed = self.passes = 0
        self._failing = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    # -- hooks: count, wake the sender, return ---------------------------------------------

    def after_worker_boot(self, queues: list[str]) -> None:
        self._ensure_sender()

    def before_worker_shutdown(self, queues: list[str]) -> None:
        """The sender posts everything pending, throttle or not, then ends."""
        self._stop.set()
        self._wake.set()

    def after_process_message(
        self, ctx: Context | None, *, outcome: str, exception: BaseException | None, duration: float
    ) -> None:
        if outcome not in ("dead", "parked", "invalid") or ctx is None:
            return
        error = type(exception).__name__ if exception is not None else "unknown error"
        queue = ctx.queue
        message_id = ctx.message.message_id or "-"
        example = f"id={message_id} trace={ctx.trace_id}: {error}: {exception}"
        detail = {
            "dead": f"of {error}",
            "parked": f"of {error} parked in {queue}.dead (dead-letter database unreachable)",
            "invalid": "(invalid message)",
        }[outcome]
        self._add(
            (outcome, queue, error),
            subject=queue,
            noun="dead letter",
            detail=detail,
            example=example,
            hint=f"workerkit dead-letters groups --queue {queue}",
        )

    def after_breaker_state_change(self, event: Any) -> None:
        if not getattr(event.to_state, "rejects_calls", False):
            return
        rate = getattr(event, "failure_rate", None)
        rate_text = f" (failure rate {rate:.0f}%)" if rate is not None else ""
        self._add(
            ("breaker", event.name),
            subject=f"breaker {event.name}",
            noun="opening",
            example=f"{event.from_state} -> {event.to_state}: {event.reason}{rate_text}",
            hint="workerkit breakers list",
        )

    def after_connection_state(self, state: str, detail: str) -> None:
        if state == "lost":
            self._add(
                ("connection",),
                subject="RabbitMQ",
                noun="lost connection",
                example=detail or "connection closed; the worker is reconnecting",
            )

    def _add(self, key: tuple[str, ...], *, example: str, **kwargs: Any) -> None:
        # one line per group: a multi-line error message is folded onto it
        example = " ".join(self.scrubber.text(example).split())[:EXAMPLE_CHARS]
        self.book.add(key, example=example, **kwargs)
        self._ensure_sender()
        self._wake.set()

    # -- the sender thread ----------------------------------------------------------------

    def _ensure_sender(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name="workerkit-slack", daemon=True
                )
                self._thread.start()

    def close(self, timeout: float | None = None) -> None:
        """Post what is pending and wait for the sender (blocking: not from a hook)."""
        self.before_worker_shutdown([])
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.timeout * 2)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.poll_interval)
            self._wake.clear()
            stopping = self._stop.is_set()
            summaries = self.book.due(everything=stopping)
            if summaries:
                self._post(summaries)
            self.passes += 1
            if stopping:
                return

    def _post(self, summaries: list[Summary]) -> None:
        text = "\n".join(_escape(s.text) for s in summaries)
        body = json.dumps({"text": text}).encode()
        request = urllib.request.Request(
            self._url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                response.read()
        except Exception as exc:  # noqa: BLE001 - any failure to alert must stay in here
            self.failed += 1
            self.book.restore(summaries)
            reason = self.scrubber.text(f"{type(exc).__name__}: {exc}")
            if not self._failing:
                log.error("Slack alert could not be posted (%s); kept for the next try", reason)
            else:
                log.debug("Slack alert could not be posted again (%s)", reason)
            self._failing = True
            return
        self.posted += 1
        if self._failing:
            log.info("Slack alerts are delivered again")
        self._failing = False


def _escape(text: str) -> str:
    """Slack reads <, > and & as markup; queue names and error text must stay literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
