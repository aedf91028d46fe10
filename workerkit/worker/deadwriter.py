"""Group commit for dead letters: rows that fail at the same moment share one transaction.

A dead letter is acked only after its row is committed. Committing one row per message
holds a slot for a database round trip each; here every message that fails while a commit
is under way waits for the next one, so a burst of failures costs a few commits instead of
hundreds. A batch the database refuses for one bad row is retried row by row, so one poison
record never sends its neighbours to the parking queue.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from workerkit.deadletters.record import DeadLetterRecord
from workerkit.errors import DatabaseUnavailable

log = logging.getLogger("workerkit.worker")
MAX_BATCH = 200


class BatchStore(Protocol):
    def add(self, record: DeadLetterRecord) -> int: ...

    def add_many(self, records: list[DeadLetterRecord]) -> list[int]: ...


class DeadLetterWriter:
    def __init__(self, store: BatchStore, *, max_batch: int = MAX_BATCH) -> None:
        self.store = store
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[DeadLetterRecord, asyncio.Future[int]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        # its own thread: the loop's default pool is shared with every to_thread call
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="dead-letters")
        self.commits = 0

    async def add(self, record: DeadLetterRecord) -> int:
        """Wait until ``record`` is committed; raises :class:`DatabaseUnavailable`."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((record, future))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return await future

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._queue.empty():
            batch = [self._queue.get_nowait()]
            while not self._queue.empty() and len(batch) < self.max_batch:
                batch.append(self._queue.get_nowait())
            records = [r for r, _ in batch]
            try:
                ids = await loop.run_in_executor(self._executor, self.store.add_many, records)
            except DatabaseUnavailable as exc:
                for _, future in batch:
                    _settle(future, exc=exc)
                continue
            except Exception:  # noqa: BLE001 - one row may be at fault: try them one by one
                log.warning(
                    "a batch of %d dead letters was refused; writing one by one",
                    len(batch),
                    exc_info=True,
                )
                for record, future in batch:
                    try:
                        row = await loop.run_in_executor(self._executor, self.store.add, record)
                    except Exception as exc:  # noqa: BLE001 - the caller parks this one
                        _settle(future, exc=exc)
                    else:
                        _settle(future, row)
                continue
            self.commits += 1
            for (_, future), row_id in zip(batch, ids, strict=True):
                _settle(future, row_id)

    def close(self) -> None:
        self._executor.shutdown(wait=False)


def _settle(future: asyncio.Future[int], value: int = 0, exc: BaseException | None = None) -> None:
    if future.done():  # the waiting slot was cancelled at shutdown
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(value)
