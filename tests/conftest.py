"""One fixture per real service. A missing service skips locally and fails when CI is set."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.zk_support import ADMIN_DIGEST, PrivateZooKeeper, TcpProxy

RABBITMQ_URL = os.environ.get("WORKERKIT_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
POSTGRES_URL = os.environ.get(
    "WORKERKIT_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
ZOOKEEPER_HOSTS = os.environ.get("WORKERKIT_TEST_ZOOKEEPER", "127.0.0.1:2181")


def _require(name: str, port: int, how: str) -> None:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        message = f"{name} is not answering on 127.0.0.1:{port}; start it with: {how}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def amqp_url() -> str:
    _require("RabbitMQ", 5672, "bash scripts/services.sh")
    return RABBITMQ_URL


@pytest.fixture(scope="session")
def postgres_url() -> str:
    _require("PostgreSQL", 5432, "bash scripts/services.sh")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def zookeeper_hosts() -> str:
    _require("ZooKeeper", 2181, "bash scripts/services.sh")
    return ZOOKEEPER_HOSTS


@pytest.fixture
def queue_name() -> str:
    """A fresh queue name per test, so tests never see each other's messages."""
    return f"test.{uuid.uuid4().hex[:12]}"


@pytest.fixture
def admin_digest() -> str:
    return ADMIN_DIGEST


@pytest.fixture
def zk_root(zookeeper_hosts: str) -> Iterator[str]:
    """A ZooKeeper root of its own per test, removed afterwards (as admin: tests may have
    written nodes only the admin digest may delete)."""
    from kazoo.client import KazooClient

    root = f"/workerkit-test-{uuid.uuid4().hex[:12]}"
    yield root
    client = KazooClient(hosts=zookeeper_hosts, auth_data=[("digest", ADMIN_DIGEST)])
    client.start(timeout=10)
    try:
        client.delete(root, recursive=True)
    except Exception:  # noqa: BLE001 - a test may have changed the ACLs; leave it
        pass
    finally:
        client.stop()
        client.close()


@pytest.fixture
def admin_client(zookeeper_hosts: str, zk_root: str) -> Iterator[Any]:
    """A started ``ZkClient`` holding the admin digest, as the admin CLIs use."""
    from workerkit.zk import ZkClient

    client = ZkClient(zookeeper_hosts, admin_digest=ADMIN_DIGEST)
    client.start()
    yield client
    client.stop()


@pytest.fixture
def zk_proxy(zookeeper_hosts: str) -> Iterator[TcpProxy]:
    """A TCP proxy to ZooKeeper that the test can cut and restore (a network partition)."""
    host, port = zookeeper_hosts.split(",")[0].rsplit(":", 1)
    proxy = TcpProxy((host, int(port)))
    yield proxy
    proxy.close()


@pytest.fixture
def private_zookeeper(tmp_path: Path) -> Iterator[PrivateZooKeeper]:
    """A ZooKeeper server of the test's own, which it may stop and start."""
    server = PrivateZooKeeper(tmp_path / "zk")
    try:
        server.start()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    yield server
    server.stop()


@pytest.fixture
def zk_cli(
    zookeeper_hosts: str, zk_root: str, admin_digest: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Any]:
    """``workerkit GROUP ARGS`` through CliRunner, on this test's root, as an operator holding
    the admin digest (``digest=None`` drops it; ``hosts`` points elsewhere)."""
    from click.testing import CliRunner

    from workerkit.cli import cli

    for name in [n for n in os.environ if n.startswith("WORKERKIT_")]:
        monkeypatch.delenv(name)

    def invoke(
        group: str,
        *args: str,
        digest: str | None = admin_digest,
        input: str | None = None,
        hosts: str = zookeeper_hosts,
    ) -> Any:
        env = {
            "WORKERKIT_ZOOKEEPER_HOSTS": hosts,
            "WORKERKIT_ZOOKEEPER_ROOT": zk_root,
            "WORKERKIT_ZOOKEEPER_CONNECT_TIMEOUT": "1",
        }
        if digest:
            env["WORKERKIT_ZOOKEEPER_ADMIN_DIGEST"] = digest
        return CliRunner().invoke(cli, [group, *args], env=env, input=input)

    return invoke
