"""Separate worker processes: a CLI flip reaches them all, and rollouts agree across them."""

from __future__ import annotations

import json
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from tests.zk_support import (
    WorkerProcess,
    node_mtime,
    report_latencies,
    run_cli,
    subprocess_env,
)

pytestmark = pytest.mark.integration
WORKER = str(Path(__file__).with_name("switch_worker.py"))


def _worker(env: dict[str, str], tmp_path: Path, i: int, *args: str) -> WorkerProcess:
    env = dict(env, WORKERKIT_ZOOKEEPER_SNAPSHOT_PATH=str(tmp_path / f"worker{i}.json"))
    worker = WorkerProcess(WORKER, env, *args)
    assert worker.line(15) == "ready"
    return worker


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(env, "switches", *args)


def test_a_flip_through_the_cli_reaches_two_worker_processes_within_one_second(
    zookeeper_hosts, zk_root, zk_admin, admin_digest, tmp_path
):
    env = subprocess_env(zookeeper_hosts, zk_root, WORKERKIT_ZOOKEEPER_ADMIN_DIGEST=admin_digest)
    workers = [_worker(env, tmp_path, i, "watch", "orders-notifier") for i in range(2)]
    latencies: list[float] = []
    end_to_end: list[float] = []
    try:
        for state in ("on", "off", "on", "off", "on"):
            launched = time.time()
            done = _cli(env, state, "orders-notifier", "--reason", "latency test")
            assert done.returncode == 0, done.stderr
            written = node_mtime(zookeeper_hosts, f"{zk_root}/switches/orders-notifier")
            for worker in workers:
                seen = json.loads(worker.line(timeout=2))
                assert seen["on"] is (state == "on")
                latencies.append(seen["t"] - written)
                end_to_end.append(seen["t"] - launched)
    finally:
        for worker in workers:
            worker.finish()
    print(
        "\n" + report_latencies("flip latency write->worker", latencies) + "; from launching "
        f"the CLI process: median {statistics.median(end_to_end) * 1000:.0f} ms, "
        f"max {max(end_to_end) * 1000:.0f} ms"
    )


def test_the_same_keys_are_in_a_rollout_in_two_processes_and_in_this_one(
    zookeeper_hosts, zk_root, zk_admin, make_manager, tmp_path
):
    zk_admin.update("new-pricing", {"percent": 37}, by="t", reason="r")
    env = subprocess_env(zookeeper_hosts, zk_root)
    answers = []
    for i in range(2):
        worker = _worker(env, tmp_path, i, "rollout", "new-pricing", "10000")
        answers.append(json.loads(worker.line(timeout=15)))
        worker.finish()
    manager = make_manager()
    assert manager.wait_synced(5)
    here = [k for k in range(10_000) if manager.is_on("new-pricing", key=k)]
    assert answers[0] == answers[1] == here
    assert abs(len(here) / 100 - 37) <= 2


def test_the_cli_refuses_an_edit_based_on_a_version_someone_else_changed(
    zookeeper_hosts, zk_root, zk_admin, admin_digest
):
    env = subprocess_env(zookeeper_hosts, zk_root, WORKERKIT_ZOOKEEPER_ADMIN_DIGEST=admin_digest)
    assert _cli(env, "on", "x", "--reason", "first").returncode == 0
    version = json.loads(_cli(env, "get", "x", "--json").stdout)["version"]
    first = _cli(env, "off", "x", "--reason", "alice", "--if-version", str(version))
    second = _cli(
        env, "set", "x", "--percent", "5", "--reason", "bob", "--if-version", str(version)
    )
    assert first.returncode == 0
    assert second.returncode == 8  # RET_CONFLICT
    assert "changed it since you looked" in second.stderr
    assert json.loads(_cli(env, "get", "x", "--json").stdout)["data"]["on"] is False
