"""A stand-in worker process for the breaker tests, configured by WORKERKIT_* variables.

    python breaker_worker.py NAME

Builds a registry with breaker NAME (fallback ``"fallback"``), follows overrides through
BreakerOverrides, announces its breakers in a presence node under queue ``orders``, and calls
the protected function in a loop. It prints "ready" once it follows ZooKeeper live (or
"ready-offline" after 3 s without it, serving its snapshot), then one JSON line
``{"t": wall time, "result": ..., "fallback": bool}`` each time the answer changes. It exits
when stdin closes.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from workerkit.breakers import BreakerRegistry, Fallback, last_call_was_fallback
from workerkit.breakers.remote import BreakerOverrides, presence_fields, snapshot_beside
from workerkit.config import Settings
from workerkit.zk import ZkClient
from workerkit.zk.presence import Presence


def main(name: str) -> None:
    zk = Settings.load().zookeeper
    client = ZkClient.from_settings(zk)
    registry = BreakerRegistry()
    breaker = registry.register(name, fallback=Fallback.returning("fallback"))
    overrides = BreakerOverrides(client, zk.root, registry, snapshot_beside(zk.snapshot_path))
    presence = Presence(
        client, zk.root, ["orders"], lambda: presence_fields(registry), interval=0.2
    )
    overrides.start()
    client.start_background()
    presence.start()
    print("ready" if overrides.wait_synced(3) else "ready-offline", flush=True)

    stdin_closed = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stdin_closed.set()), daemon=True).start()

    @breaker.protect
    def call_dependency() -> str:
        return "live"

    last = None
    while not stdin_closed.is_set():
        result = call_dependency()
        answer = (result, last_call_was_fallback())
        if answer != last:
            print(
                json.dumps({"t": time.time(), "result": result, "fallback": answer[1]}), flush=True
            )
            last = answer
        time.sleep(0.001)
    presence.stop()
    overrides.stop()
    client.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
