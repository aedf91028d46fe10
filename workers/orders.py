"""orders.delay-notice: tell every buyer of an order that its delivery is late.

The commerce case workerkit comes from: a logistics system publishes one message per late
order; this consumer notifies each buyer through a notification service. A 5xx from that
service is retried in process for a short blip, then through the broker's retry queues;
an order without buyers is a data bug and goes straight to the dead-letter table.

Run it:   workerkit run workers.orders:app
Feed it:  python -m workers.publish_orders --count 200
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from datetime import date

from pydantic import BaseModel, Field

from workerkit import App, Context, NonRetriable, retry_call

app = App("orders")
NOTIFIER_URL = os.environ.get("NOTIFIER_URL", "http://127.0.0.1:8099/notices")


class Buyer(BaseModel):
    id: int
    name: str
    email: str


class DelayNotice(BaseModel):
    order_id: str
    buyers: list[Buyer] = Field(default_factory=list)
    new_delivery_date: date
    reason: str = "carrier delay"


class NotifierDown(Exception):
    """The notification service answered 5xx or not at all: worth retrying."""


def _post(notice: dict[str, str]) -> None:
    request = urllib.request.Request(
        NOTIFIER_URL,
        data=json.dumps(notice).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5):
            pass
    except urllib.error.HTTPError as exc:
        if exc.code >= 500:
            raise NotifierDown(f"notifier answered {exc.code}") from None
        raise NonRetriable(f"notifier refused the notice: {exc.code}") from None
    except OSError as exc:
        raise NotifierDown(f"notifier unreachable: {exc}") from None


async def notify(notice: dict[str, str]) -> None:
    await asyncio.to_thread(_post, notice)


@app.consumer(
    "orders.delay-notice",
    min_concurrency=5,
    max_concurrency=20,
    retry_delays=[1, 5, 30],
    max_attempts=4,
    dead_on=(LookupError,),
)
async def notify_buyers(notice: DelayNotice, ctx: Context) -> None:
    if not notice.buyers:
        raise LookupError(f"order {notice.order_id} has no buyers")
    for buyer in notice.buyers:
        text = (
            f"Hello {buyer.name}, your order {notice.order_id} will arrive on "
            f"{notice.new_delivery_date:%d %B} ({notice.reason}). We are sorry for the wait."
        )
        await retry_call(notify, {"to": buyer.email, "text": text}, on=NotifierDown, attempts=2)
    ctx.log.info("notified %d buyer(s) of order %s", len(notice.buyers), notice.order_id)
