"""Shared test tools: run a worker in-process, wait on a condition with a deadline, count
queue depths, and a TCP proxy that can cut every connection on demand."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import aio_pika

from workerkit.app import App
from workerkit.worker.runner import Worker


async def wait_for(
    condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> Any:
    """Poll ``condition`` until it is truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}")
        await asyncio.sleep(interval)


async def wait_for_value(
    probe: Callable[[], Awaitable[Any]],
    expected: Any,
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "",
) -> None:
    """Await ``probe()`` until it returns ``expected``; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    value = await probe()
    while value != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}: last {value!r}")
        await asyncio.sleep(interval)
        value = await probe()


@contextlib.asynccontextmanager
async def running_worker(
    app: App, queues: Sequence[str] | None = None, **kwargs: Any
) -> AsyncIterator[Worker]:
    worker = Worker(app, queues, install_signals=False, **kwargs)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(_connected_or_failed(worker, task), 15)
        yield worker
    finally:
        worker.request_stop()
        await asyncio.wait_for(task, 60)
        await app.close()


async def _connected_or_failed(worker: Worker, task: asyncio.Task[int]) -> None:
    waiter = asyncio.ensure_future(worker.connected.wait())
    done, _ = await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        waiter.cancel()
        task.result()  # raises the worker's start-up error
        raise AssertionError("worker stopped before it connected")


async def queue_depth(url: str, queue: str) -> int:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, passive=True)
        return q.declaration_result.message_count or 0
    finally:
        await connection.close()


async def delete_queues(url: str, *names: str) -> None:
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)
    finally:
        await connection.close()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; ``cut()`` drops every open connection, like a
    broker restart seen from the client; ``hold()`` keeps the connection up but stops the
    target's bytes from reaching the client (a broker that takes messages and never confirms)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.server: asyncio.Server | None = None
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0
        self._flowing = asyncio.Event()
        self._flowing.set()

    def hold(self) -> None:
        self._flowing.clear()

    def release(self) -> None:
        self._flowing.set()

    async def start(self) -> TcpProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))

        async def pipe(
            src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, holdable: bool = False
        ) -> None:
            try:
                while data := await src.read(65536):
                    if holdable:
                        await self._flowing.wait()
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer, holdable=True))
        self._writers.difference_update((writer, up_writer))

    def cut(self) -> None:
        self._flowing.set()
        for w in list(self._writers):
            transport = w.transport
            transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
