"""Replay against a real RabbitMQ: exact copies, confirmed before the row changes, sent once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import aio_pika
import pytest

from tests.deadletters.amqp_helpers import drain
from tests.deadletters.conftest import SAMPLE_HEADERS
from workerkit.deadletters.pacing import Pacer
from workerkit.deadletters.record import DeadLetterRecord
from workerkit.deadletters.replay import ReplayOptions, replay, replay_async
from workerkit.deadletters.store import DeadLetterStore
from workerkit.errors import BrokerUnavailable

pytestmark = pytest.mark.integration


async def test_replay_publishes_the_exact_body_and_headers_and_marks_the_row(
    store: DeadLetterStore,
    make_record: Callable[..., DeadLetterRecord],
    amqp_url: str,
    queue: str,
) -> None:
    record = make_record(routing_key=queue, headers={**SAMPLE_HEADERS, "x-death": [{"n": 1}]})
    row_id = store.add(record)

    report = await replay_async(store, amqp_url, [row_id], ReplayOptions(by="alice"))

    assert report.replayed == [row_id] and not report.failed
    (message,) = await drain(amqp_url, queue, 1)
    assert message.body == record.body
    expected: dict[str, Any] = {
        **SAMPLE_HEADERS,
        "x-retry-count": 0,
        "x-replayed-from": row_id,
        "x-original-message-id": record.message_id,
    }
    assert message.headers == expected
    assert message.headers["x-trace-id"] == "trace-abc"
    assert message.message_id and message.message_id != record.message_id
    assert (message.correlation_id, message.priority, message.content_type) == (
        "corr-1",
        3,
        "application/json",
    )
    row = store.get(row_id)
    assert row is not None
    assert (row.status, row.replay_count, row.replayed_by) == ("replayed", 1, "alice")
    assert row.replayed_at is not None and not row.edited


async def test_a_row_stored_without_a_delivery_mode_is_replayed_persistent(
    store: DeadLetterStore, make_record: Callable[..., DeadLetterRecord], amqp_url: str, queue: str
) -> None:
    # rows imported from messages parked by older versions lack delivery_mode
    row_id = store.add(make_record(routing_key=queue, properties={"correlation_id": "corr-1"}))

    report = await replay_async(store, amqp_url, [row_id], ReplayOptions(by="dave"))

    assert report.replayed == [row_id]
    (message,) = await drain(amqp_url, queue, 1)
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.correlation_id == "corr-1"


async def test_an_edited_body_is_sent_and_the_row_records_the_edit(
    store: DeadLetterStore, make_record: Callable[..., DeadLetterRecord], amqp_url: str, queue: str
) -> None:
    row_id = store.add(make_record(routing_key=queue))

    await replay_async(store, amqp_url, [row_id], ReplayOptions(by="bob", body=b'{"order": 43}'))

    (message,) = await drain(amqp_url, queue, 1)
    assert message.body == b'{"order": 43}'
    row = store.get(row_id)
    assert row is not None and row.edited and row.status == "replayed"


async def test_an_unroutable_replay_is_reported_and_the_row_stays_dead(
    store: DeadLetterStore, make_record: Callable[..., DeadLetterRecord], amqp_url: str
) -> None:
    row_id = store.add(make_record(routing_key="no.such.queue.anywhere"))

    report = await replay_async(store, amqp_url, [row_id], ReplayOptions(by="carol"))

    assert report.replayed == [] and "unroutable" in report.failed[row_id]
    row = store.get(row_id)
    assert row is not None and row.status == "dead" and row.replay_count == 0


async def test_a_missing_exchange_fails_its_rows_without_breaking_the_others(
    store: DeadLetterStore, make_record: Callable[..., DeadLetterRecord], amqp_url: str, queue: str
) -> None:
    lost = store.add(make_record(exchange="no-such-exchange", routing_key=queue))
    fine = store.add(make_record(routing_key=queue))

    report = await replay_async(store, amqp_url, [lost, fine], ReplayOptions(by="dan"))

    assert report.replayed == [fine]
    assert "does not exist" in report.failed[lost]
    assert len(await drain(amqp_url, queue, 1)) == 1


async def test_replay_goes_back_through_the_original_named_exchange(
    store: DeadLetterStore, make_record: Callable[..., DeadLetterRecord], amqp_url: str, queue: str
) -> None:
    exchange_name = f"{queue}.x"
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(exchange_name, auto_delete=True)
        await (await channel.get_queue(queue)).bind(exchange, routing_key="orders.created")
        row_id = store.add(make_record(exchange=exchange_name, routing_key="orders.created"))

        report = await replay_async(store, amqp_url, [row_id], ReplayOptions(by="g"))

        assert report.replayed == [row_id], report.failed
        (message,) = await drain(amqp_url, queue, 1)
        assert (message.exchange, message.routing_key) == (exchange_name, "orders.created")
        await exchange.delete()


async def test_replay_to_another_queue_uses_the_default_exchange(
    store: DeadLetterStore,
    make_record: Callable[..., DeadLetterRecord],
    amqp_url: str,
    queue: str,
) -> None:
    row_id = store.add(make_record(exchange="orders-exchange-gone", routing_key="elsewhere"))

    report = await replay_async(store, amqp_url, [row_id], ReplayOptions(by="e", to_queue=queue))

    assert report.replayed == [row_id]
    assert len(await drain(amqp_url, queue, 1)) == 1


def test_the_same_rows_replayed_by_two_operators_at_once_are_published_once(
    store: DeadLetterStore, make_record: Callable[..., DeadLetterRecord], amqp_url: str, queue: str
) -> None:
    ids = store.add_many([make_record(routing_key=queue) for _ in range(200)])
    barrier = threading.Barrier(2)
    reports = []

    def operator(name: str) -> None:
        barrier.wait()
        reports.append(replay(store, amqp_url, ids, ReplayOptions(by=name, window=20)))

    threads = [threading.Thread(target=operator, args=(n,)) for n in ("ann", "ben")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads) and len(reports) == 2, "an operator hung"

    replayed = [i for r in reports for i in r.replayed]
    assert sorted(replayed) == sorted(ids)
    import asyncio

    assert len(asyncio.run(drain(amqp_url, queue, len(ids)))) == len(ids)


async def test_an_unreachable_broker_is_named_with_its_password_masked_and_rows_stay_dead(
    store: DeadLetterStore, make_record: Callable[..., DeadLetterRecord]
) -> None:
    row_id = store.add(make_record())

    with pytest.raises(BrokerUnavailable) as caught:
        await replay_async(
            store, "amqp://guest:s3cret@127.0.0.1:1/", [row_id], ReplayOptions(by="f")
        )

    assert "s3cret" not in str(caught.value) and "127.0.0.1:1" in str(caught.value)
    row = store.get(row_id)
    assert row is not None and row.status == "dead"


async def test_the_pacer_spaces_messages_at_the_requested_rate() -> None:
    now = [100.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    pacer = Pacer(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        await pacer.wait()

    assert slept == [0.25, 0.5, 0.75, 1.0]
