"""Small helpers for tests that read what a replay put on a real RabbitMQ queue."""

from __future__ import annotations

import asyncio
import time

import aio_pika
from aio_pika.abc import AbstractIncomingMessage


async def declare(amqp_url: str, name: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(name, auto_delete=False, arguments={"x-expires": 600_000})


async def drain(
    amqp_url: str, name: str, expected: int, *, deadline: float = 10.0, settle: float = 0.3
) -> list[AbstractIncomingMessage]:
    """Take messages until ``expected`` arrived (or the deadline passed), then make sure
    no extra one follows within ``settle`` seconds, so "exactly N" is really checked."""
    connection = await aio_pika.connect(amqp_url)
    got: list[AbstractIncomingMessage] = []
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(name)
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            message = await queue.get(no_ack=True, fail=False)
            if message is not None:
                got.append(message)
                continue
            if len(got) >= expected:
                quiet_until = time.monotonic() + settle
                while time.monotonic() < quiet_until and message is None:
                    await asyncio.sleep(0.02)
                    message = await queue.get(no_ack=True, fail=False)
                if message is None:
                    break
                got.append(message)
                continue
            await asyncio.sleep(0.02)
    return got


async def delete(amqp_url: str, name: str) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(name)
