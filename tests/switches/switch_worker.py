"""A stand-in worker process for the switch tests, configured by WORKERKIT_* variables.

    python switch_worker.py watch NAME      prints {"t": ..., "on": ...} per change of NAME
    python switch_worker.py rollout NAME N  prints the keys among 0..N-1 that NAME lets in

It prints "ready" once it follows ZooKeeper live, and ``watch`` exits when stdin closes.
"""

from __future__ import annotations

import json
import sys
import time

from workerkit.config import Settings
from workerkit.switches import SwitchManager


def main(mode: str, name: str, *rest: str) -> None:
    manager = SwitchManager(Settings.load().zookeeper)
    if mode == "watch":
        manager.add_listener(
            name,
            lambda n, old, new: print(
                json.dumps({"t": time.time(), "on": manager.is_on(n)}), flush=True
            ),
        )
    manager.start()
    if not manager.wait_synced(10):
        sys.exit("ZooKeeper did not answer within 10 s")
    print("ready", flush=True)
    if mode == "rollout":
        print(json.dumps([k for k in range(int(rest[0])) if manager.is_on(name, key=k)]))
    else:
        sys.stdin.read()
    manager.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
