"""Shared helpers for the breaker tests (a unique module name: tests dirs share sys.path)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from workerkit.breakers import BreakerRegistry, CircuitBreaker
from workerkit.breakers.remote import BreakerOverrides
from workerkit.zk import ZkClient

WALL_START = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a fixed instant for `until` tests
MakeBreaker = Callable[..., CircuitBreaker]


@dataclass
class FakeClock:
    """Monotonic and wall time that move only when a test says so."""

    now: float = 1000.0
    wall: float = WALL_START

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.wall += seconds


class Boom(Exception):
    """The dependency failed."""


def ok() -> str:
    return "ok"


def fail() -> str:
    raise Boom("down")


def run_calls(breaker: CircuitBreaker, pattern: str) -> None:
    """Run one call per letter: ``s`` succeeds, ``f`` fails (the failure is swallowed)."""
    for letter in pattern:
        try:
            breaker.call(ok if letter == "s" else fail)
        except Boom:
            pass


@dataclass
class Follower:
    """What a worker holds for overrides: its registry, the watch, and the client under it."""

    registry: BreakerRegistry
    overrides: BreakerOverrides
    client: ZkClient

    def stop(self) -> None:
        self.overrides.stop()
        self.client.stop()
