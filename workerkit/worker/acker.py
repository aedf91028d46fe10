"""Acks in as few frames as possible, without ever holding one back.

Completions that arrive in the same event-loop turn are coalesced: the contiguous run from the
lowest outstanding delivery tag is acked with one ``multiple=True`` frame, and any other
completion is acked on its own at once, so a slow message never keeps finished ones unacked
(which would fill the prefetch window and stall the consumer).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Literal

from aiormq.abc import AbstractChannel

from workerkit.broker.connection import BROKER_ERRORS

log = logging.getLogger("workerkit.worker")

#: no "reject without requeue": workerkit's work queues have no dead-letter exchange, so it
#: would delete the message
Action = Literal["ack", "requeue"]


class Acker:
    def __init__(self, channel: AbstractChannel) -> None:
        self.channel = channel
        self._outstanding: deque[int] = deque()
        self._done: dict[int, Action] = {}
        self._flushing: asyncio.Task[None] | None = None

    def received(self, tag: int) -> None:
        self._outstanding.append(tag)

    def settle(self, tag: int, action: Action = "ack") -> None:
        """Record the outcome; the frame is written on the next loop turn."""
        self._done[tag] = action
        if self._flushing is None:
            self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def drain(self) -> None:
        """Wait until every settled outcome has been written."""
        while self._flushing is not None:
            await asyncio.shield(self._flushing)

    async def _flush(self) -> None:
        try:
            while self._done:
                done, self._done = self._done, {}
                await self._write(done)
        except BROKER_ERRORS as exc:
            # the channel is gone: the broker requeues every unacked delivery itself
            log.debug("acks not sent, channel closed (%s); the broker will redeliver", exc)
            self._outstanding.clear()
            self._done.clear()
        finally:
            self._flushing = None

    async def _write(self, done: dict[int, Action]) -> None:
        last = None
        out = self._outstanding
        while out and done.get(out[0]) == "ack":
            last = out.popleft()
            del done[last]
        if last is not None:
            await self.channel.basic_ack(last, multiple=True, wait=False)
        for tag, action in sorted(done.items()):
            try:
                out.remove(tag)
            except ValueError:
                continue
            if action == "ack":
                await self.channel.basic_ack(tag, wait=False)
            else:
                await self.channel.basic_reject(tag, requeue=True, wait=False)
