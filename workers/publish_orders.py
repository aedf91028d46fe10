"""Publish a burst of sample delay notices: ``python -m workers.publish_orders --count 200``."""

from __future__ import annotations

import argparse
import asyncio
import random
from datetime import date, timedelta

from workerkit import App

FIRST = ["Ana", "Bo", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana"]


def sample(n: int, rng: random.Random) -> dict[str, object]:
    buyers = [
        {"id": rng.randrange(10**6), "name": name, "email": f"{name.lower()}@example.com"}
        for name in rng.sample(FIRST, rng.randint(1, 3))
    ]
    if n % 50 == 49:
        buyers = []  # a data bug: this one goes straight to the dead-letter table
    return {
        "order_id": f"ORD-{n:06d}",
        "buyers": buyers,
        "new_delivery_date": (date.today() + timedelta(days=rng.randint(1, 5))).isoformat(),
        "reason": rng.choice(["carrier delay", "weather", "warehouse backlog"]),
    }


async def main(count: int, seed: int) -> None:
    rng = random.Random(seed)
    app = App("orders-publisher")
    try:
        for n in range(count):
            await app.publish("orders.delay-notice", sample(n, rng))
    finally:
        await app.close()
    print(f"published {count} delay notices to orders.delay-notice")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.seed))
