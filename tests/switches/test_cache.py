"""The watched cache seen from a worker: reads, listeners, the decorator, bad nodes."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time

import pytest

from tests.zk_support import wait_until
from workerkit.zk import ConnectionState, Source

pytestmark = pytest.mark.integration


def test_a_switch_turned_on_is_seen_with_its_source_and_a_live_status(make_manager, zk_admin):
    manager = make_manager()
    assert manager.wait_synced(5)
    assert manager.is_on("beta") is False
    assert manager.source("beta") is Source.DEFAULT
    zk_admin.turn("beta", True, by="test", reason="launch")
    wait_until(lambda: manager.is_on("beta"), 2, "beta on")
    status = manager.status()
    assert status.state is ConnectionState.CONNECTED
    assert status.synced and status.last_sync_age == 0.0
    assert status.sources == {"beta": Source.ZOOKEEPER}
    assert status.as_dict()["sources"] == {"beta": "zookeeper"}
    assert status.as_dict()["state"] == "connected"


def test_start_returns_at_once_and_serves_defaults_when_zookeeper_never_answers(make_manager):
    started = time.perf_counter()
    manager = make_manager(hosts="127.0.0.1:9", connect_timeout=0.5)
    assert time.perf_counter() - started < 0.2
    assert manager.is_on("anything", default=True) is True
    assert manager.value("limit", default=7) == 7
    assert manager.status().synced is False and manager.status().last_sync_age is None


def test_malformed_json_keeps_the_previous_value_and_logs_an_error(make_manager, zk_admin, caplog):
    manager = make_manager()
    zk_admin.update("limits", {"value": 10}, by="test", reason="start")
    wait_until(lambda: manager.value("limits") == 10, 2, "value 10")
    with caplog.at_level(logging.ERROR, logger="workerkit.zk.cache"):
        zk_admin.writer.client.set(f"{zk_admin.writer.base}/limits", b'{"on": tru')
        wait_until(lambda: "malformed JSON" in caplog.text, 2, "an error log")
    assert manager.value("limits") == 10
    zk_admin.writer.client.set(f"{zk_admin.writer.base}/limits", b'{"on": "yes"}')
    wait_until(lambda: "not a valid value" in caplog.text, 2, "a validation error log")
    assert manager.value("limits") == 10
    zk_admin.turn("limits", True, by="test", reason="repair")
    zk_admin.update("limits", {"value": 11}, by="test", reason="fix")
    wait_until(lambda: manager.value("limits") == 11, 2, "the repaired value")


def test_a_deleted_switch_falls_back_to_the_code_default(make_manager, zk_admin):
    manager = make_manager()
    zk_admin.turn("kill", False, by="test", reason="incident")
    wait_until(lambda: manager.get("kill") is not None, 2, "kill known")
    assert manager.is_on("kill", default=True) is False
    zk_admin.delete("kill", by="test", reason="over")
    wait_until(lambda: manager.get("kill") is None, 2, "kill gone")
    assert manager.is_on("kill", default=True) is True
    assert manager.source("kill") is Source.DEFAULT


def test_listeners_get_old_and_new_and_may_be_removed(make_manager, zk_admin):
    manager = make_manager()
    seen: list[tuple[str, bool | None, bool | None]] = []
    everything: list[str] = []
    remove = manager.add_listener(
        "a", lambda n, old, new: seen.append((n, old and old.on, new and new.on))
    )
    manager.add_listener(None, lambda n, old, new: everything.append(n))
    zk_admin.turn("a", True, by="t", reason="r")
    zk_admin.turn("b", True, by="t", reason="r")
    wait_until(lambda: sorted(everything) == ["a", "b"], 2, "both changes")
    assert seen == [("a", None, True)]
    remove()
    zk_admin.turn("a", False, by="t", reason="r")
    wait_until(lambda: everything.count("a") == 2, 2, "second change of a")
    assert seen == [("a", None, True)]


async def test_a_listener_registered_with_a_loop_runs_on_that_event_loop(make_manager, zk_admin):
    manager = make_manager()
    loop_thread = threading.get_ident()
    changed = asyncio.Event()  # touching it off the loop would be a bug
    threads: list[int] = []

    def on_change(name, old, new):
        threads.append(threading.get_ident())
        changed.set()

    manager.add_listener("pause-me", on_change, loop=asyncio.get_running_loop())
    await asyncio.to_thread(zk_admin.turn, "pause-me", False, by="t", reason="r")
    await asyncio.wait_for(changed.wait(), 2)
    assert threads == [loop_thread]
    assert manager.is_on("pause-me", default=True) is False


async def test_the_switch_decorator_runs_the_fallback_while_off_for_sync_and_async(
    make_manager, zk_admin
):
    manager = make_manager()

    async def cached_price(item):
        return f"cached {item}"

    @manager.switch("live-prices", fallback=cached_price)
    async def live_price(item):
        return f"live {item}"

    @manager.switch("recommendations", fallback=[])
    def recommend(user):
        return [f"for {user}"]

    assert await live_price("x") == "cached x"
    assert recommend("ann") == []
    await asyncio.to_thread(zk_admin.turn, "live-prices", True, by="t", reason="r")
    await asyncio.to_thread(zk_admin.turn, "recommendations", True, by="t", reason="r")
    await asyncio.to_thread(wait_until, lambda: manager.is_on("recommendations"), 2)
    await asyncio.to_thread(wait_until, lambda: manager.is_on("live-prices"), 2)
    assert await live_price("x") == "live x"
    assert recommend("ann") == ["for ann"]
    assert live_price.__name__ == "live_price"


def test_every_change_is_written_to_the_snapshot_on_disk(make_manager, zk_admin, zk_settings):
    make_manager()
    zk_admin.update("batch", {"value": {"size": 50}}, by="t", reason="r")
    path = zk_settings.snapshot_path

    def saved() -> dict | None:
        nodes = json.loads(path.read_text())["nodes"] if path.exists() else {}
        return nodes.get("batch", {}).get("value")

    wait_until(lambda: saved() and saved()["value"] == {"size": 50}, 2, "batch on disk")
    assert list(zk_settings.snapshot_path.parent.glob(".switches.json.*")) == []


def test_a_value_applies_only_while_its_switch_is_on(make_manager, zk_admin):
    manager = make_manager()
    zk_admin.update("batch-size", {"value": 50}, by="t", reason="tune")
    wait_until(lambda: manager.value("batch-size", 10) == 50, 2, "value 50")
    zk_admin.turn("batch-size", False, by="t", reason="back to the code default")
    wait_until(lambda: manager.value("batch-size", 10) == 10, 2, "the code default")
    assert manager.get("batch-size").value == 50  # kept, for turning it on again


def test_a_value_is_read_only_so_one_caller_cannot_change_it_for_the_others(make_manager, zk_admin):
    manager = make_manager()
    zk_admin.update("routing", {"value": {"regions": ["eu", "us"]}}, by="t", reason="r")
    wait_until(lambda: manager.value("routing") is not None, 2, "routing value")
    routing = manager.value("routing")
    with pytest.raises(TypeError):
        routing["regions"] = []
    assert routing["regions"] == ("eu", "us")


def test_a_worker_never_creates_nodes_even_on_an_empty_root(make_manager, zk_root, zookeeper_hosts):
    manager = make_manager()
    assert manager.wait_synced(5)
    assert manager.is_on("anything", default=True) is True
    assert manager.client.exists(zk_root) is None  # followed by exists-watch, not created
