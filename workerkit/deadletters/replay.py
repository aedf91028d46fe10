"""Replay dead letters: claim rows, publish with confirms, then mark them replayed.

Order matters for "never lost, never twice": a row is claimed (``dead`` -> ``replaying``)
before anything is sent, so a second operator gets nothing to send; it is marked
``replayed`` only after the broker confirmed the copy (``mandatory`` so an unroutable copy
comes back as an error instead of vanishing); a copy that failed releases its claim. One
connection serves the whole run and up to ``window`` publishes wait for confirms at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from yarl import URL

from workerkit.config import mask_url
from workerkit.deadletters.message import replay_message, route
from workerkit.deadletters.models import DeadLetter
from workerkit.deadletters.pacing import Pacer
from workerkit.deadletters.store import DeadLetterStore
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
    try:
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        publisher = _Publisher(connection, channel, URL(broker_url).user, options)
        # At a low --rate, claim only what will be sent soon so other rows stay replayable.
        window = (
            options.window
            if options.rate is None
            else max(1, min(options.window, int(options.rate)))
        )
        for start in range(0, len(ids), window):
            chunk = list(ids[start : start + window])
            claimed = await asyncio.to_thread(store.claim, chunk, options.by)
            got = {row.id for row in claimed}
            report.skipped.extend(i for i in chunk if i not in got)
            try:
                errors = await publisher.publish_all(claimed)
            except BaseException:
                # Cancelled or broken mid-flight: unknown which copies the broker took, so
                # give the rows back (a later replay may duplicate, never lose).
                await asyncio.to_thread(store.release, list(got))
                raise
            ok = [row.id for row in claimed if row.id not in errors]
            if ok:
                await asyncio.to_thread(
                    store.mark_replayed, ok, options.by, edited=publisher.edited
                )
            if errors:
                await asyncio.to_thread(store.release, list(errors))
            report.replayed.extend(ok)
            report.failed.update(errors)
            if progress:
                progress(len(chunk))
            if connection.is_closed:
                raise BrokerUnavailable(f"RabbitMQ at {mask_url(broker_url)} closed the connection")
    finally:
        await connection.close()
    return report


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
        self._exchanges: dict[str, AbstractExchange | str] = {"": channel.default_exchange}

    async def publish_all(self, rows: list[DeadLetter]) -> dict[int, str]:
        """Publish every row concurrently; return ``{row id: why it failed}``."""
        results = await asyncio.gather(*(self._publish(row) for row in rows))
        return {row.id: err for row, err in zip(rows, results, strict=True) if err is not None}

    async def _publish(self, row: DeadLetter) -> str | None:
        exchange_name, routing_key = route(row, self.options.to_queue)
        exchange = await self._exchange(exchange_name)
        if isinstance(exchange, str):
            return exchange
        await self.pacer.wait()
        try:
            message = replay_message(row, body=self.options.body, broker_user=self.user)
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
