"""Handlers that are not plain functions still run before their message is acked."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.helpers import delete_queues, queue_depth, running_worker, wait_for
from workerkit import App, Message, Settings
from workerkit.config import BrokerSettings, SecretUrl

pytestmark = pytest.mark.integration


def logged(fn: Callable[[Message], Awaitable[None]]) -> Callable[[Message], Awaitable[None]]:
    """A plain (not async) decorator, as logging and auth wrappers often are."""

    @functools.wraps(fn)
    def wrapper(message: Message) -> Awaitable[None]:
        return fn(message)

    return wrapper


class Handler:
    def __init__(self, seen: list[Any]) -> None:
        self.seen = seen

    async def __call__(self, message: Message) -> None:
        self.seen.append(("object", message.body["n"]))


async def test_wrapped_async_functions_and_async_callable_objects_run_their_body(
    amqp_url: str, queue_name: str
) -> None:
    app = App("test", settings=Settings(broker=BrokerSettings(url=SecretUrl(amqp_url))))
    seen: list[Any] = []
    other = f"{queue_name}.object"

    @app.consumer(queue_name)
    @logged
    async def handle(message: Message) -> None:
        seen.append(("wrapped", message.body["n"]))

    app.consumer(other)(Handler(seen))
    try:
        async with running_worker(app):
            for n in range(3):
                await app.publish(queue_name, {"n": n})
                await app.publish(other, {"n": n})
            await wait_for(lambda: len(seen) == 6, 10, what="six handled messages")
        assert sorted(seen) == [("object", n) for n in range(3)] + [
            ("wrapped", n) for n in range(3)
        ]
        assert app.consumers[other].name.endswith(":Handler")
        assert await queue_depth(amqp_url, queue_name) == 0
    finally:
        await delete_queues(
            amqp_url, queue_name, other, f"{queue_name}.retriable", f"{other}.retriable"
        )
