"""PauseGate: the in-flight limit a consumer with ``pause_when_open`` follows."""

from __future__ import annotations

import asyncio

import pytest
from breaker_support import FakeClock, fail, ok

from workerkit.breakers import BreakerRegistry, Mode, Override, PauseGate
from workerkit.config import BreakerSettings


@pytest.fixture
def registry(clock: FakeClock) -> BreakerRegistry:
    settings = BreakerSettings(minimum_calls=2, half_open_calls=2, wait_in_open=30)
    return BreakerRegistry(settings, clock=clock.monotonic, wall_clock=clock.time)


def trip(registry: BreakerRegistry, name: str) -> None:
    for _ in range(2):
        with pytest.raises(Exception, match="down"):
            registry.get(name).call(fail)


def test_a_consumer_pauses_while_any_listed_breaker_is_open_and_probes_when_half_open(
    registry: BreakerRegistry, clock: FakeClock
) -> None:
    limits: list[int | None] = []
    gate = PauseGate(registry, ["tms-api", "billing"], on_change=limits.append)
    assert gate.limit() is None

    trip(registry, "tms-api")
    assert limits == [0]
    assert gate.next_check_in() == 30.0

    clock.advance(30)
    assert gate.check() == 2  # half-open: as many messages in flight as probes
    for _ in range(2):
        registry.get("tms-api").call(ok)
    assert limits == [0, 2, None]


def test_a_failed_probe_pauses_the_consumer_again(
    registry: BreakerRegistry, clock: FakeClock
) -> None:
    limits: list[int | None] = []
    PauseGate(registry, ["tms-api"], on_change=limits.append)
    trip(registry, "tms-api")
    clock.advance(30)
    registry.refresh()
    with pytest.raises(Exception, match="down"):
        registry.get("tms-api").call(fail)  # one failure of two probes is 50 %: reopen
    assert limits == [0, 2, 0]


def test_a_forced_open_breaker_pauses_and_auto_resumes_through_probes(
    registry: BreakerRegistry,
) -> None:
    limits: list[int | None] = []
    gate = PauseGate(registry, ["tms-api"], on_change=limits.append)
    registry.apply_override("tms-api", Override(Mode.FORCE_OPEN, reason="outage"))
    registry.apply_override("tms-api", Override(Mode.AUTO))
    assert limits == [0, 2]
    gate.close()
    registry.apply_override("tms-api", Override(Mode.FORCE_OPEN))
    assert limits == [0, 2]  # a closed gate hears nothing more


def test_changes_to_breakers_the_consumer_does_not_list_are_ignored(
    registry: BreakerRegistry,
) -> None:
    limits: list[int | None] = []
    PauseGate(registry, ["tms-api"], on_change=limits.append)
    trip(registry, "billing")
    assert limits == []


def test_a_gate_needs_at_least_one_breaker(registry: BreakerRegistry) -> None:
    with pytest.raises(ValueError, match="at least one"):
        PauseGate(registry, [])


async def test_a_consumer_following_the_gate_loses_nothing_and_spends_few_calls_while_down(
    registry: BreakerRegistry, clock: FakeClock
) -> None:
    """A sketch of the consumer loop the gate is made for, with the queue as a list."""
    queue, handled, attempts = list(range(20)), [], 0
    tms_is_up = False

    @registry.get("tms-api")
    async def handle(message: int) -> None:
        nonlocal attempts
        attempts += 1
        if not tms_is_up:
            raise ConnectionResetError("tms down")
        handled.append(message)

    gate = PauseGate(registry, ["tms-api"])
    for _ in range(100):
        if not queue:
            break
        limit = gate.check()
        if limit == 0:  # paused: messages wait; the consumer sleeps until the next check
            clock.advance(gate.next_check_in() or 0.0)
            tms_is_up = clock.now >= 1060  # the dependency recovers after a minute
            continue
        batch, queue = queue[: limit or 5], queue[limit or 5 :]
        outcomes = await asyncio.gather(*(handle(m) for m in batch), return_exceptions=True)
        queue = [m for m, o in zip(batch, outcomes, strict=True) if o is not None] + queue
    assert sorted(handled) == list(range(20))
    assert attempts <= 20 + 5 + 2 * 2  # the first batch, then one failed probe round per wait
