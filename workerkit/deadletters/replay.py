"""Replay dead letters: claim rows, publish with confirms, then mark them replayed.

Order matters for "never lost, never twice": a row is claimed (``dead`` -> ``replaying``)
before anything is sent, so a second operator gets nothing to send; it is marked
``replayed`` only after the broker confirmed the copy (``mandatory`` so an unroutable copy
comes back as an error instead of vanishing); a copy that failed releases its claim. One
connection serves the whole run and up to ``window`` publishes wait for confirms at once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from yarl import URL

from workerkit.config import mask_url
from workerkit.deadletters.message import replay_message, route
from workerkit.deadletters.pacing import Pacer
from workerkit.deadletters.store import DeadLetterStore
from workerkit.deadletters.transitions import ClaimedRow
from workerkit.errors import BrokerUnavailable


@dataclass(frozen=True)
class ReplayOptions:
    by: str
    to_queue: str | None = None
    body: bytes | None = None  # an edited body; only for a single row
    rate: float | None = None  # messages per second; None is as fast as confirms come
    window: int = 250
    connect_timeout: float = 5.0
    confirm_timeout: float = 10.0


@dataclass
class ReplayReport:
    replayed: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # not dead any more, or claimed by another
    failed: dict[int, str] = field(default_factory=dict)


def replay(
    store: DeadLetterStore,
    broker_url: str,
    ids: Sequence[int],
    options: ReplayOptions,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Synchronous entry point for the CLI; raises BrokerUnavailable before claiming anything."""
    return asyncio.run(replay_async(store, broker_url, ids, options, progress))


