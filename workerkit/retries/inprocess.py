"""Retry a flaky call inside a handler, without giving the message back to the broker.

Use it for a short blip (a 502 from an API, a dropped connection) where waiting a few hundred
milliseconds is cheaper than a broker round trip. Keep the total short: the message holds a
concurrency slot the whole time. For longer waits, raise :class:`workerkit.Retry` instead.
There is no default for ``on``: name what is worth retrying.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

T = TypeVar("T")


def retrying(
    *,
    on: type[BaseException] | tuple[type[BaseException], ...],
    attempts: int = 3,
    initial: float = 0.1,
    maximum: float = 2.0,
    timeout: float = 10.0,
) -> AsyncRetrying:
    """An ``AsyncRetrying`` for ``async for attempt in retrying(on=...): with attempt: ...``."""
    return AsyncRetrying(
        retry=retry_if_exception_type(on),
        stop=stop_after_attempt(attempts) | stop_after_delay(timeout),
        # exponential from ``initial`` with up to ``initial`` of jitter, so callers spread out
        wait=wait_exponential(multiplier=initial, max=maximum) + wait_random(0, initial),
        reraise=True,
    )


async def retry_call(
    fn: Callable[..., Awaitable[T]],
    *args: Any,
    on: type[BaseException] | tuple[type[BaseException], ...],
    attempts: int = 3,
    initial: float = 0.1,
    maximum: float = 2.0,
    **kwargs: Any,
) -> T:
    """``await retry_call(client.post, url, json=..., on=httpx.TransportError)``."""
    async for attempt in retrying(on=on, attempts=attempts, initial=initial, maximum=maximum):
        with attempt:
            return await fn(*args, **kwargs)
    raise AssertionError("unreachable: tenacity reraises the last error")
