"""Closed, open and half-open, driven by a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from breaker_support import Boom, FakeClock, MakeBreaker, ok, run_calls

from workerkit.breakers import State
from workerkit.errors import BreakerOpen


def test_a_breaker_starts_closed_and_passes_results_through(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker()
    assert breaker.state is State.CLOSED
    assert breaker.call(ok) == "ok"


def test_failures_below_the_minimum_number_of_calls_never_trip(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(minimum_calls=4)
    run_calls(breaker, "fff")
    assert breaker.state is State.CLOSED


def test_the_breaker_trips_when_the_failure_rate_reaches_the_threshold(
    make_breaker: MakeBreaker,
) -> None:
    breaker = make_breaker(minimum_calls=4, failure_rate_threshold=50.0)
    run_calls(breaker, "sssf")  # 25 %
    assert breaker.state is State.CLOSED
    run_calls(breaker, "f")  # 2 of 5 = 40 %
    assert breaker.state is State.CLOSED
    run_calls(breaker, "f")  # 3 of 6 = 50 %
    assert breaker.state is State.OPEN


def test_an_open_breaker_refuses_calls_without_running_them(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker()
    run_calls(breaker, "ffff")
    ran = []
    with pytest.raises(BreakerOpen) as refused:
        breaker.call(lambda: ran.append(1))
    assert ran == []
    assert refused.value.name == "tms-api"
    assert refused.value.retry_after == 30.0
    assert breaker.rejected == 1


def test_a_count_window_forgets_calls_older_than_its_size(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(window_size=4, minimum_calls=4, failure_rate_threshold=75.0)
    run_calls(breaker, "ffss")  # 50 %
    run_calls(breaker, "sf")  # window is now s s s f: 25 %
    run_calls(breaker, "f")  # s s f f: 50 %
    assert breaker.state is State.CLOSED
    run_calls(breaker, "f")  # s f f f: 75 %
    assert breaker.state is State.OPEN


def test_slow_calls_trip_the_breaker_even_when_they_succeed(
    make_breaker: MakeBreaker, clock: FakeClock
) -> None:
    breaker = make_breaker(slow_call_duration=2.0, slow_call_rate_threshold=50.0)

    def slow() -> str:
        clock.advance(2.0)
        return "late"

    run_calls(breaker, "ss")
    assert breaker.call(slow) == "late"
    assert breaker.state is State.CLOSED
    breaker.call(slow)  # 2 slow of 4
    assert breaker.state is State.OPEN


def test_calls_just_under_the_slow_duration_are_not_slow(
    make_breaker: MakeBreaker, clock: FakeClock
) -> None:
    breaker = make_breaker(slow_call_duration=2.0, slow_call_rate_threshold=50.0)

    def quick_enough() -> None:
        clock.advance(1.999)

    for _ in range(6):
        breaker.call(quick_enough)
    assert breaker.state is State.CLOSED


def test_the_breaker_goes_half_open_after_the_wait_in_open(
    make_breaker: MakeBreaker, clock: FakeClock
) -> None:
    breaker = make_breaker(wait_in_open=30.0)
    run_calls(breaker, "ffff")
    clock.advance(29.5)
    assert breaker.state is State.OPEN
    assert breaker.next_transition_in() == pytest.approx(0.5)
    clock.advance(0.5)
    assert breaker.state is State.HALF_OPEN


def test_half_open_admits_only_the_permitted_probes(
    make_breaker: MakeBreaker, clock: FakeClock
) -> None:
    breaker = make_breaker(half_open_calls=2)
    run_calls(breaker, "ffff")
    clock.advance(30)
    with ExitStack() as probes:
        probes.enter_context(breaker)
        probes.enter_context(breaker)
        with pytest.raises(BreakerOpen):  # refused while two probes are out
            breaker.call(ok)
        assert breaker.state is State.HALF_OPEN
    assert breaker.state is State.CLOSED


def test_a_successful_probe_closes_the_breaker(make_breaker: MakeBreaker, clock: FakeClock) -> None:
    breaker = make_breaker(half_open_calls=1)
    run_calls(breaker, "ffff")
    clock.advance(30)
    assert breaker.call(ok) == "ok"
    assert breaker.state is State.CLOSED
    run_calls(breaker, "fff")  # a fresh window: three failures are below the minimum again
    assert breaker.state is State.CLOSED


def test_a_failed_probe_reopens_the_breaker_for_another_wait(
    make_breaker: MakeBreaker, clock: FakeClock
) -> None:
    breaker = make_breaker(half_open_calls=1)
    run_calls(breaker, "ffff")
    clock.advance(30)
    run_calls(breaker, "f")
    assert breaker.state is State.OPEN
    assert breaker.next_transition_in() == 30.0


def test_probes_decide_by_the_failure_rate_as_soon_as_the_verdict_is_certain(
    make_breaker: MakeBreaker, clock: FakeClock
) -> None:
    breaker = make_breaker(half_open_calls=3, failure_rate_threshold=50.0)
    run_calls(breaker, "ffff")
    clock.advance(30)
    run_calls(breaker, "fs")  # 1 failed, 1 passed, the third decides
    assert breaker.state is State.HALF_OPEN
    run_calls(breaker, "s")
    assert breaker.state is State.CLOSED


def test_two_failed_probes_of_three_reopen_without_waiting_for_the_third(
    make_breaker: MakeBreaker, clock: FakeClock
) -> None:
    breaker = make_breaker(half_open_calls=3, failure_rate_threshold=50.0)
    run_calls(breaker, "ffff")
    clock.advance(30)
    with breaker:  # the third probe, still out when the verdict comes
        run_calls(breaker, "ff")
        assert breaker.state is State.OPEN
    assert breaker.state is State.OPEN  # its late success belongs to an old state


def test_ignored_exceptions_count_neither_as_failure_nor_success(
    make_breaker: MakeBreaker,
) -> None:
    breaker = make_breaker(ignore=(KeyError,))

    def bad_input() -> None:
        raise KeyError("caller's mistake")

    for _ in range(10):
        with pytest.raises(KeyError):
            breaker.call(bad_input)
    assert breaker.state is State.CLOSED
    assert breaker.status().calls == 0


def test_a_predicate_can_ignore_exceptions_by_content(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(ignore_if=lambda exc: "404" in str(exc))

    def not_found() -> None:
        raise Boom("404 no such order")

    for _ in range(6):
        with pytest.raises(Boom):
            breaker.call(not_found)
    assert breaker.state is State.CLOSED


def test_exceptions_outside_record_count_as_successes(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(record=(TimeoutError,))
    run_calls(breaker, "ffffff")  # Boom is not a TimeoutError: the dependency answered
    assert breaker.state is State.CLOSED
    assert breaker.status().calls == 6
    assert breaker.status().failure_rate == 0.0


def test_an_ignored_probe_hands_its_permit_back(
    make_breaker: MakeBreaker, clock: FakeClock
) -> None:
    breaker = make_breaker(half_open_calls=1, ignore=(KeyError,))
    run_calls(breaker, "ffff")
    clock.advance(30)

    def bad_input() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        breaker.call(bad_input)
    assert breaker.state is State.HALF_OPEN
    assert breaker.call(ok) == "ok"  # the permit came back, so this one may probe
    assert breaker.state is State.CLOSED


def test_a_cancelled_call_is_not_counted(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker()

    def interrupted() -> None:
        raise KeyboardInterrupt

    for _ in range(6):
        with pytest.raises(KeyboardInterrupt):
            breaker.call(interrupted)
    assert breaker.status().calls == 0


def test_a_time_window_drops_calls_older_than_its_seconds(
    make_breaker: MakeBreaker, clock: FakeClock
) -> None:
    breaker = make_breaker(window_type="time", window_size=10, minimum_calls=4)
    run_calls(breaker, "fff")
    clock.advance(10)  # those three failures have left the window
    run_calls(breaker, "sss")
    assert breaker.status().calls == 3
    run_calls(breaker, "f")  # 1 of 4
    assert breaker.state is State.CLOSED
    run_calls(breaker, "ff")  # 3 of 6
    assert breaker.state is State.OPEN


def test_a_time_window_keeps_calls_within_its_seconds(
    make_breaker: MakeBreaker, clock: FakeClock
) -> None:
    breaker = make_breaker(window_type="time", window_size=10, minimum_calls=4)
    run_calls(breaker, "ff")
    clock.advance(9)
    run_calls(breaker, "ss")
    assert breaker.state is State.OPEN


def test_a_call_that_outlives_a_transition_is_not_counted_in_the_new_state(
    make_breaker: MakeBreaker, clock: FakeClock
) -> None:
    breaker = make_breaker(half_open_calls=1)
    with breaker:  # started while closed, ends while half-open
        run_calls(breaker, "ffff")
        clock.advance(30)
        assert breaker.state is State.HALF_OPEN
    assert breaker.state is State.HALF_OPEN  # it did not count as the probe


def test_the_context_manager_counts_the_block_and_refuses_when_open(
    make_breaker: MakeBreaker,
) -> None:
    breaker = make_breaker()
    for _ in range(4):
        with pytest.raises(Boom), breaker:
            raise Boom("down")
    assert breaker.state is State.OPEN
    with pytest.raises(BreakerOpen), breaker:
        pytest.fail("the block must not run")


async def test_the_async_context_manager_counts_the_block(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker()
    async with breaker:
        pass
    for _ in range(3):  # 3 failures of 4 calls
        with pytest.raises(Boom):
            async with breaker:
                raise Boom("down")
    assert breaker.state is State.OPEN


def test_protecting_a_generator_is_refused_because_nothing_real_would_be_counted(
    make_breaker: MakeBreaker,
) -> None:
    def rows() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="generator"):
        make_breaker().protect(rows)


async def test_an_instance_with_an_async_call_is_protected_as_async(
    make_breaker: MakeBreaker,
) -> None:
    class Client:
        async def __call__(self) -> str:
            raise Boom("down")

    breaker = make_breaker(minimum_calls=1)
    guarded = breaker.protect(Client())
    with pytest.raises(Boom):
        await guarded()
    assert breaker.state is State.OPEN


def test_call_refuses_a_coroutine_function_instead_of_guarding_nothing(
    make_breaker: MakeBreaker,
) -> None:
    async def remote() -> str:
        return "x"

    with pytest.raises(TypeError, match="use acall"):
        make_breaker().call(remote)
