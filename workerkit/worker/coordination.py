"""What a worker shares through ZooKeeper: switch-bound consumers, breaker-bound consumers,
breaker overrides, and its live-worker entry.

Nothing here makes the worker wait for ZooKeeper: the switch cache starts from its disk
snapshot (or the code defaults) and follows ZooKeeper when it answers. A consumer bound to a
switch starts paused and is resumed by its gate as soon as the switch reads as on; with no
node and no snapshot a consumer switch reads as on, so a missing ZooKeeper never stops work
that nobody switched off.

Breaker-bound consumers (``pause_when_open``) follow a :class:`PauseGate`: paused while a
listed breaker is open, at most ``half_open_calls`` messages in flight while it probes, and
back to their normal concurrency once it closes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from workerkit.breakers import PauseGate
from workerkit.breakers.remote import BreakerOverrides, snapshot_beside
from workerkit.switches.gate import SwitchGate
from workerkit.zk.presence import Presence

if TYPE_CHECKING:
    from workerkit.worker.consuming import ConsumerRuntime
    from workerkit.worker.runner import Worker

log = logging.getLogger("workerkit.worker")


def switch_reason(name: str) -> str:
    return f"switch:{name}"


BREAKER_REASON = "breakers"


class Coordination:
    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.app = worker.app
        self.switch_gates: list[SwitchGate] = []
        self.pause_gates: list[tuple[PauseGate, ConsumerRuntime]] = []
        self.presence: Presence | None = None
        self.overrides: BreakerOverrides | None = None
        #: running background tasks; each leaves the set when it ends
        self._tasks: set[asyncio.Task[None]] = set()
        for runtime in worker.runtimes.values():
            if not runtime.consumer.switch:
                continue
            if self.enabled:
                # paused until the gate has read the switch; see the module docstring
                runtime.pause_reasons.add(switch_reason(runtime.consumer.switch))
            else:
                log.warning(
                    "zookeeper.hosts is empty: the consumer of %s runs without following switch %s",
                    runtime.queue,
                    runtime.consumer.switch,
                )

    @property
    def enabled(self) -> bool:
        return bool(self.app.settings.zookeeper.hosts)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.enabled:
            switches = self.app.switches
            switches.start()
            self._start_overrides()
            for runtime in self.worker.runtimes.values():
                name = runtime.consumer.switch
                if name:
                    gate = SwitchGate(
                        switches,
                        name,
                        pause=self._bound(runtime.pause, switch_reason(name)),
                        resume=self._bound(runtime.resume, switch_reason(name)),
                    )
                    await gate.start()
                    self.switch_gates.append(gate)
            self.presence = Presence(
                switches.client,
                self.app.settings.zookeeper.root,
                list(self.worker.runtimes),
                self.worker.state,
                interval=self.app.settings.worker.heartbeat_interval,
            )
            self.presence.start()
        for runtime in self.worker.runtimes.values():
            if runtime.consumer.pause_when_open:
                self._bind_breakers(runtime, loop)

    def _bind_breakers(self, runtime: ConsumerRuntime, loop: asyncio.AbstractEventLoop) -> None:
        def on_change(limit: int | None) -> None:  # on whichever thread changed a breaker
            loop.call_soon_threadsafe(self._apply_limit, runtime, limit)

        pause_gate = PauseGate(self.app.breakers, runtime.consumer.pause_when_open, on_change)
        self.pause_gates.append((pause_gate, runtime))
        self._apply_limit(runtime, pause_gate.limit())
        self._keep(loop.create_task(self._tick(pause_gate)))

    def _start_overrides(self) -> None:
        zk = self.app.settings.zookeeper
        self.overrides = BreakerOverrides(
            self.app.switches.client, zk.root, self.app.breakers, snapshot_beside(zk.snapshot_path)
        )
        self.overrides.start()

    def _apply_limit(self, runtime: ConsumerRuntime, limit: int | None) -> None:
        """0: pause; k: consume with at most k in flight (half-open probes); None: normal."""
        runtime.set_cap(limit if limit else None)
        action = runtime.pause(BREAKER_REASON) if limit == 0 else runtime.resume(BREAKER_REASON)
        self._keep(asyncio.get_running_loop().create_task(self._then_announce(action)))

    def _keep(self, task: asyncio.Task[None]) -> None:
        """Hold a reference until the task ends (the loop keeps only a weak one), then drop
        it: one task per breaker change would otherwise pile up for the life of the worker."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _then_announce(self, action: Any) -> None:
        await _logged(action)
        if self.presence is not None:
            self.presence.poke()

    async def _tick(self, gate: PauseGate) -> None:
        """Open turns half-open by time alone, and a paused consumer calls nothing: look."""
        while True:
            try:
                wait = gate.next_check_in()
            except Exception:
                log.exception("asking the breakers of a paused consumer when to look failed")
                wait = None
            await asyncio.sleep(min(wait, 1.0) if wait is not None else 1.0)
            try:
                gate.check()
            except Exception:
                # a dead ticker would leave a paused consumer paused for good: keep looking
                log.exception("checking the breakers of a paused consumer failed")

    def _bound(self, method: Any, reason: str) -> Any:
        async def call() -> None:
            await method(reason)
            if self.presence is not None:
                self.presence.poke()

        return call

    async def stop(self) -> None:
        for gate in self.switch_gates:
            await gate.stop()
        for pause_gate, _ in self.pause_gates:
            pause_gate.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.presence is not None:
            await asyncio.to_thread(self.presence.stop)
        if self.overrides is not None:
            await asyncio.to_thread(self.overrides.stop)
        if self.enabled and self.app.switches_started:
            await asyncio.to_thread(self.app.switches.stop)


async def _logged(action: Any) -> None:
    try:
        await action
    except Exception:
        log.exception("pausing or resuming a consumer failed")