async def replay_async(
    store: DeadLetterStore,
    broker_url: str,
    ids: Sequence[int],
    options: ReplayOptions,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    if options.body is not None and len(ids) != 1:
        raise ValueError("an edited body can only be replayed to a single row")
    connection = await _connect(broker_url, options.connect_timeout)
    report = ReplayReport()
    # At a low --rate, claim only what will be sent soon so other rows stay replayable.
    window = (
        options.window if options.rate is None else max(1, min(options.window, int(options.rate)))
    )
    chunks = [list(ids[start : start + window]) for start in range(0, len(ids), window)]
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        publisher = _Publisher(connection, channel, URL(broker_url).user, options)
        await _Pipeline(store, options.by, report, progress).run(publisher, chunks)
        if connection.is_closed:
            raise BrokerUnavailable(f"RabbitMQ at {mask_url(broker_url)} closed the connection")
    finally:
        await connection.close()
    return report


class _Pipeline:
    """Claims the next chunk and settles the last one while the current one is in flight,
    so the database round trips hide behind the wait for confirms."""

    def __init__(
        self,
        store: DeadLetterStore,
        by: str,
        report: ReplayReport,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.store = store
        self.by = by
        self.report = report
        self.progress = progress
        self._settling: list[asyncio.Task[None]] = []

    def _claim(self, chunk: list[int]) -> asyncio.Task[list[ClaimedRow]]:
        return asyncio.create_task(asyncio.to_thread(self.store.claim, chunk, self.by))

    async def run(self, publisher: _Publisher, chunks: list[list[int]]) -> None:
        upcoming = self._claim(chunks[0]) if chunks else None
        try:
            for index, chunk in enumerate(chunks):
                assert upcoming is not None
                claimed = await upcoming
                upcoming = self._claim(chunks[index + 1]) if index + 1 < len(chunks) else None
                got = {row.id for row in claimed}
                self.report.skipped.extend(i for i in chunk if i not in got)
                try:
                    errors = await publisher.publish_all(claimed)
                except BaseException:
                    # Broken mid-flight: unknown which copies the broker took, so give the
                    # rows back (a later replay may duplicate, never lose).
                    await asyncio.to_thread(self.store.release, list(got))
                    raise
                settle = self._settle(claimed, errors, publisher.edited, len(chunk))
                self._settling.append(asyncio.create_task(settle))
                if publisher.channel.is_closed:
                    why = "not sent: the broker closed the channel"
                    self.report.failed.update(
                        (i, why) for rest in chunks[index + 1 :] for i in rest
                    )
                    break
        finally:
            try:
                # first record what the broker confirmed, whatever happens to the next claim
                await asyncio.gather(*self._settling)
            finally:
                if upcoming is not None:
                    unsent = await upcoming
                    await asyncio.to_thread(self.store.release, [row.id for row in unsent])

    async def _settle(
        self, claimed: list[ClaimedRow], errors: dict[int, str], edited: bool, size: int
    ) -> None:
        ok = [row.id for row in claimed if row.id not in errors]
        if ok:
            await asyncio.to_thread(self.store.mark_replayed, ok, self.by, edited=edited)
        if errors:
            await asyncio.to_thread(self.store.release, list(errors))
        self.report.replayed.extend(ok)
        self.report.failed.update(errors)
        if self.progress:
            self.progress(size)


async def _connect(broker_url: str, within: float) -> AbstractConnection:
    try:
        return await aio_pika.connect(broker_url, timeout=within)
    except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise BrokerUnavailable(
            f"RabbitMQ at {mask_url(broker_url)} is unreachable: {reason}"
        ) from exc


class _Publisher:
    """Publishes rows on one confirming channel, remembering which exchanges exist."""

    def __init__(
        self,
        connection: AbstractConnection,
        channel: AbstractChannel,
        user: str | None,
        options: ReplayOptions,
    ) -> None:
        self.connection = connection
        self.channel = channel
        self._lookup = asyncio.Lock()
        self.user = user
        self.options = options
        self.edited = options.body is not None
        self.pacer = Pacer(options.rate)
        self._run_id = uuid.uuid4().hex[:12]
        self._exchanges: dict[str, AbstractExchange | str] = {"": channel.default_exchange}

    def _new_id(self, row: ClaimedRow) -> str:
        """Unique per run and row, and it says where the copy came from."""
        return f"replay-{row.id}-{self._run_id}"

    async def publish_all(self, rows: list[ClaimedRow]) -> dict[int, str]:
        """Publish every row concurrently; return ``{row id: why it failed}``."""
        results = await asyncio.gather(*(self._publish(row) for row in rows))
        return {row.id: err for row, err in zip(rows, results, strict=True) if err is not None}

    async def _publish(self, row: ClaimedRow) -> str | None:
        exchange_name, routing_key = route(row, self.options.to_queue)
        exchange = self._exchanges.get(exchange_name) or await self._exchange(exchange_name)
        if isinstance(exchange, str):
            return exchange
        if self.pacer.rate is not None:
            await self.pacer.wait()
        try:
            message = replay_message(
                row, body=self.options.body, broker_user=self.user, message_id=self._new_id(row)
            )
        except (TypeError, ValueError) as exc:
            return f"cannot rebuild the message: {exc}"
        try:
            await exchange.publish(
                message, routing_key, mandatory=True, timeout=self.options.confirm_timeout
            )
        except aio_pika.exceptions.PublishError:
            return f"unroutable: nothing bound to exchange {exchange_name!r} key {routing_key!r}"
        except aio_pika.exceptions.DeliveryError:
            return "the broker refused the message (nack)"
        except TimeoutError:
            return f"no confirm within {self.options.confirm_timeout:g} s"
        except (aio_pika.exceptions.AMQPError, TypeError, ValueError) as exc:
            return f"publish failed: {exc or type(exc).__name__}"
        return None

    async def _exchange(self, name: str) -> AbstractExchange | str:
        """The exchange, or why it cannot be used. Checked passively on a throwaway channel,
        because a publish to a missing exchange would close the shared channel."""
        if name in self._exchanges:
            return self._exchanges[name]
        async with self._lookup:
            if name not in self._exchanges:
                probe = await self.connection.channel()
                try:
                    await probe.declare_exchange(name, passive=True)
                    self._exchanges[name] = await self.channel.get_exchange(name, ensure=False)
                except aio_pika.exceptions.ChannelClosed:
                    self._exchanges[name] = f"exchange {name!r} does not exist"
                finally:
                    if not probe.is_closed:
                        await probe.close()
            return self._exchanges[name]
