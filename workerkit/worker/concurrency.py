"""Elastic concurrency: one controller per consumer whose minimum and maximum differ.

Peers scale on a slow timer or on a single signal: Spring adds one consumer per 10 s and
removes one per 60 s, so 5 to 20 takes minutes and a busy container rarely shrinks; Celery's
autoscale needs global QoS, which quorum queues refuse. This controller samples measured
signals every ``scale_interval`` (busy slots, messages ready to start in this process, the
broker queue depth and the mean handler latency) and follows the load within about a second
in both directions; the rules and their hysteresis live in :mod:`workerkit.worker.scaling`.

Applying a change resizes the slots and moves the prefetch window with them, so a worker never
holds more messages than it can start soon: another worker process can take the rest. The
prefetch moves by re-subscribing (``basic.qos`` binds only consumers created after it), which
works on classic and quorum queues alike. Scaling down never abandons a message: surplus slots
leave when idle or after their current message has been handled and acked.

The thread pool of a sync handler has ``max_concurrency`` threads at most and creates them only
when a handler needs one, so it grows with the concurrency; threads left idle after a scale-down
stay parked until the worker stops.

Ordering by key holds within one process only. Two processes consuming the same queue each see
part of a key's messages, so ordering across processes needs routing by key to separate queues
(a consistent-hash exchange, or one queue per partition), each with one consuming process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from workerkit.broker.connection import BROKER_ERRORS
from workerkit.config import WorkerSettings
from workerkit.middleware import MiddlewareChain
from workerkit.worker.scaling import Decision, Sample, ScalingPolicy

log = logging.getLogger("workerkit.worker")

#: how often the broker queue depth is polled while slots are free (every tick when saturated)
DEPTH_INTERVAL = 1.0
HISTORY_LIMIT = 200


class Scalable(Protocol):
    """What the controller needs from a :class:`~workerkit.worker.consuming.ConsumerRuntime`."""

    queue: str
    target: int
    busy: int
    latency: float

    @property
    def busy_seconds(self) -> float: ...

    def take_busy_peak(self) -> int: ...

    @property
    def ready(self) -> int: ...

    def resize(self, n: int) -> None: ...

    async def set_prefetch(self, n: int) -> None: ...

    async def poll_depth(self) -> int | None: ...


@dataclass(frozen=True)
class Change:
    at: float
    old: int
    new: int
    why: str


class ConcurrencyController:
    def __init__(
        self,
        runtime: Scalable,
        policy: ScalingPolicy,
        *,
        middleware: MiddlewareChain,
        interval: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.policy = policy
        self.middleware = middleware
        self.interval = interval
        self.clock = clock
        self.history: deque[Change] = deque(maxlen=HISTORY_LIMIT)
        self._samples: deque[Sample] = deque(maxlen=64)
        self._since = clock()
        self._depth = 0
        self._depth_at = -DEPTH_INTERVAL - 1.0
        self._last: tuple[float, float] | None = None  # (clock, busy_seconds) of the last sample
        self._stopping = asyncio.Event()

    @classmethod
    def for_runtime(
        cls,
        runtime: Scalable,
        minimum: int,
        maximum: int,
        *,
        settings: WorkerSettings,
        middleware: MiddlewareChain,
    ) -> ConcurrencyController:
        """The controller a worker runs: one tick per ``scale_interval``, and saturation must
        last one tick before a raise, idle slots five ticks (at least a second) before a cut."""
        interval = settings.scale_interval
        policy = ScalingPolicy(
            minimum, maximum, up_after=interval, down_after=max(1.0, 5 * interval)
        )
        return cls(runtime, policy, middleware=middleware, interval=interval)

    async def run(self) -> None:
        """Tick until :meth:`stop`. A failing tick is logged and the next one tries again."""
        while not self._stopping.is_set():
            try:
                await self.tick()
            except BROKER_ERRORS as exc:
                log.debug("concurrency of %s not sampled: %s", self.runtime.queue, exc)
            except Exception:
                log.exception("concurrency controller of %s failed; retrying", self.runtime.queue)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)

    def stop(self) -> None:
        """End :meth:`run` after the current tick. Prefer this to cancelling the task: aiormq
        closes a channel whose RPC is cancelled, and with it every unacked delivery."""
        self._stopping.set()

    async def tick(self) -> Change | None:
        """Sample once, decide, apply. Does nothing while the consumer is detached."""
        sample = await self.sample()
        if sample is None:
            return None
        self._samples.append(sample)
        decision = self.policy.decide(self.runtime.target, self._samples, self._since)
        return await self.apply(decision) if decision is not None else None

    async def sample(self) -> Sample | None:
        """Measure the runtime. The queue depth costs a round trip, so it is polled every tick
        only while it matters (slots busy, or messages were waiting), else once a second."""
        rt = self.runtime
        now, busy_seconds = self.clock(), rt.busy_seconds
        used, span = float(rt.busy), 0.0
        if self._last is not None and now > self._last[0]:
            span = now - self._last[0]
            used = (busy_seconds - self._last[1]) / span
        self._last = (now, busy_seconds)
        loaded = used >= rt.target * self.policy.full_at or rt.busy >= rt.target
        if loaded or self._depth > 0 or now - self._depth_at >= DEPTH_INTERVAL:
            depth = await asyncio.shield(rt.poll_depth())
            if depth is None:
                return None
            self._depth, self._depth_at = depth, now
        peak = rt.take_busy_peak()
        return Sample(now, rt.busy, rt.ready, self._depth, rt.latency, used, span, peak)

    async def apply(self, decision: Decision) -> Change:
        """Resize the slots and move the prefetch with them; record, log and announce it."""
        rt = self.runtime
        change = Change(self.clock(), rt.target, decision.new, decision.why)
        rt.resize(change.new)
        self.history.append(change)
        self._samples.clear()
        self._since = change.at
        log.info("concurrency of %s: %d -> %d (%s)", rt.queue, change.old, change.new, change.why)
        self.middleware.emit(
            "after_concurrency_change", rt.queue, change.old, change.new, change.why
        )
        try:
            await asyncio.shield(rt.set_prefetch(change.new))
        except BROKER_ERRORS as exc:
            # the channel is going away; the next attach subscribes with the new target
            log.debug("prefetch of %s not moved to %d: %s", rt.queue, change.new, exc)
        return change

    def state(self) -> dict[str, object]:
        """For the live-workers view: the bounds and the last changes, newest last."""
        return {
            "min_concurrency": self.policy.minimum,
            "max_concurrency": self.policy.maximum,
            "changes": [
                {"at": c.at, "old": c.old, "new": c.new, "why": c.why}
                for c in list(self.history)[-10:]
            ],
        }
