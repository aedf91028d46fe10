"""Fake clocks and a breaker factory, so every breaker test runs in milliseconds."""

from __future__ import annotations

from typing import Any

import pytest
from breaker_support import FakeClock, MakeBreaker

from workerkit.breakers import CircuitBreaker
from workerkit.config import BreakerSettings


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_breaker(clock: FakeClock) -> MakeBreaker:
    """Build a breaker on the fake clock; settings default to small, readable numbers."""

    def make(name: str = "tms-api", /, **options: Any) -> CircuitBreaker:
        code_options = {
            key: options.pop(key)
            for key in ("fallback", "record", "ignore", "ignore_if")
            if key in options
        }
        settings = BreakerSettings(
            **{
                "window_size": 10,
                "minimum_calls": 4,
                "failure_rate_threshold": 50.0,
                "slow_call_duration": 1.0,
                "slow_call_rate_threshold": 50.0,
                "wait_in_open": 30.0,
                "half_open_calls": 1,
                **options,
            }
        )
        return CircuitBreaker(
            name, settings, clock=clock.monotonic, wall_clock=clock.time, **code_options
        )

    return make
