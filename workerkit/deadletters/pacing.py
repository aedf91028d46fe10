"""Spacing replays at ``--rate`` messages per second, so a bulk replay does not flood consumers.

Slots are computed from the start time (not "sleep 1/rate after each send"), so time spent
waiting for confirms counts towards the rate instead of slowing it down further.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class Pacer:
    def __init__(
        self,
        rate: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate is not None and rate <= 0:
            raise ValueError("rate must be a positive number of messages per second")
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._start: float | None = None
        self._sent = 0

    async def wait(self) -> None:
        """Return when the next message may go."""
        if self.rate is None:
            return
        now = self._clock()
        if self._start is None:
            self._start = now
        slot = self._start + self._sent / self.rate
        self._sent += 1
        if slot > now:
            await self._sleep(slot - now)
