"""Sentry reports for handler failures, tagged so an issue leads straight to its messages.

By default only failures that end as dead letters are reported: a retry that later succeeds
is noise in an error tracker (its log line and metric are enough). Everything an event
carries, including local variables and log breadcrumbs, passes through the scrubber before
the SDK sends it, so a password in a URL or a variable called ``token`` never leaves.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from workerkit.config import Settings
from workerkit.errors import ConfigError
from workerkit.message import new_id
from workerkit.middleware import Middleware
from workerkit.observability.scrub import Scrubber, configured_secrets

if TYPE_CHECKING:
    from workerkit.context import Context

log = logging.getLogger("workerkit.observability")

#: which capture setting an outcome falls under; parked messages are dead letters in waiting
OUTCOME_KIND = {"dead": "dead", "parked": "dead", "retry": "retry"}
SENTRY_TRACE_ID = re.compile(r"[0-9a-f]{32}")

#: the Sentry scope, and transaction if traced, of the message handled in this task
#: (each handler slot is a task with its own context)
_message_scope: ContextVar[tuple[AbstractContextManager[Any], Any] | None] = ContextVar(
    "workerkit_sentry_scope", default=None
)


class SentryMiddleware(Middleware):
    """Initialises sentry-sdk from ``settings.sentry`` when a DSN is set; otherwise inert.

    The SDK is process-global: build one of these per process. ``capture`` overrides
    ``settings.sentry.capture`` (``"dead"`` and/or ``"retry"``).
    """

    def __init__(self, settings: Settings, *, capture: Iterable[str] | None = None) -> None:
        cfg = settings.sentry
        self.capture = frozenset(capture if capture is not None else cfg.capture)
        unknown = self.capture - set(OUTCOME_KIND.values())
        if unknown:
            raise ConfigError(
                f"sentry.capture: unknown outcome(s) {sorted(unknown)}; use dead, retry"
            )
        self.scrubber = Scrubber(configured_secrets(settings))
        self.enabled = cfg.dsn is not None
        #: a transaction per message, when ``traces_sample_rate`` asks for any
        self.traced = self.enabled and cfg.traces_sample_rate > 0
        if cfg.dsn is None:
            return
        sdk = _import_sdk()
        from sentry_sdk.integrations.logging import LoggingIntegration
        from sentry_sdk.utils import BadDsn

        try:
            sdk.init(
                dsn=cfg.dsn.get_secret_value(),
                environment=cfg.environment,
                traces_sample_rate=cfg.traces_sample_rate,
                before_send=self._before_send,
                before_send_transaction=self._before_send,
                before_breadcrumb=self._before_breadcrumb,
                # log lines stay breadcrumbs: events come from this middleware, once a failure
                integrations=[LoggingIntegration(level=logging.INFO, event_level=None)],
                auto_enabling_integrations=False,
                # Slack and other HTTP calls from this process get no sentry-trace headers
                trace_propagation_targets=[],
            )
        except BadDsn as exc:  # the DSN is a secret: show the reason, scrubbed of it
            reason = self.scrubber.text(str(exc))
            raise ConfigError(f"sentry.dsn: not a usable Sentry DSN ({reason})") from None

    def before_process_message(self, ctx: Context) -> None:
        """A scope of its own per message: breadcrumbs of concurrent messages stay apart,
        and anything the handler reports itself carries the message's tags."""
        if not self.enabled:
            return
        import sentry_sdk

        _leave_message_scope("cancelled")  # a message whose after hook never came (requeued)
        manager = sentry_sdk.isolation_scope()
        scope = manager.__enter__()
        scope.clear_breadcrumbs()
        for key, value in _tags(ctx).items():
            scope.set_tag(key, value)
        transaction = None
        if self.traced:  # sampled by traces_sample_rate; a no-op span when not sampled
            transaction = sentry_sdk.start_transaction(
                op="queue.process",
                name=ctx.consumer,
                source="task",
                # our trace ids are uuid4 hex like Sentry's: one id finds logs and trace alike
                trace_id=ctx.trace_id if SENTRY_TRACE_ID.fullmatch(ctx.trace_id) else new_id(),
            )
            transaction.__enter__()
        _message_scope.set((manager, transaction))

    def after_process_message(
        self, ctx: Context | None, *, outcome: str, exception: BaseException | None, duration: float
    ) -> None:
        """Hands the event to the SDK's background transport; the post never runs here."""
        try:
            if self.enabled and exception is not None and ctx is not None:
                self._report(ctx, outcome, exception, duration)
        finally:
            _leave_message_scope("ok" if outcome == "ok" else "internal_error")

    def _report(
        self, ctx: Context, outcome: str, exception: BaseException, duration: float
    ) -> None:
        kind = OUTCOME_KIND.get(outcome)
        if kind not in self.capture:
            return
        import sentry_sdk

        sentry_sdk.capture_exception(
            exception,
            level="error" if kind == "dead" else "warning",
            tags={**_tags(ctx), "outcome": outcome},
            contexts={
                "workerkit message": {
                    "routing_key": ctx.message.routing_key,
                    "exchange": ctx.message.exchange,
                    "redelivered": ctx.message.redelivered,
                    "duration_s": round(duration, 3),
                    "fallbacks": list(ctx.fallbacks),
                }
            },
        )

    def close(self, timeout: float = 2.0) -> None:
        """Sends what is queued (blocking up to ``timeout``) and turns the SDK off."""
        if self.enabled:
            import sentry_sdk

            sentry_sdk.get_client().close(timeout=timeout)
            self.enabled = False

    def _before_send(self, event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
        scrubbed: dict[str, Any] = self.scrubber.data(event)
        return scrubbed

    def _before_breadcrumb(self, crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
        scrubbed: dict[str, Any] = self.scrubber.data(crumb)
        return scrubbed


def _tags(ctx: Context) -> dict[str, str]:
    return {
        "queue": ctx.queue,
        "consumer": ctx.consumer,
        "attempt": str(ctx.attempt),
        "trace_id": ctx.trace_id,
        "message_id": ctx.message.message_id or "-",
    }


def _leave_message_scope(status: str) -> None:
    current = _message_scope.get()
    if current is None:
        return
    _message_scope.set(None)
    manager, transaction = current
    if transaction is not None:
        transaction.set_status(status)
        transaction.__exit__(None, None, None)
    manager.__exit__(None, None, None)


def _import_sdk() -> Any:
    try:
        import sentry_sdk
    except ImportError:
        raise ConfigError(
            "sentry.dsn is set but sentry-sdk is not installed; install it with: "
            "pip install sentry-sdk"
        ) from None
    return sentry_sdk
