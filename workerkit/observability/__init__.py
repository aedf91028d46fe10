"""Metrics, Sentry reports, Slack alerts and trace ids in logs, each a middleware."""

from workerkit.observability.metrics import PrometheusMiddleware
from workerkit.observability.scrub import Scrubber
from workerkit.observability.sentry import SentryMiddleware
from workerkit.observability.slack import SlackAlertMiddleware

__all__ = [
    "PrometheusMiddleware",
    "Scrubber",
    "SentryMiddleware",
    "SlackAlertMiddleware",
]
