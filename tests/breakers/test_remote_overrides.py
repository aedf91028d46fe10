"""Overrides followed from a real ZooKeeper: applied, removed, kept through bad nodes, outages."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

import pytest

from tests.zk_support import wait_until
from workerkit.breakers import Fallback, Mode, State, StateChange
from workerkit.breakers.remote import snapshot_beside
from workerkit.zk import ConnectionState, Source

pytestmark = pytest.mark.integration


def _force(admin, name: str, mode: Mode, **kwargs) -> None:
    admin.set_mode(name, mode, by="ana", reason="test", **kwargs)


def test_an_override_reaches_the_breaker_and_a_deleted_node_hands_it_back_to_auto(
    make_follower, breaker_admin
):
    follower = make_follower()
    breaker = follower.registry.get("tms-api")
    _force(breaker_admin, "tms-api", Mode.FORCE_OPEN)
    wait_until(lambda: breaker.state is State.FORCED_OPEN, 2, "forced open")
    assert breaker.status().by == "ana"

    _force(breaker_admin, "tms-api", Mode.FORCE_CLOSED)
    wait_until(lambda: breaker.state is State.FORCED_CLOSED, 2, "forced closed")

    node = breaker_admin.get("tms-api")
    breaker_admin.writer.delete("tms-api", version=node.version, by="ana", reason="r", old=None)
    wait_until(lambda: breaker.override is None, 2, "back to auto")
    assert breaker.state is State.CLOSED


def test_an_override_for_a_breaker_not_created_yet_applies_when_it_is_registered(
    make_follower, breaker_admin
):
    follower = make_follower()
    _force(breaker_admin, "geo-api", Mode.FORCE_OPEN)
    wait_until(lambda: "geo-api" in follower.overrides.overrides(), 2, "override seen")
    geo = follower.registry.register("geo-api", fallback=Fallback.returning("cached"))
    assert geo.call(lambda: "live") == "cached"


@pytest.mark.parametrize(
    "garbage", [b"{not json", b'{"mode": "open"}', b'{"mode": "force_open", "untill": null}']
)
def test_a_malformed_node_keeps_the_last_good_override_and_logs_one_error(
    make_follower, breaker_admin, zk_root, caplog, garbage, zk_proxy
):
    follower = make_follower(hosts=zk_proxy.hosts)
    breaker = follower.registry.get("tms-api")
    _force(breaker_admin, "tms-api", Mode.FORCE_OPEN)
    wait_until(lambda: breaker.state is State.FORCED_OPEN, 2, "forced open")

    caplog.set_level(logging.ERROR, logger="workerkit.zk")
    breaker_admin.writer.client.set(f"{zk_root}/breakers/tms-api", garbage)
    errors = wait_until(
        lambda: [r for r in caplog.records if r.levelno == logging.ERROR], 2, "the error"
    )
    assert "tms-api" in errors[0].getMessage()
    assert "keeping the previous value" in errors[0].getMessage()
    assert breaker.state is State.FORCED_OPEN

    zk_proxy.cut()  # a reconnect re-reads the bad node: it must not complain again
    wait_until(lambda: not follower.overrides.status().synced, 10, "cut off")
    zk_proxy.restore()
    wait_until(lambda: follower.overrides.status().synced, 10, "resynced")
    _force(breaker_admin, "tms-api", Mode.AUTO)  # a good write repairs it
    wait_until(lambda: breaker.override is None, 2, "back to auto")
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1


def test_a_force_for_a_while_ends_on_time_even_when_no_call_is_made(make_follower, breaker_admin):
    follower = make_follower()
    breaker = follower.registry.get("tms-api")
    changes: list[StateChange] = []
    follower.registry.add_listener(changes.append)
    _force(breaker_admin, "tms-api", Mode.FORCE_OPEN, duration=timedelta(seconds=2))
    wait_until(lambda: changes and changes[-1].to_state is State.FORCED_OPEN, 2, "forced open")
    until = breaker_admin.get("tms-api").data["until"]

    wait_until(lambda: len(changes) == 2, 4, "the expiry event, with no call made")
    assert changes[1].from_state is State.FORCED_OPEN
    assert "override expired" in changes[1].reason
    assert changes[1].at >= datetime.fromisoformat(until)
    assert breaker.status().mode is Mode.AUTO


def test_while_zookeeper_is_unreachable_a_forced_breaker_stays_forced(
    make_follower, breaker_admin, zk_proxy
):
    follower = make_follower(hosts=zk_proxy.hosts)
    breaker = follower.registry.register("tms-api", fallback=Fallback.returning("fallback"))
    _force(breaker_admin, "tms-api", Mode.FORCE_OPEN)
    wait_until(lambda: breaker.state is State.FORCED_OPEN, 2, "forced open")

    zk_proxy.cut()
    wait_until(
        lambda: follower.overrides.status().state is not ConnectionState.CONNECTED, 10, "cut off"
    )
    _force(breaker_admin, "tms-api", Mode.AUTO)  # made during the outage: not seen yet
    for _ in range(200):
        assert breaker.call(lambda: "live") == "fallback"
    assert follower.overrides.status().synced is False

    zk_proxy.restore()
    wait_until(lambda: breaker.override is None, 10, "the change made meanwhile")
    assert breaker.call(lambda: "live") == "live"


def test_a_worker_restarted_while_zookeeper_is_down_applies_the_snapshot(
    make_follower, breaker_admin, zk_proxy, tmp_path
):
    first = make_follower(hosts=zk_proxy.hosts)
    _force(breaker_admin, "tms-api", Mode.FORCE_OPEN)
    _force(breaker_admin, "geo-api", Mode.FORCE_CLOSED, duration=timedelta(hours=1))
    wait_until(lambda: len(first.overrides.overrides()) == 2, 2, "both overrides")
    first.stop()  # flushes the snapshot
    assert snapshot_beside(tmp_path / "switches.json") == tmp_path / "switches.breakers.json"
    assert (tmp_path / "switches.breakers.json").exists()

    zk_proxy.cut()
    started = time.perf_counter()
    second = make_follower(hosts=zk_proxy.hosts)
    assert time.perf_counter() - started < 0.2  # never waits for ZooKeeper
    assert second.registry.get("tms-api").state is State.FORCED_OPEN
    assert second.registry.get("geo-api").state is State.FORCED_CLOSED
    assert second.overrides.status().sources == {
        "tms-api": Source.SNAPSHOT,
        "geo-api": Source.SNAPSHOT,
    }

    zk_proxy.restore()
    wait_until(lambda: second.overrides.status().synced, 10, "live again")
    assert second.overrides.status().sources["tms-api"] is Source.ZOOKEEPER
