"""Metrics, Sentry reports, Slack alerts and trace ids in logs, each a middleware."""

from workerkit.observability.logformat import JsonFormatter, TextFormatter, configure_logging
from workerkit.observability.metrics import PrometheusMiddleware
from workerkit.observability.scrub import Scrubber
from workerkit.observability.sentry import SentryMiddleware
from workerkit.observability.setup import close_middleware, default_middleware
from workerkit.observability.slack import SlackAlertMiddleware
from workerkit.observability.tracing import TraceFilter, TracingMiddleware, current_message

__all__ = [
    "JsonFormatter",
    "PrometheusMiddleware",
    "Scrubber",
    "SentryMiddleware",
    "SlackAlertMiddleware",
    "TextFormatter",
    "TraceFilter",
    "TracingMiddleware",
    "close_middleware",
    "configure_logging",
    "current_message",
    "default_middleware",
]
