"""SwitchGate over a real RabbitMQ consumer: off pauses consumption, on resumes it."""

from __future__ import annotations

import asyncio
import inspect
import time

import aio_pika
import pytest

from tests.zk_support import wait_until
from workerkit.switches.gate import SwitchGate

pytestmark = pytest.mark.integration


async def _eventually(condition, within: float, what: str) -> None:
    """Poll ``condition()`` (plain or awaitable) every 10 ms until true, for ``within`` s."""
    try:
        async with asyncio.timeout(within):
            while True:
                result = condition()
                if inspect.isawaitable(result):
                    result = await result
                if result:
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {within} s waiting for {what}") from None


async def test_a_consumer_bound_to_a_switch_pauses_within_two_seconds_and_resumes(
    amqp_url, queue_name, make_manager, zk_admin
):
    manager = make_manager()
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=5)
    queue = await channel.declare_queue(queue_name, auto_delete=False)
    handled: list[bytes] = []
    tags: list[str] = []

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with message.process():
            handled.append(message.body)

    async def resume() -> None:
        tags.append(await queue.consume(on_message))

    async def pause() -> None:
        await queue.cancel(tags[-1])

    async def publish(*bodies: bytes) -> None:
        for body in bodies:
            await channel.default_exchange.publish(aio_pika.Message(body), routing_key=queue_name)

    async def waiting() -> int:
        declared = await channel.declare_queue(queue_name, passive=True)
        return declared.declaration_result.message_count or 0

    gate = SwitchGate(manager, "orders-notifier", pause=pause, resume=resume)
    try:
        await gate.start()  # no node yet: the default (on) applies
        await _eventually(lambda: gate.is_open, 2, "the consumer to start")
        await publish(b"1", b"2")
        await _eventually(lambda: len(handled) == 2, 5, "two handled messages")

        flipped = time.monotonic()
        await asyncio.to_thread(zk_admin.turn, "orders-notifier", False, by="t", reason="r")
        await _eventually(lambda: not gate.is_open, 2, "the consumer to pause")
        pause_latency = time.monotonic() - flipped
        await publish(b"3", b"4", b"5")
        await _eventually(lambda: _count_is(waiting, 3), 5, "three messages waiting")
        assert handled == [b"1", b"2"]

        await asyncio.to_thread(zk_admin.turn, "orders-notifier", True, by="t", reason="r")
        await _eventually(lambda: len(handled) == 5, 5, "the waiting messages")
        assert sorted(handled) == [b"1", b"2", b"3", b"4", b"5"]
        assert pause_latency < 2.0
        print(f"\nswitch off -> consumer paused in {pause_latency * 1000:.1f} ms")
    finally:
        await gate.stop()
        await queue.delete(if_unused=False, if_empty=False)
        await connection.close()


async def test_quick_flips_converge_on_the_last_state_without_overlapping_calls(
    make_manager, zk_admin
):
    manager = make_manager()
    calls: list[str] = []
    running = overlaps = 0

    async def act(kind: str) -> None:
        # counted, not asserted here: the gate catches an action's exceptions
        nonlocal running, overlaps
        running += 1
        overlaps += running > 1
        try:
            await asyncio.sleep(0.05)  # a slow cancel, so flips pile up behind it
            calls.append(kind)
        finally:
            running -= 1

    gate = SwitchGate(manager, "flappy", pause=lambda: act("pause"), resume=lambda: act("resume"))
    await gate.start()
    await _eventually(lambda: gate.is_open, 2, "open")
    for state in (False, True, False, True, False):
        await asyncio.to_thread(zk_admin.turn, "flappy", state, by="t", reason="r")
    await asyncio.to_thread(wait_until, lambda: manager.is_on("flappy") is False, 2)
    await _eventually(lambda: not gate.is_open and calls[-1] == "pause", 3, "paused")
    await gate.stop()
    assert overlaps == 0, "pause and resume overlapped"
    assert calls[0] == "resume" and calls[-1] == "pause"
    assert all(a != b for a, b in zip(calls, calls[1:], strict=False))  # no repeated action


async def test_a_failed_pause_is_tried_again_and_a_flip_back_still_resumes(
    make_manager, zk_admin, monkeypatch
):
    """A pause that fails half-way (the channel dropped) leaves the consumer's state unknown:
    the gate tries again by itself, and a flip back on resumes even though no pause ever
    completed."""
    monkeypatch.setattr("workerkit.switches.gate.RETRY_DELAY", 0.05, raising=False)
    manager = make_manager()
    calls: list[str] = []
    failures = {"pause": 1}

    async def act(kind: str) -> None:
        calls.append(kind)
        if failures.get(kind):
            failures[kind] -= 1
            raise ConnectionError("channel closed")

    gate = SwitchGate(manager, "sticky", pause=lambda: act("pause"), resume=lambda: act("resume"))
    await gate.start()
    try:
        await _eventually(lambda: gate.is_open, 2, "open")
        await asyncio.to_thread(zk_admin.turn, "sticky", False, by="t", reason="r")
        await _eventually(lambda: calls.count("pause") == 2, 3, "the pause tried again")
        assert not gate.is_open
        failures["pause"] = 1
        await asyncio.to_thread(zk_admin.turn, "sticky", True, by="t", reason="r")
        await _eventually(lambda: gate.is_open, 3, "resumed")
        # off failed once more then the switch came back on: resume is called regardless
        await asyncio.to_thread(zk_admin.turn, "sticky", False, by="t", reason="r")
        await _eventually(lambda: calls[-1] == "pause", 3, "a pause attempt")
        await asyncio.to_thread(zk_admin.turn, "sticky", True, by="t", reason="r")
        await _eventually(lambda: gate.is_open and calls[-1] == "resume", 3, "resumed again")
    finally:
        await gate.stop()
    assert calls[:3] == ["resume", "pause", "pause"]


async def _count_is(probe, expected: int) -> bool:
    return await probe() == expected
