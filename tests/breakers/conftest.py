"""Fake clocks and a breaker factory, so every breaker test runs in milliseconds; and for the
ZooKeeper tests, an operator's admin and worker-like override followers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from breaker_support import FakeClock, Follower, MakeBreaker

from workerkit.breakers import BreakerRegistry, CircuitBreaker
from workerkit.breakers.admin import BreakerAdmin
from workerkit.breakers.remote import BreakerOverrides, snapshot_beside
from workerkit.config import BreakerSettings
from workerkit.zk import ZkClient


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


@pytest.fixture
def breaker_admin(admin_client: ZkClient, zk_root: str) -> BreakerAdmin:
    """The operator's view of this test's breaker overrides (zk_root removes them)."""
    return BreakerAdmin(admin_client, zk_root)


@pytest.fixture
def make_follower(
    zookeeper_hosts: str, zk_root: str, tmp_path: Path
) -> Iterator[Callable[..., Follower]]:
    """Started ``BreakerOverrides`` on a registry of their own, stopped after the test.

    ``hosts`` may be a proxy's; ``snapshot`` is the switches' snapshot path the breakers'
    one is derived from, shared by default so a second follower is a restarted worker.
    """
    made: list[Follower] = []

    def make(hosts: str = zookeeper_hosts, snapshot: Path = tmp_path / "switches.json") -> Follower:
        client = ZkClient(hosts, connect_timeout=2.0, max_reconnect_delay=0.3, session_timeout=4.0)
        registry = BreakerRegistry()
        overrides = BreakerOverrides(client, zk_root, registry, snapshot_beside(snapshot))
        overrides.start()
        client.start_background()
        made.append(Follower(registry, overrides, client))
        return made[-1]

    yield make
    for follower in made:
        follower.stop()
