"""Separate worker processes: ``force-open`` from the CLI makes every one of them fall back."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.zk_support import (
    WorkerProcess,
    node_mtime,
    report_latencies,
    run_cli,
    subprocess_env,
    wait_until,
)

pytestmark = pytest.mark.integration
WORKER = str(Path(__file__).with_name("breaker_worker.py"))


def _worker(env: dict[str, str], tmp_path: Path, i: int) -> WorkerProcess:
    env = dict(env, WORKERKIT_ZOOKEEPER_SNAPSHOT_PATH=str(tmp_path / f"worker{i}.json"))
    worker = WorkerProcess(WORKER, env, "tms-api")
    assert worker.line(15) == "ready"
    assert json.loads(worker.line(5)) | {"t": 0} == {"t": 0, "result": "live", "fallback": False}
    return worker


def _local_states(env: dict[str, str]) -> list[str]:
    listed = run_cli(env, "breakers", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    return sorted(w["state"] for w in rows.get("tms-api", {"workers": []})["workers"])


def test_force_open_from_the_cli_makes_two_worker_processes_fall_back_within_one_second(
    zookeeper_hosts, zk_root, admin_digest, tmp_path
):
    env = subprocess_env(zookeeper_hosts, zk_root, WORKERKIT_ZOOKEEPER_ADMIN_DIGEST=admin_digest)
    workers = [_worker(env, tmp_path, i) for i in range(2)]
    latencies: list[float] = []
    from_launch: list[float] = []
    try:
        for round_ in range(3):
            launched = time.time()
            done = run_cli(env, "breakers", "force-open", "tms-api", "--reason", f"drill {round_}")
            assert done.returncode == 0, done.stderr
            written = node_mtime(zookeeper_hosts, f"{zk_root}/breakers/tms-api")
            for worker in workers:
                seen = json.loads(worker.line(timeout=2))
                assert (seen["result"], seen["fallback"]) == ("fallback", True)
                latencies.append(seen["t"] - written)
                from_launch.append(seen["t"] - launched)  # includes the CLI's own start-up
            wait_until(
                lambda: _local_states(env) == ["forced_open", "forced_open"], 5, "list shows both"
            )

            done = run_cli(env, "breakers", "auto", "tms-api", "--reason", "drill over")
            assert done.returncode == 0, done.stderr
            for worker in workers:
                seen = json.loads(worker.line(timeout=2))
                assert (seen["result"], seen["fallback"]) == ("live", False)
    finally:
        for worker in workers:
            worker.finish()
    print(
        "\n"
        + report_latencies("force-open latency, node written -> fallback", latencies)
        + f"; from launching the CLI process: max {max(from_launch) * 1000:.0f} ms"
    )
    assert max(from_launch) < 5


def test_a_worker_restarted_while_zookeeper_is_unreachable_still_falls_back(
    zookeeper_hosts, zk_root, admin_digest, tmp_path, zk_proxy
):
    env = subprocess_env(zk_proxy.hosts, zk_root, WORKERKIT_ZOOKEEPER_ADMIN_DIGEST=admin_digest)
    worker = _worker(env, tmp_path, 0)
    try:
        done = run_cli(env, "breakers", "force-open", "tms-api", "--reason", "drill")
        assert done.returncode == 0, done.stderr
        assert json.loads(worker.line(timeout=2))["result"] == "fallback"
    finally:
        worker.finish()  # stops cleanly: the snapshot is on disk

    zk_proxy.cut()
    env = dict(env, WORKERKIT_ZOOKEEPER_SNAPSHOT_PATH=str(tmp_path / "worker0.json"))
    restarted = WorkerProcess(WORKER, env, "tms-api")
    try:
        assert restarted.line(15) == "ready-offline"
        first = json.loads(restarted.line(5))
        assert (first["result"], first["fallback"]) == ("fallback", True)
    finally:
        restarted.finish()
