"""An in-memory broker for unit-testing handlers without RabbitMQ.

``TestBroker(app)`` runs the real :class:`~workerkit.worker.dispatch.Dispatcher` of every
consumer against deliveries built in memory, so decoding, model validation, retry decisions,
retry headers and dead-letter records are the production code, not a copy of it::

    async with TestBroker(app, queues=["emails"]) as broker:
        await broker.publish("orders", {"id": 1})
        await broker.join()
        assert [m.json() for m in broker.messages("emails")] == [...]
        assert broker.dead_letters == []

What it emulates: the queues of each consumer's topology plan (work, retry, parking) and any
``queues=`` other services consume; the default exchange and the consumers' direct, topic
and fanout bindings; mandatory publishing (:class:`workerkit.Unroutable` when no queue takes
a message); headers and properties encoded and decoded as on the wire (pamqp), so a header
AMQP cannot carry fails at publish; retry queues that dead-letter expired copies back to the
work queue; acks and requeues; the real dead-letter writer over an in-memory table.

What it does not emulate: concurrency (one message at a time, in queue order, round-robin
across queues), prefetch, reconnects, broker TTL timing (retry delays are skipped, or scaled
by ``retry_delay_scale``), the ``x-death`` headers RabbitMQ adds to expired copies,
per-message ``expiration``, headers exchanges (an undeclared exchange is ``Unroutable``
here, a channel error there), and breakers' ``pause_when_open``. From creation until
``close()`` (the end of ``async with``), ``app.publish`` also lands on these queues, so code
under test that publishes through the app needs no broker either. ZooKeeper is not
involved: ``switches`` is a dict of flags, and a switch not in it reads as on, as with no
node. Sync handlers run in the loop's default executor; one stuck there cannot be
cancelled by ``join``'s timeout. Middleware is read when the broker is created: add it to
the app first.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, cast

import pamqp.frame
from aio_pika.abc import AbstractChannel
from aiormq.abc import AbstractChannel as RawChannel
from aiormq.abc import DeliveredMessage
from pamqp.commands import Basic
from pamqp.header import ContentHeader

from workerkit.app import App
from workerkit.broker import topology as topo
from workerkit.broker.publisher import Publisher
from workerkit.deadletters.record import DeadLetterRecord
from workerkit.errors import Unroutable
from workerkit.worker.acker import Action
from workerkit.worker.deadwriter import DeadLetterWriter
from workerkit.worker.dispatch import Dispatcher, tag_of
from workerkit.worker.failures import FailureSink

__all__ = ["Published", "TestBroker"]


@dataclass(frozen=True)
class Published:
    """One message as a queue holds it: what its consumer would be delivered."""

    queue: str
    exchange: str
    routing_key: str
    body: bytes
    properties: Basic.Properties
    redelivered: bool = False

    @property
    def headers(self) -> dict[str, Any]:
        return dict(self.properties.headers or {})

    @property
    def message_id(self) -> str | None:
        return self.properties.message_id

    @property
    def content_type(self) -> str | None:
        return self.properties.content_type

    def json(self) -> Any:
        return json.loads(self.body)


def on_the_wire(properties: Basic.Properties, body_size: int) -> Basic.Properties:
    """Marshal and unmarshal like aiormq does, so types change (and fail) as they would."""
    data = pamqp.frame.marshal(ContentHeader(0, body_size, properties), 1)
    return cast(ContentHeader, pamqp.frame.unmarshal(data)[2]).properties


def binds(binding: topo.Binding, exchange: str, routing_key: str) -> bool:
    if binding.exchange != exchange:
        return False
    if binding.exchange_type == "topic":
        return topic_matches(binding.routing_key.split("."), routing_key.split("."))
    if binding.exchange_type == "direct":
        return binding.routing_key == routing_key
    return binding.exchange_type == "fanout"  # a headers exchange takes nothing here


def topic_matches(pattern: list[str], words: list[str]) -> bool:
    """AMQP topic matching: ``*`` is one word, ``#`` zero or more."""
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(topic_matches(rest, words[i:]) for i in range(len(words) + 1))
    return bool(words) and head in ("*", words[0]) and topic_matches(rest, words[1:])


class _MemoryStore:
    """The dead-letter table as a list, behind the real group-commit writer."""

    def __init__(self) -> None:
        self.records: list[DeadLetterRecord] = []

    def add(self, record: DeadLetterRecord) -> int:
        self.records.append(record)
        return len(self.records)

    def add_many(self, records: list[DeadLetterRecord]) -> list[int]:
        return [self.add(r) for r in records]


