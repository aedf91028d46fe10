"""Fixtures for switch tests: an admin client and managers that stop themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.zk_support import ADMIN_DIGEST
from workerkit.config import Secret, ZooKeeperSettings
from workerkit.switches import SwitchManager
from workerkit.switches.admin import SwitchAdmin
from workerkit.zk import ZkClient


@pytest.fixture
def zk_admin(admin_client: ZkClient, zk_root: str) -> SwitchAdmin:
    """The operator's view of this test's root (zk_root removes the protected tree)."""
    return SwitchAdmin(admin_client, zk_root)


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
