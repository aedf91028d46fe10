"""Prometheus metrics for one worker process, kept in a registry of the middleware's own.

A registry per instance (not prometheus_client's global one) lets tests, and two apps in one
process, count separately. Every hook only updates a number: prometheus_client's metrics are
thread-safe, so breaker events from worker threads need no hop to the event loop.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from workerkit.breakers.events import State
from workerkit.errors import ConfigError
from workerkit.middleware import Middleware

if TYPE_CHECKING:
    from workerkit.context import Context

log = logging.getLogger("workerkit.observability")

#: handler durations from a fast cache lookup to a slow downstream call with retries
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
#: the label for a message that failed before its queue's context existed
UNKNOWN = "unknown"


class PrometheusMiddleware(Middleware):
    """Counts messages per queue and outcome, times handlers, and mirrors worker state.

    ``port`` None collects without serving (read :attr:`registry` yourself); 0 picks a free
    port, reported by :attr:`port` once :meth:`start_exporter` ran.
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        registry: CollectorRegistry | None = None,
        namespace: str = "workerkit",
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.host = host
        self.port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        r, ns = self.registry, namespace
        self.messages = Counter(
            "messages",
            "Messages handled, by final outcome",
            ["queue", "outcome"],
            namespace=ns,
            registry=r,
        )
        self.duration = Histogram(
            "handler_duration_seconds",
            "Time from delivery to settled outcome",
            ["queue"],
            namespace=ns,
            registry=r,
            buckets=DURATION_BUCKETS,
        )
        self.busy = Gauge(
            "busy_handlers", "Messages being handled now", ["queue"], namespace=ns, registry=r
        )
        self.concurrency = Gauge(
            "concurrency", "Handler slots the consumer runs", ["queue"], namespace=ns, registry=r
        )
        self.paused = Gauge(
            "consumer_paused", "1 while the consumer is paused", ["queue"], namespace=ns, registry=r
        )
        self.connected = Gauge(
            "broker_connected", "1 while connected to RabbitMQ", namespace=ns, registry=r
        )
        self.connection_losses = Counter(
            "broker_connection_losses",
            "Times the broker connection was lost",
            namespace=ns,
            registry=r,
        )
        self.breaker_state = Gauge(
            "breaker_state",
            "1 for the state each circuit breaker is in, 0 for the others",
            ["breaker", "state"],
            namespace=ns,
            registry=r,
        )
        self.breaker_transitions = Counter(
            "breaker_transitions",
            "Circuit breaker state changes",
            ["breaker", "to_state"],
            namespace=ns,
            registry=r,
        )
        self.fallbacks = Counter(
            "breaker_fallbacks",
            "Messages during which a breaker's fallback answered",
            ["queue", "breaker"],
            namespace=ns,
            registry=r,
        )

    # -- the HTTP exporter ----------------------------------------------------------------

    def start_exporter(self) -> None:
        """Serve /metrics on ``host:port`` from a daemon thread. Call it before the worker
        starts to refuse a taken port at once; the boot hook calls it otherwise."""
        if self.port is None or self._server is not None:
            return
        try:
            self._server, self._thread = start_http_server(self.port, self.host, self.registry)
        except OSError as exc:
            raise ConfigError(
                f"metrics.port: cannot serve metrics on {self.host}:{self.port} ({exc}); "
                "choose a free port or unset metrics.port"
            ) from None
        self.port = self._server.server_port
        log.info("metrics on http://%s:%d/metrics", self.host, self.port)

    def stop_exporter(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = self._thread = None

    def after_worker_boot(self, queues: list[str]) -> None:
        self.start_exporter()
        for queue in queues:
            self.paused.labels(queue).set(0)
            self.busy.labels(queue).set(0)

    def before_worker_shutdown(self, queues: list[str]) -> None:
        """The exporter keeps serving while handlers drain; it stops with the process."""

    # -- messages -------------------------------------------------------------------------

    def before_process_message(self, ctx: Context) -> None:
        self.busy.labels(ctx.queue).inc()

    def after_process_message(
        self, ctx: Context | None, *, outcome: str, exception: BaseException | None, duration: float
    ) -> None:
        queue = ctx.queue if ctx is not None else UNKNOWN
        self.messages.labels(queue, outcome).inc()
        if ctx is None:
            return  # never started, so never counted as busy or timed
        self.busy.labels(queue).dec()
        self.duration.labels(queue).observe(duration)
        for name in ctx.fallbacks:
            self.fallbacks.labels(queue, name).inc()

    # -- worker state ---------------------------------------------------------------------

    def after_consumer_paused(self, queue: str, reasons: frozenset[str]) -> None:
        self.paused.labels(queue).set(1)

    def after_consumer_resumed(self, queue: str) -> None:
        self.paused.labels(queue).set(0)

    def after_concurrency_change(self, queue: str, old: int, new: int, why: str) -> None:
        self.concurrency.labels(queue).set(new)

    def after_connection_state(self, state: str, detail: str) -> None:
        self.connected.set(1 if state == "connected" else 0)
        if state == "lost":
            self.connection_losses.inc()

    def after_breaker_state_change(self, event: Any) -> None:
        current = str(getattr(event.to_state, "value", event.to_state))
        for state in State:
            self.breaker_state.labels(event.name, state.value).set(
                1 if state.value == current else 0
            )
        self.breaker_transitions.labels(event.name, current).inc()
