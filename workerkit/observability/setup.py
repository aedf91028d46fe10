"""The observability middleware a worker's settings ask for, built in one call.

``workerkit run`` calls :func:`default_middleware` so that a DSN, webhook or metrics port in
the configuration is all it takes to turn a feature on; an app that builds its own list
can still use the classes directly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from workerkit.config import Settings
from workerkit.middleware import Middleware
from workerkit.observability.metrics import PrometheusMiddleware
from workerkit.observability.sentry import SentryMiddleware
from workerkit.observability.slack import SlackAlertMiddleware
from workerkit.observability.tracing import TracingMiddleware

log = logging.getLogger("workerkit.observability")


def default_middleware(settings: Settings) -> list[Middleware]:
    """Tracing always (it is one context variable per message); metrics when
    ``metrics.port`` is set; Sentry when ``sentry.dsn`` is set; Slack when
    ``alerts.slack_webhook_url`` is set. Tracing comes first so the others' log lines
    carry the message's ids."""
    chosen: list[Middleware] = [TracingMiddleware()]
    if settings.metrics.port is not None:
        chosen.append(PrometheusMiddleware(port=settings.metrics.port, host=settings.metrics.host))
    if settings.sentry.dsn is not None:
        chosen.append(SentryMiddleware(settings))
    if settings.alerts.slack_webhook_url is not None:
        chosen.append(SlackAlertMiddleware(settings))
    log.debug("observability middleware: %s", ", ".join(type(m).__name__ for m in chosen))
    return chosen


def close_middleware(middleware: Iterable[Middleware], timeout: float = 2.0) -> None:
    """After the worker stopped: send pending alerts and reports, stop the exporter.

    Blocks up to about ``timeout`` per middleware; call it outside the event loop (or after
    it ended), e.g. at the end of ``workerkit run``.
    """
    for m in middleware:
        try:
            if isinstance(m, SlackAlertMiddleware | SentryMiddleware):
                m.close(timeout)
            elif isinstance(m, PrometheusMiddleware):
                m.stop_exporter()
        except Exception:  # noqa: BLE001 - shutting down; one failure must not skip the rest
            log.warning("closing %s failed", type(m).__name__, exc_info=True)
