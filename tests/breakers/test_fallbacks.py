"""Fallback values and functions, sync and async, and the traces a fallback leaves."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from breaker_support import Boom, MakeBreaker, fail, ok, run_calls

from workerkit.breakers import Fallback, last_call_was_fallback, last_fallback
from workerkit.errors import BreakerOpen


def test_a_fallback_value_answers_while_the_breaker_is_open(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(fallback=Fallback.returning([]))
    run_calls(breaker, "ffff")
    assert breaker.call(ok) == []
    assert last_call_was_fallback()
    info = last_fallback()
    assert info is not None
    assert (info.breaker, info.reason) == ("tms-api", "open")
    assert isinstance(info.error, BreakerOpen)


def test_a_real_result_clears_the_fallback_flag(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(fallback=Fallback.returning([]))
    breaker.call(fail)
    assert last_call_was_fallback()
    assert breaker.call(ok) == "ok"
    assert not last_call_was_fallback()


def test_a_fallback_function_gets_the_error_and_the_call_arguments(
    make_breaker: MakeBreaker,
) -> None:
    seen: list[Any] = []

    def cached_rates(error: BaseException, order: str, *, currency: str) -> str:
        seen.append((type(error), order, currency))
        return f"cached {order} {currency}"

    breaker = make_breaker()

    @breaker.protect(fallback=Fallback.computed(cached_rates))
    def rates(order: str, *, currency: str) -> str:
        raise Boom("timeout")

    assert rates("o-1", currency="EUR") == "cached o-1 EUR"
    assert seen == [(Boom, "o-1", "EUR")]
    assert last_fallback() is not None and last_fallback().reason == "failure"  # type: ignore[union-attr]


def test_a_fallback_only_for_open_lets_failures_raise(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(fallback=Fallback.returning("cached", on="open"))
    for _ in range(4):
        with pytest.raises(Boom):
            breaker.call(fail)
    assert not last_call_was_fallback()
    assert breaker.call(ok) == "cached"


def test_a_fallback_only_for_failures_lets_refusals_raise(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(fallback=Fallback.returning("cached", on="failure"))
    assert [breaker.call(fail) for _ in range(4)] == ["cached"] * 4
    with pytest.raises(BreakerOpen):
        breaker.call(ok)


def test_an_ignored_exception_is_raised_not_replaced_by_the_fallback(
    make_breaker: MakeBreaker,
) -> None:
    breaker = make_breaker(fallback=Fallback.returning("cached"), ignore=(ValueError,))

    def bad_input() -> None:
        raise ValueError("caller's mistake")

    with pytest.raises(ValueError):
        breaker.call(bad_input)
    assert not last_call_was_fallback()


async def test_async_calls_fall_back_to_a_value_and_to_an_async_function(
    make_breaker: MakeBreaker,
) -> None:
    async def from_cache(error: BaseException, order: str) -> str:
        return f"cached {order}"

    breaker = make_breaker()

    @breaker.protect(fallback=Fallback.computed(from_cache))
    async def rates(order: str) -> str:
        raise Boom("down")

    @breaker.protect(fallback=Fallback.returning("default"))
    async def status(order: str) -> str:
        return "live"

    assert await rates("o-1") == "cached o-1"
    assert last_call_was_fallback()
    assert await status("o-1") == "live"
    assert not last_call_was_fallback()
    for _ in range(3):
        await rates("o-2")
    assert await status("o-1") == "default"  # now open: refused, answered by the value
    assert last_fallback().reason == "open"  # type: ignore[union-attr]


async def test_acall_uses_the_breaker_fallback(make_breaker: MakeBreaker) -> None:
    async def broken() -> str:
        raise Boom("down")

    breaker = make_breaker(fallback=Fallback.returning("default"))
    assert await breaker.acall(broken) == "default"
    assert breaker.fallbacks == 1


def test_a_sync_function_cannot_have_an_async_fallback(make_breaker: MakeBreaker) -> None:
    async def later(error: BaseException) -> str:
        return "x"

    breaker = make_breaker()
    with pytest.raises(TypeError, match="fallback is async"):
        breaker.protect(ok, fallback=Fallback.computed(later))


def test_a_fallback_needs_exactly_one_answer() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Fallback()
    with pytest.raises(ValueError, match="'open', 'failure' or 'both'"):
        Fallback(value=1, on="always")  # type: ignore[arg-type]


def test_a_none_value_is_a_valid_fallback(make_breaker: MakeBreaker) -> None:
    breaker = make_breaker(fallback=Fallback.returning(None))
    assert breaker.call(fail) is None
    assert last_call_was_fallback()


def test_a_fallback_after_a_failure_is_logged_with_fields(
    make_breaker: MakeBreaker, caplog: pytest.LogCaptureFixture
) -> None:
    breaker = make_breaker(fallback=Fallback.returning("cached"))
    with caplog.at_level(logging.DEBUG, logger="workerkit.breakers"):
        breaker.call(fail)
        run_calls(breaker, "fff")
        breaker.call(ok)
    failure, *_, refused = [r for r in caplog.records if getattr(r, "fallback", False)]
    assert (failure.levelno, failure.breaker, failure.fallback_reason) == (  # type: ignore[attr-defined]
        logging.WARNING,
        "tms-api",
        "failure",
    )
    assert (refused.levelno, refused.fallback_reason) == (logging.DEBUG, "open")  # type: ignore[attr-defined]


def test_a_fallback_inside_a_nested_breaker_call_is_still_visible_outside(
    make_breaker: MakeBreaker,
) -> None:
    inner = make_breaker("inner", fallback=Fallback.returning("cached"))
    outer = make_breaker("outer")
    assert outer.call(lambda: inner.call(fail)) == "cached"
    assert last_fallback().breaker == "inner"  # type: ignore[union-attr]
