"""A worker app for subprocess tests: each handled message id is appended to a file."""

from __future__ import annotations

import asyncio
import os

from workerkit import App, Message

app = App("slow")
QUEUE = os.environ["TEST_QUEUE"]
RECORD = os.environ["TEST_RECORD"]
DELAY = float(os.environ.get("TEST_DELAY", "0.5"))


@app.consumer(QUEUE, concurrency=int(os.environ.get("TEST_CONCURRENCY", "20")))
async def handle(message: Message) -> None:
    await asyncio.sleep(DELAY)
    with open(RECORD, "a") as fh:
        fh.write(f"{message.body['n']}\n")
