"""One consumer inside a worker process: its channel, its handler slots, its pause reasons.

Deliveries go into a local inbox that ``target`` slot tasks drain. The number of slots can
change while messages flow: new slots start at once, surplus slots leave when idle or after
their current message, so scaling down never abandons a message. Messages that share an
ordering key are released to the inbox one at a time, in arrival order.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aio_pika
import aiormq
from aiormq.abc import DeliveredMessage

from workerkit.broker import topology as topo
from workerkit.broker.connection import BROKER_ERRORS
from workerkit.broker.publisher import Publisher
from workerkit.consumer import Consumer
from workerkit.middleware import MiddlewareChain
from workerkit.worker.acker import Acker, Action
from workerkit.worker.deadwriter import DeadLetterWriter
from workerkit.worker.dispatch import Dispatcher, tag_of, to_message
from workerkit.worker.failures import FailureSink

log = logging.getLogger("workerkit.worker")

Keyed = tuple[DeliveredMessage, Hashable | None]
#: weight of the newest handler duration in the latency average (about the last 20 messages)
LATENCY_WEIGHT = 0.05


def prefetch_for(concurrency: int) -> int:
    """A quarter more than the slots, so a slot that finishes finds its next message already
    here instead of idling through an ack-and-deliver round trip; small enough that the
    worker does not hoard messages another process could take."""
    return concurrency + max(1, concurrency // 4)


class ConsumerRuntime:
    def __init__(
        self,
        consumer: Consumer,
        *,
        middleware: MiddlewareChain,
        writer: DeadLetterWriter | None,
        publisher_fn: Callable[[], Publisher | None],
    ) -> None:
        self.consumer = consumer
        self.queue = consumer.queue
        self.middleware = middleware
        self.topology = consumer.topology()
        self.target = consumer.min_concurrency
        self.executor = (
            None
            if consumer.is_async
            else ThreadPoolExecutor(consumer.max_concurrency, thread_name_prefix=consumer.queue)
        )
        self.dispatcher = Dispatcher(
            consumer,
            sink=FailureSink(consumer, self.topology, publisher_fn, writer),
            middleware=middleware,
            executor=self.executor,
            settle=self._settle,
            publisher_fn=publisher_fn,
        )
        self.pause_reasons: set[str] = set()
        #: a ceiling set from outside (half-open breaker probes); None: no ceiling
        self.cap: int | None = None
        self.busy = 0
        self.handled = 0
        self.latency = 0.0
        self._busy_seconds = 0.0
        self._busy_peak = 0
        self._busy_mark = time.perf_counter()
        self.depth: int | None = None
        self._inbox: asyncio.Queue[Keyed] = asyncio.Queue()
        self._slots: set[asyncio.Task[None]] = set()
        self._idle: set[asyncio.Task[None]] = set()
        self._active_keys: set[Hashable] = set()
        self._waiting: defaultdict[Hashable, deque[DeliveredMessage]] = defaultdict(deque)
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._underlay: aiormq.abc.AbstractChannel | None = None
        self._acker: Acker | None = None
        self._consumer_tag: str | None = None
        self._prefetch = 0
        self._lock = asyncio.Lock()
        #: prefetch changes in flight; held here so the loop cannot collect them half-done
        self._background: set[asyncio.Task[None]] = set()

    # -- connection lifecycle -------------------------------------------------------------

    async def attach(self, connection: aio_pika.abc.AbstractConnection) -> None:
        """Open a channel, declare the topology, and consume unless paused."""
        self._forget_channel()
        channel = await connection.channel(publisher_confirms=False)
        await topo.apply(channel, self.topology)
        self._channel = channel
        self._underlay = await channel.get_underlay_channel()
        self._acker = Acker(self._underlay)
        self.resize(self.target)
        if not self.pause_reasons:
            await self._start_consuming()

    @property
    def channel(self) -> aio_pika.abc.AbstractChannel | None:
        return self._channel

    def _forget_channel(self) -> None:
        """The old channel is gone: its unacked deliveries are already back in the queue."""
        self._channel = self._underlay = self._acker = None
        self._consumer_tag = None
        self._prefetch = 0
        self.depth = None
        self._drop_unstarted()

    async def _start_consuming(self) -> None:
        async with self._lock:
            if self._underlay is None or self._consumer_tag is not None:
                return
            await self._set_prefetch_locked(self.effective)
            tag = f"workerkit.{self.queue}.{uuid.uuid4().hex[:8]}"
            await self._underlay.basic_consume(self.queue, self._on_delivery, consumer_tag=tag)
            self._consumer_tag = tag

    async def _stop_consuming(self) -> None:
        async with self._lock:
            tag, self._consumer_tag = self._consumer_tag, None
            if tag is not None and self._underlay is not None and not self._underlay.is_closed:
                await self._underlay.basic_cancel(tag)
            self._return_unstarted()

    async def _set_prefetch_locked(self, concurrency: int) -> None:
        """QoS applies to consumers created after it, so a change re-subscribes: the new
        consumer starts with the new window, then the old one is cancelled. Deliveries of the
        old consumer stay valid on the channel and are acked as usual."""
        n = prefetch_for(concurrency)
        if self._underlay is None or n == self._prefetch:
            return
        await self._underlay.basic_qos(prefetch_count=n)
        self._prefetch = n
        old = self._consumer_tag
        if old is not None:
            tag = f"workerkit.{self.queue}.{uuid.uuid4().hex[:8]}"
            await self._underlay.basic_consume(self.queue, self._on_delivery, consumer_tag=tag)
            self._consumer_tag = tag
            await self._underlay.basic_cancel(old)

    async def set_prefetch(self, n: int) -> None:
        """Move the prefetch window to follow ``n`` slots (under the cap, if one is set)."""
        async with self._lock:
            if self._consumer_tag is not None:
                await self._set_prefetch_locked(min(n, self.cap) if self.cap else n)

    def _return_unstarted(self) -> None:
        """Prefetched messages that no slot has started go back to the queue."""
        for delivery in self._drop_unstarted():
            self._settle(delivery, "requeue")

    def _drop_unstarted(self) -> list[DeliveredMessage]:
        """Empty the inbox and the per-key queues. A key whose message is still being handled
        stays held, so its redelivered successors cannot overtake it after a resume or a
        reconnect; the running message releases the key when it ends."""
        pending: list[DeliveredMessage] = []
        while not self._inbox.empty():
            delivery, key = self._inbox.get_nowait()
            self._active_keys.discard(key)
            pending.append(delivery)
        for q in self._waiting.values():
            pending.extend(q)
        self._waiting.clear()
        return pending

    async def poll_depth(self) -> int | None:
        """Messages ready in the broker queue (a passive declare: one cheap round trip), or
        None while detached. The concurrency controller calls this every tick while slots are
        loaded or messages wait, else once a second."""
        underlay = self._underlay
        if underlay is None or underlay.is_closed:
            return None
        ok = await underlay.queue_declare(self.queue, passive=True)
        self.depth = ok.message_count or 0
        return self.depth

    # -- pausing --------------------------------------------------------------------------

    async def pause(self, reason: str) -> None:
        """Stop taking messages (in-flight ones finish); they wait in the queue."""
        first = not self.pause_reasons
        self.pause_reasons.add(reason)
        if first:
            await self._stop_consuming()
            log.info("consumer %s paused (%s)", self.queue, ", ".join(sorted(self.pause_reasons)))
            self.middleware.emit("after_consumer_paused", self.queue, frozenset(self.pause_reasons))

    async def resume(self, reason: str) -> None:
        if reason not in self.pause_reasons:
            return
        self.pause_reasons.discard(reason)
        if not self.pause_reasons:
            await self._start_consuming()
            log.info("consumer %s resumed", self.queue)
            self.middleware.emit("after_consumer_resumed", self.queue)

    @property
    def paused(self) -> bool:
        return bool(self.pause_reasons)

    # -- deliveries and slots -------------------------------------------------------------

    async def _on_delivery(self, delivery: DeliveredMessage) -> None:
        if delivery.channel is not self._underlay or self._acker is None:
            return  # from a channel we already let go of: the broker redelivers it
        self._acker.received(tag_of(delivery))
        key = self._ordering_key(delivery) if self.consumer.ordering_key is not None else None
        if key is None:
            self._inbox.put_nowait((delivery, None))
        elif key in self._active_keys:
            self._waiting[key].append(delivery)
        else:
            self._active_keys.add(key)
            self._inbox.put_nowait((delivery, key))

    def _ordering_key(self, delivery: DeliveredMessage) -> Hashable | None:
        spec = self.consumer.ordering_key
        try:
            key: Any
            if isinstance(spec, str):
                headers = delivery.header.properties.headers or {}
                key = headers.get(spec)
            else:
                assert spec is not None
                key = spec(to_message(delivery, self.consumer.accept))
            return ("k", key) if key is not None else None
        except Exception:  # noqa: BLE001 - an unreadable message has no key; dispatch dead-letters it
            return None

    def _release_key(self, key: Hashable) -> None:
        """The key's message ended: start its next one, or let the key go."""
        waiting = self._waiting.get(key)
        if waiting:
            self._inbox.put_nowait((waiting.popleft(), key))
            if not waiting:
                del self._waiting[key]
        else:
            self._active_keys.discard(key)

    def _settle(self, delivery: DeliveredMessage, action: Action) -> None:
        if self._acker is not None and delivery.channel is self._underlay:
            self._acker.settle(tag_of(delivery), action)

    @property
    def effective(self) -> int:
        """Slots actually running: the target, under the cap when one is set."""
        return min(self.target, self.cap) if self.cap else self.target

    def set_cap(self, cap: int | None) -> None:
        if cap == self.cap:
            return
        self.cap = cap
        self.resize(self.target)
        if self._consumer_tag is not None:
            task = asyncio.get_running_loop().create_task(self.set_prefetch(self.effective))
            self._background.add(task)
            task.add_done_callback(self._prefetch_done)

    def _prefetch_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("moving the prefetch window of %s failed", self.queue, exc_info=exc)

    def resize(self, n: int) -> None:
        """Set the number of handler slots; surplus slots leave without dropping work."""
        self.target = n
        n = self.effective
        while len(self._slots) < n:
            task = asyncio.get_running_loop().create_task(self._slot())
            self._slots.add(task)
        excess = len(self._slots) - n
        for task in list(self._idle)[: max(0, excess)]:
            self._idle.discard(task)
            self._slots.discard(task)
            task.cancel()

    async def _slot(self) -> None:
        me = asyncio.current_task()
        assert me is not None
        process = self.dispatcher.process
        inbox = self._inbox
        try:
            while True:
                self._idle.add(me)
                delivery, key = await inbox.get()
                self._idle.discard(me)
                started = self._count_busy(+1)
                try:
                    await process(delivery)
                except Exception:
                    # a bug in workerkit itself: keep the message, never drop it
                    log.exception("unexpected error in dispatch of %s; requeueing", self.queue)
                    await asyncio.sleep(1.0)
                    self._settle(delivery, "requeue")
                finally:
                    ended = self._count_busy(-1)
                    self.handled += 1
                    took = ended - started  # the first message seeds the average
                    self.latency += (took - self.latency) * (LATENCY_WEIGHT if self.latency else 1)
                    if key is not None:
                        self._release_key(key)
                if len(self._slots) > self.effective:
                    return
        finally:
            self._idle.discard(me)
            self._slots.discard(me)

    def _count_busy(self, delta: int) -> float:
        """Change ``busy``, first adding the slot-seconds spent at the old value."""
        now = time.perf_counter()
        self._busy_seconds += self.busy * (now - self._busy_mark)
        self._busy_mark = now
        self.busy += delta
        self._busy_peak = max(self._busy_peak, self.busy)
        return now

    def take_busy_peak(self) -> int:
        """The most slots busy at once since the last call: samples taken a few times a second
        would miss the short peaks that the next scale-down must leave room for."""
        peak, self._busy_peak = self._busy_peak, self.busy
        return peak

    @property
    def busy_seconds(self) -> float:
        """Slot-seconds spent in handlers so far: its rate of change is the mean of ``busy``,
        which the concurrency controller reads between two samples."""
        return self._busy_seconds + self.busy * (time.perf_counter() - self._busy_mark)

    @property
    def waiting(self) -> int:
        """Messages prefetched by this process and not started yet."""
        return self._inbox.qsize() + sum(len(q) for q in self._waiting.values())

    @property
    def ready(self) -> int:
        """Prefetched messages a free slot could start now (not held back by their key)."""
        return self._inbox.qsize()

    @property
    def slots(self) -> int:
        """Live slots; above ``target`` while surplus slots finish their message."""
        return len(self._slots)

    # -- shutdown -------------------------------------------------------------------------

    async def shutdown(self, grace: float) -> bool:
        """Stop consuming, let in-flight handlers finish within ``grace`` seconds, return the
        rest to the queue. Returns False when handlers were still running at the deadline."""
        try:
            await self._stop_consuming()
        except BROKER_ERRORS as exc:
            log.debug("cancel of %s failed: %s", self.queue, exc)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        # polls a counter many slots share; runs once, at shutdown
        while self.busy and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        clean = self.busy == 0
        for task in list(self._slots):
            task.cancel()
        await asyncio.gather(*self._slots, return_exceptions=True)
        if self._acker is not None:
            await self._acker.drain()
        if self._channel is not None and not self._channel.is_closed:
            try:
                await self._channel.close()
            except Exception as exc:  # noqa: BLE001 - closing a dying channel is best effort
                log.debug("closing channel of %s: %s", self.queue, exc)
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        return clean

    def state(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "concurrency": self.slots,
            "target": self.target,
            "min_concurrency": self.consumer.min_concurrency,
            "max_concurrency": self.consumer.max_concurrency,
            "busy": self.busy,
            "waiting": self.waiting,
            "queue_depth": self.depth,
            "backlog": self.waiting + (self.depth or 0),
            "latency_ms": round(self.latency * 1000, 1),
            "paused": sorted(self.pause_reasons),
            "handled": self.handled,
        }