class _MemoryChannel:
    """The one channel call the real path makes: declaring a retry queue for an ad-hoc delay."""

    is_closed = False

    def __init__(self, broker: TestBroker) -> None:
        self.broker = broker

    async def declare_queue(
        self, name: str, *, durable: bool = True, arguments: Mapping[str, Any] | None = None
    ) -> None:
        self.broker.declare(topo.QueueSpec(name, dict(arguments or {})))


class _MemoryPublisher(Publisher):
    """The real ``send`` (encoding, trace id) over a ``publish`` that routes in memory."""

    def __init__(self, broker: TestBroker) -> None:
        super().__init__(cast(AbstractChannel, _MemoryChannel(broker)))
        self.broker = broker

    async def _send(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        props: Basic.Properties,
        *,
        mandatory: bool,
    ) -> None:
        wire = on_the_wire(props, len(body))
        self.broker.route(exchange, routing_key, body, wire, mandatory=mandatory)


class TestBroker:
    """Queues in memory for one App; ``join`` runs its consumers until they are drained."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(
        self,
        app: App,
        *,
        queues: Iterable[str] = (),
        retry_delay_scale: float = 0.0,
        switches: Mapping[str, bool] | None = None,
    ) -> None:
        if retry_delay_scale < 0:
            raise ValueError(f"retry_delay_scale must be >= 0, got {retry_delay_scale}")
        self.app = app
        #: retry copies wait ``delay * retry_delay_scale`` seconds; 0 releases them at once
        self.retry_delay_scale = retry_delay_scale
        #: switch name -> on; a consumer whose ``switch=`` is off is paused, its queue kept
        self.switches = dict(switches or {})
        #: every delivery the dispatcher acked: handled, retried (after its copy) or dead
        self.acked: list[Published] = []
        self._store = _MemoryStore()
        self._writer = DeadLetterWriter(self._store)
        self._publisher = _MemoryPublisher(self)
        # app.publish finds an open publisher and uses it: ours, until close() gives theirs back
        self._app_publisher = app._publisher
        app._publisher = self._publisher
        self._queues: dict[str, deque[tuple[float, Published]]] = {}
        self._arguments: dict[str, dict[str, Any]] = {}
        self._history: dict[str, list[Published]] = {}
        self._bindings: list[topo.Binding] = []
        self._unacked: dict[int, Published] = {}
        self._tags = itertools.count(1)
        self._plans: dict[str, topo.ConsumerTopology] = {}
        self._dispatchers: dict[str, Dispatcher] = {}
        for name in queues:
            self.declare(topo.QueueSpec(name))
        for c in app.consumers.values():
            plan = c.topology()
            for spec in plan.all_queues():
                self.declare(spec)
            self._bindings += plan.bindings
            self._plans[c.queue] = plan
            self._dispatchers[c.queue] = Dispatcher(
                c,
                sink=FailureSink(c, plan, self._get_publisher, self._writer),
                middleware=app.middleware,
                executor=None,
                settle=self._settle,
                publisher_fn=self._get_publisher,
            )

    @property
    def dead_letters(self) -> list[DeadLetterRecord]:
        """The records the real worker would have written to the dead-letter table."""
        return list(self._store.records)

    def messages(self, queue: str) -> list[Published]:
        """Every message routed to ``queue`` so far, consumed or not, in arrival order."""
        return list(self._history[self._known(queue)])

    def pending(self, queue: str) -> list[Published]:
        """The messages still in ``queue``."""
        return [item for _, item in self._queues[self._known(queue)]]

    async def publish(
        self,
        routing_key: str,
        body: Any,
        *,
        exchange: str = "",
        headers: Mapping[str, Any] | None = None,
        message_id: str | None = None,
        trace_id: str | None = None,
        content_type: str | None = None,
    ) -> str:
        """What ``App.publish`` does, onto these queues: bytes as they are, else JSON."""
        return await self._publisher.send(
            routing_key,
            body,
            trace_id=trace_id,
            exchange=exchange,
            headers=headers,
            message_id=message_id,
            content_type=content_type,
        )

    async def join(
        self,
        queue: str | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - dramatiq's join(timeout=); the error says what is left
    ) -> None:
        """Run the consumers (of ``queue``, or all that are not switched off) until their
        work and retry queues are empty; a paused consumer's messages are left waiting.
        Raises ``TimeoutError`` naming what is left when a handler hangs or messages never
        stop coming; the message in hand goes back to its queue, as on a lost channel."""
        if queue is not None and queue not in self._dispatchers:
            raise ValueError(f"queue {queue!r} has no consumer (consumed: {sorted(self._plans)})")
        names = [
            n
            for n in ([queue] if queue is not None else self._dispatchers)
            if self.switches.get(self._dispatchers[n].consumer.switch or "", True)
        ]
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await asyncio.sleep(0)  # a handler that never suspends cannot block the timeout
                    ready = [n for n in names if self._queues[n]]
                    for name in ready:
                        await self._deliver(name)
                    if ready:
                        continue
                    delayed = self._delayed(names)
                    heads = [self._queues[d][0][0] for d in delayed if self._queues[d]]
                    if not heads:
                        return
                    await asyncio.sleep(max(0.0, min(heads) - loop.time()))
                    self._expire(delayed, loop.time())
        except TimeoutError:
            watched = names + self._delayed(names)
            left = {q: len(self._queues[q]) for q in watched if self._queues[q]}
            raise TimeoutError(
                f"join() still had {left} after {timeout}s: a handler is stuck, or handlers "
                "keep publishing to the queues they consume"
            ) from None

    def declare(self, spec: topo.QueueSpec) -> None:
        """``queue_declare``: idempotent, and the first declaration's arguments stay."""
        self._queues.setdefault(spec.name, deque())
        self._arguments.setdefault(spec.name, spec.arguments)
        self._history.setdefault(spec.name, [])

    def route(
        self,
        exchange: str,
        routing_key: str,
        body: bytes,
        properties: Basic.Properties,
        *,
        mandatory: bool,
    ) -> None:
        """Deliver to every bound queue; a message no queue takes is returned (raised)."""
        if exchange:
            targets = {b.queue for b in self._bindings if binds(b, exchange, routing_key)}
        else:
            targets = {routing_key} if routing_key in self._queues else set()
        if not targets and mandatory:
            raise Unroutable(
                f"no queue is bound for exchange {exchange or '(default)'!r} and routing key "
                f"{routing_key!r}; declare it with TestBroker(app, queues=[...])"
            )
        now = asyncio.get_running_loop().time()
        for name in sorted(targets):
            ttl = self._arguments[name].get("x-message-ttl")
            due = now if ttl is None else now + ttl / 1000 * self.retry_delay_scale
            item = Published(name, exchange, routing_key, body, properties)
            self._queues[name].append((due, item))
            self._history[name].append(item)

    def _expire(self, names: list[str], now: float) -> None:
        """RabbitMQ's dead-lettering of expired messages; TTLs expire at the head only."""
        for name in names:
            args, q = self._arguments[name], self._queues[name]
            while q and q[0][0] <= now:
                item = q.popleft()[1]
                rk = args.get("x-dead-letter-routing-key", item.routing_key)
                exchange = args.get("x-dead-letter-exchange", "")
                self.route(exchange, rk, item.body, item.properties, mandatory=False)

    async def _deliver(self, queue: str) -> None:
        item = self._queues[queue].popleft()[1]
        tag = next(self._tags)
        self._unacked[tag] = item
        frame = Basic.Deliver(
            f"workerkit.{queue}.test", tag, item.redelivered, item.exchange, item.routing_key
        )
        header = ContentHeader(0, len(item.body), item.properties)
        # the dispatcher settles through ``_settle`` and never touches the delivery's channel
        delivery = DeliveredMessage(frame, header, item.body, cast(RawChannel, None))
        try:
            await self._dispatchers[queue].process(delivery)
        finally:
            self._settle(delivery, "requeue", unsettled_only=True)

    def _settle(
        self, delivery: DeliveredMessage, action: Action, unsettled_only: bool = False
    ) -> None:
        item = self._unacked.pop(tag_of(delivery), None)
        if item is None:
            if not unsettled_only:
                raise RuntimeError(f"delivery {tag_of(delivery)} settled twice")
            return
        if action == "ack":
            self.acked.append(item)
        else:  # requeue
            self._queues[item.queue].appendleft((0.0, replace(item, redelivered=True)))

    def _delayed(self, names: list[str]) -> list[str]:
        return [s.name for n in names for s in self._plans[n].retry_queues.values()]

    def _get_publisher(self) -> Publisher:
        return self._publisher

    def _known(self, queue: str) -> str:
        if queue not in self._queues:
            raise ValueError(f"queue {queue!r} is not declared; pass TestBroker(queues=[...])")
        return queue

    def close(self) -> None:
        if self.app._publisher is self._publisher:
            self.app._publisher = self._app_publisher
        self._writer.close()

    async def __aenter__(self) -> TestBroker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
