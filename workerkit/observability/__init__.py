"""Metrics, Sentry reports, Slack alerts and trace ids in logs, each a middleware."""

from workerkit.observability.metrics import PrometheusMiddleware

__all__ = [
    "PrometheusMiddleware",
]
