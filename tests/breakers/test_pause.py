"""PauseGate: the in-flight limit a consumer with ``pause_when_open`` follows."""

from __future__ import annotations

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
