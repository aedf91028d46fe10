"""The controller with a fake clock and a fake runtime: what it samples and what a change does."""

from __future__ import annotations

from workerkit.middleware import Middleware, MiddlewareChain
from workerkit.worker.concurrency import ConcurrencyController
from workerkit.worker.scaling import ScalingPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeRuntime:
    def __init__(self) -> None:
        self.queue = "orders"
        self.target = 5
        self.busy = 0
        self.ready = 0
        self.latency = 0.05
        self.busy_seconds = 0.0
        self.depth: int | None = 0
        self.polls = 0
        self.prefetches: list[int] = []

    def resize(self, n: int) -> None:
        self.target = n

    async def set_prefetch(self, n: int) -> None:
        self.prefetches.append(n)

    def take_busy_peak(self) -> int:
        return self.busy

    async def poll_depth(self) -> int | None:
        self.polls += 1
        return self.depth


class Recorder(Middleware):
    def __init__(self) -> None:
        self.changes: list[tuple[str, int, int, str]] = []

    def after_concurrency_change(self, queue: str, old: int, new: int, why: str) -> None:
        self.changes.append((queue, old, new, why))


def make() -> tuple[ConcurrencyController, FakeRuntime, FakeClock, Recorder]:
    clock, runtime, recorder = FakeClock(), FakeRuntime(), Recorder()
    controller = ConcurrencyController(
        runtime,
        ScalingPolicy(5, 20, up_after=0.2, down_after=1.0),
        middleware=MiddlewareChain([recorder]),
        clock=clock,
    )
    return controller, runtime, clock, recorder


async def ticks(controller: ConcurrencyController, clock: FakeClock, n: int) -> None:
    runtime = controller.runtime
    assert isinstance(runtime, FakeRuntime)
    for _ in range(n):
        clock.now += 0.2
        runtime.busy_seconds += runtime.busy * 0.2
        await controller.tick()


async def test_a_change_resizes_moves_prefetch_records_and_announces_it() -> None:
    controller, runtime, clock, recorder = make()
    runtime.busy, runtime.depth = 5, 400
    await ticks(controller, clock, 2)
    assert runtime.target == 20
    assert runtime.prefetches == [20]
    [change] = controller.history
    assert (change.at, change.old, change.new) == (100.4, 5, 20)
    assert recorder.changes == [("orders", 5, 20, change.why)]


async def test_the_load_going_away_brings_it_back_to_the_minimum_a_second_later() -> None:
    controller, runtime, clock, _ = make()
    runtime.busy, runtime.depth = 5, 400
    await ticks(controller, clock, 2)
    runtime.busy, runtime.depth = 0, 0
    await ticks(controller, clock, 4)
    assert runtime.target == 20
    await ticks(controller, clock, 1)
    assert runtime.target == 5
    assert [(c.old, c.new) for c in controller.history] == [(5, 20), (20, 5)]
    assert round(controller.history[1].at - controller.history[0].at, 6) == 1.0


async def test_nothing_changes_while_the_consumer_is_detached() -> None:
    controller, runtime, clock, _ = make()
    runtime.target, runtime.depth = 20, None
    await ticks(controller, clock, 20)
    assert runtime.target == 20 and not controller.history


async def test_the_queue_depth_is_polled_once_a_second_while_slots_are_free() -> None:
    controller, runtime, clock, _ = make()
    runtime.busy = 2
    await ticks(controller, clock, 25)  # 5 s
    assert runtime.polls == 5


async def test_the_queue_depth_is_polled_every_tick_while_all_slots_are_busy() -> None:
    controller, runtime, clock, _ = make()
    runtime.target, runtime.busy = 20, 20
    await ticks(controller, clock, 10)
    assert runtime.polls == 10
