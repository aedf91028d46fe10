"""The worker process: connect, consume, reconnect after a loss, shut down on a signal.

States are logged once per change (``connected``, ``connection lost``, ``reconnected``), not
once per reconnect attempt. On SIGTERM or SIGINT the worker stops taking messages, lets
in-flight handlers finish within the grace period, returns prefetched messages to the queue
and exits 0; a second signal exits at once and the broker requeues whatever was unacked.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import aio_pika
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from workerkit.breakers.remote import presence_fields
from workerkit.broker.connection import BROKER_ERRORS, connect
from workerkit.broker.publisher import Publisher
from workerkit.errors import BrokerUnavailable, ConfigError, DatabaseUnavailable
from workerkit.worker.concurrency import ConcurrencyController
from workerkit.worker.consuming import ConsumerRuntime
from workerkit.worker.coordination import Coordination
from workerkit.worker.deadwriter import BatchStore, DeadLetterWriter

if TYPE_CHECKING:
    from workerkit.app import App

log = logging.getLogger("workerkit.worker")

EXIT_FORCED = 130
StartHook = Callable[["Worker"], Awaitable[None]]


class Worker:
    def __init__(
        self,
        app: App,
        queues: Sequence[str] | None = None,
        *,
        store: BatchStore | None = None,
        install_signals: bool = True,
    ) -> None:
        self.app = app
        self.settings = app.settings
        selected = list(queues) if queues else list(app.consumers)
        unknown = [q for q in selected if q not in app.consumers]
        if unknown:
            raise ConfigError(
                f"--queue {unknown[0]!r} has no consumer in this app "
                f"(it has {sorted(app.consumers)})"
            )
        self.publisher: Publisher | None = None
        self.store = store
        self.writer = DeadLetterWriter(store) if store is not None else None
        self._importer: asyncio.Task[None] | None = None
        self.runtimes = {
            q: ConsumerRuntime(
                app.consumers[q],
                middleware=app.middleware,
                writer=self.writer,
                publisher_fn=lambda: self.publisher,
            )
            for q in selected
        }
        self.controllers = {
            q: ConcurrencyController.for_runtime(
                r,
                r.consumer.min_concurrency,
                r.consumer.max_concurrency,
                settings=self.settings.worker,
                middleware=app.middleware,
            )
            for q, r in self.runtimes.items()
            if r.consumer.elastic
        }
        self.install_signals = install_signals
        self.connected = asyncio.Event()
        #: how many times the worker attached to a connection (1 + reconnects)
        self.attachments = 0
        self.on_start: list[StartHook] = []
        self.background: list[asyncio.Task[Any]] = []
        self._stop: asyncio.Event | None = None
        self._scaling: list[asyncio.Task[None]] = []
        self._signals = 0
        self._lost_event: asyncio.Event | None = None
        self.coordination = Coordination(self)

    # -- control --------------------------------------------------------------------------

    def request_stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    def _on_signal(self, signame: str) -> None:
        self._signals += 1
        if self._signals > 1:
            log.warning("second %s: exiting now; the broker requeues unacked messages", signame)
            os._exit(EXIT_FORCED)
        log.info(
            "%s received: finishing in-flight messages (grace %ss)",
            signame,
            self.settings.worker.grace_period,
        )
        self.request_stop()

    # -- main loop ------------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped. Raises :class:`BrokerUnavailable` if the first connect fails."""
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self.install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._on_signal, sig.name)
        connection: aio_pika.abc.AbstractConnection | None = await connect(
            self.settings.broker, name=f"workerkit {os.getpid()}"
        )
        await self.coordination.start()
        for hook in self.on_start:
            await hook(self)
        self.app.middleware.emit("after_worker_boot", list(self.runtimes))
        try:
            while connection is not None:
                lost = self._lost_event = asyncio.Event()
                connection.close_callbacks.add(lambda *_, ev=lost: ev.set())
                try:
                    await self._attach(connection)
                except BROKER_ERRORS as exc:
                    log.warning("setting up consumers failed (%s); reconnecting", exc)
                    lost.set()
                if not lost.is_set():
                    await _first(self._stop.wait(), lost.wait())
                if self._stop.is_set():
                    break
                self._lost()
                if not connection.is_closed:  # only a channel died: start afresh
                    await _close_quietly(connection)
                connection = await self._reconnect()
            return await self._shutdown(connection)
        finally:
            if self.install_signals:
                for sig in (signal.SIGTERM, signal.SIGINT):
                    loop.remove_signal_handler(sig)

    async def _attach(self, connection: aio_pika.abc.AbstractConnection) -> None:
        self.publisher = await Publisher.open(
            connection, confirm_timeout=self.settings.broker.confirm_timeout
        )
        self._watch(self.publisher.channel)
        for runtime in self.runtimes.values():
            await runtime.attach(connection)
            if runtime.channel is not None:
                self._watch(runtime.channel)
                underlay = await runtime.channel.get_underlay_channel()
                underlay.on_consumer_cancel_callbacks.add(self._cancelled_by_broker(runtime.queue))
        if self.store is not None:
            from workerkit.deadletters.parking import import_loop

            if self._importer is not None:
                self._importer.cancel()
            self._importer = asyncio.get_running_loop().create_task(
                import_loop(
                    connection,
                    list(self.runtimes),
                    self.store,
                    self.settings.deadletters.import_interval,
                )
            )
        if not self._scaling:
            # once: controllers outlive reconnects and skip their ticks while detached
            for queue, controller in self.controllers.items():
                task = asyncio.create_task(controller.run(), name=f"concurrency {queue}")
                self._scaling.append(task)
                self.background.append(task)
        self.connected.set()
        self.attachments += 1
        log.info("connected; consuming %s", ", ".join(self.runtimes))
        self.app.middleware.emit("after_connection_state", "connected", "")

    def _watch(self, channel: aio_pika.abc.AbstractChannel) -> None:
        """A channel the broker closes on us (an error on one delivery or publish) would
        leave a consumer silent or every retry failing; treat it like a lost connection."""
        lost = self._lost_event

        def closed(_: object, exc: BaseException | None) -> None:
            stopping = self._stop is not None and self._stop.is_set()
            if lost is not None and not lost.is_set() and not stopping:
                log.warning("a channel was closed by the broker (%s); reconnecting", exc)
                lost.set()

        channel.close_callbacks.add(closed)

    def _cancelled_by_broker(self, queue: str) -> Callable[[object], None]:
        """The broker cancels a consumer whose queue was deleted (our own cancels are answered
        with cancel-ok and never come here). The consumer would sit silent and retry copies
        would expire into nothing: reconnect, which declares the queue again."""
        lost = self._lost_event

        def cancelled(_: object) -> None:
            stopping = self._stop is not None and self._stop.is_set()
            if lost is not None and not lost.is_set() and not stopping:
                log.warning("the broker cancelled the consumer of %s; reconnecting", queue)
                lost.set()

        return cancelled

    def _lost(self) -> None:
        self.publisher = None
        self.connected.clear()
        log.warning(
            "connection to RabbitMQ lost; reconnecting (in-flight messages are redelivered)"
        )
        self.app.middleware.emit("after_connection_state", "lost", "")

    async def _reconnect(self) -> aio_pika.abc.AbstractConnection | None:
        assert self._stop is not None
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(BrokerUnavailable),
            wait=wait_exponential(multiplier=0.2, max=self.settings.broker.reconnect_max_delay),
        )
        async for attempt in retrying:
            with attempt:
                if self._stop.is_set():
                    return None
                n = attempt.retry_state.attempt_number
                try:
                    conn = await connect(self.settings.broker, name=f"workerkit {os.getpid()}")
                except BrokerUnavailable as exc:
                    if n == 1:
                        log.warning("%s; retrying with backoff", exc)
                    raise
                log.info("reconnected after %d attempt(s)", n)
                return conn
        return None

    def state(self) -> dict[str, Any]:
        """What the live-workers entry shows; called from the presence thread, so it only
        reads plain attributes."""
        return {
            "queues": {q: r.state() for q, r in self.runtimes.items()},
            "connected": self.connected.is_set(),
            **presence_fields(self.app.breakers),
        }

    async def _shutdown(self, connection: aio_pika.abc.AbstractConnection | None) -> int:
        self.app.middleware.emit("before_worker_shutdown", list(self.runtimes))
        # controllers stop between ticks: a cancelled RPC would close the consumer's channel
        for controller in self.controllers.values():
            controller.stop()
        if self._scaling:
            await asyncio.wait(self._scaling, timeout=5.0)
        stopping = [t for t in [*self.background, self._importer] if t is not None]
        for task in stopping:
            task.cancel()
        grace = self.settings.worker.grace_period
        await self.coordination.stop()
        results = await asyncio.gather(*(r.shutdown(grace) for r in self.runtimes.values()))
        if not all(results):
            log.warning(
                "grace period of %ss ended with handlers running; their messages "
                "return to the queue",
                grace,
            )
        if stopping:  # the importer acks the parked message in hand before it stops
            await asyncio.wait(stopping, timeout=5.0)
        if connection is not None and not connection.is_closed:
            await connection.close()
        if self.writer is not None:
            self.writer.close()
        log.info("worker stopped")
        return 0


async def _close_quietly(connection: aio_pika.abc.AbstractConnection) -> None:
    try:
        await connection.close()
    except Exception as exc:  # noqa: BLE001 - it is being replaced either way
        log.debug("closing the old connection: %s", exc)


async def _first(*aws: Awaitable[Any]) -> None:
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()


async def run_worker(app: App, queues: Sequence[str] | None = None) -> int:
    """What ``workerkit run`` does: build the worker with the app's stores and run it.

    A dead-letter database that does not answer at start is not fatal: failed messages are
    parked in ``<queue>.dead`` and moved into the table once it answers.
    """
    from workerkit.deadletters.store import DeadLetterStore

    store = DeadLetterStore(app.settings.deadletters.database_url.get_secret_value())
    try:
        await asyncio.to_thread(store.check)
    except DatabaseUnavailable as exc:
        log.error("%s; failed messages will be parked in <queue>.dead until it answers", exc)
    worker = Worker(app, queues, store=store)
    try:
        return await worker.run()
    finally:
        store.close()
