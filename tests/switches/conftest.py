"""Fixtures for switch tests: an admin client, managers that stop themselves, and outages."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kazoo.client import KazooClient
from zk_test_support import PrivateZooKeeper, TcpProxy

from workerkit.config import Secret, ZooKeeperSettings
from workerkit.switches import SwitchManager
from workerkit.switches.admin import SwitchAdmin
from workerkit.zk import ZkClient

ADMIN_DIGEST = "admin:correct-horse-battery"


@pytest.fixture
def admin_digest() -> str:
    return ADMIN_DIGEST


@pytest.fixture
def zk_admin(zookeeper_hosts: str, zk_root: str) -> Iterator[SwitchAdmin]:
    """The operator's view of this test's root; removes the protected tree afterwards."""
    client = ZkClient(zookeeper_hosts, admin_digest=ADMIN_DIGEST)
    client.start()
    yield SwitchAdmin(client, zk_root)
    client.stop()
    cleaner = KazooClient(hosts=zookeeper_hosts, auth_data=[("digest", ADMIN_DIGEST)])
    cleaner.start(timeout=10)
    try:
        with contextlib.suppress(Exception):
            cleaner.delete(zk_root, recursive=True)
    finally:
        cleaner.stop()
        cleaner.close()


@pytest.fixture
def zk_settings(zookeeper_hosts: str, zk_root: str, tmp_path: Path) -> ZooKeeperSettings:
    """Quick reconnects, so outage tests finish in seconds."""
    return ZooKeeperSettings(
        hosts=zookeeper_hosts,
        root=zk_root,
        snapshot_path=tmp_path / "switches.json",
        max_reconnect_delay=0.3,
        connect_timeout=2.0,
        session_timeout=4.0,
        admin_digest=Secret(ADMIN_DIGEST),
    )


@pytest.fixture
def make_manager(zk_settings: ZooKeeperSettings) -> Iterator[Callable[..., SwitchManager]]:
    """Started managers (with ``settings`` overrides) that are all stopped after the test."""
    managers: list[SwitchManager] = []

    def make(**overrides: Any) -> SwitchManager:
        manager = SwitchManager(zk_settings.model_copy(update=overrides))
        manager.start()
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        manager.stop()


@pytest.fixture
def zk_proxy(zookeeper_hosts: str) -> Iterator[TcpProxy]:
    host, port = zookeeper_hosts.split(",")[0].rsplit(":", 1)
    proxy = TcpProxy((host, int(port)))
    yield proxy
    proxy.close()


@pytest.fixture
def private_zookeeper(tmp_path: Path) -> Iterator[PrivateZooKeeper]:
    server = PrivateZooKeeper(tmp_path / "zk")
    try:
        server.start()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    yield server
    server.stop()
