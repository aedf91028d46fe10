"""``workerkit run`` as a real process: signals, grace period, start-up failures."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import delete_queues, queue_depth, wait_for
from workerkit import App, Settings
from workerkit.cli import exitcodes
from workerkit.config import BrokerSettings, SecretUrl

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def worker_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKERKIT_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


async def test_sigterm_lets_in_flight_messages_finish_and_returns_the_rest(
    amqp_url: str, queue_name: str, tmp_path: Path
) -> None:
    record = tmp_path / "handled.txt"
    record.touch()
    app = App("pub", settings=Settings(broker=BrokerSettings(url=SecretUrl(amqp_url))))
    env = worker_env(
        TEST_QUEUE=queue_name,
        TEST_RECORD=str(record),
        TEST_DELAY="0.3",
        WORKERKIT_WORKER_GRACE_PERIOD="10",
        WORKERKIT_BROKER_URL=amqp_url,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "workerkit", "run", "tests.apps.slow:app"],
        env=env,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        await wait_for(lambda: _declared(amqp_url, queue_name), 20, 0.2, "queue declared")
        for n in range(1000):
            await app.publish(queue_name, {"n": n})
        await wait_for(lambda: len(record.read_text().split()) >= 40, 20, what="work under way")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 20)
        elapsed = time.monotonic() - started
        assert code == 0, proc.stderr.read() if proc.stderr else ""
        assert elapsed < 10
        handled = [int(x) for x in record.read_text().split()]
        assert len(handled) == len(set(handled)), "a message was handled twice"
        left = await queue_depth(amqp_url, queue_name)
        assert len(handled) + left == 1000, f"{len(handled)} handled + {left} queued != 1000"
    finally:
        if proc.poll() is None:
            proc.kill()
        await app.close()
        await delete_queues(amqp_url, queue_name)


def _declared(amqp_url: str, queue: str) -> bool:
    out = subprocess.run(
        ["rabbitmqctl", "-q", "list_queues", "name"], capture_output=True, text=True
    ).stdout
    return queue in out.split()


def run_cli(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``workerkit run`` on the test app with ``env``, to completion."""
    return subprocess.run(
        [sys.executable, "-m", "workerkit", "run", "tests.apps.slow:app"],
        env=worker_env(TEST_QUEUE="never.used", TEST_RECORD=str(tmp_path / "x"), **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_missing_broker_at_start_gives_one_clear_line_and_a_named_exit_code(
    tmp_path: Path,
) -> None:
    result = run_cli(
        tmp_path,
        WORKERKIT_BROKER_URL="amqp://guest:s3cret@127.0.0.1:1/",
        WORKERKIT_BROKER_CONNECT_TIMEOUT="2",
    )
    assert result.returncode == exitcodes.RET_BROKER
    assert "cannot reach RabbitMQ at amqp://guest:***@127.0.0.1:1/" in result.stderr
    assert "scripts/services.sh" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_a_bad_setting_in_the_environment_names_the_key(tmp_path: Path) -> None:
    result = run_cli(tmp_path, WORKERKIT_WORKER_GRACE_PERIOD="soon")
    assert result.returncode == exitcodes.RET_CONFIG
    assert "worker.grace_period" in result.stderr
    assert "Traceback" not in result.stderr
