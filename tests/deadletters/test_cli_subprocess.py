"""The real command line in real processes, including two operators racing on the same rows."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.deadletters.amqp_helpers import drain
from workerkit.cli import exitcodes
from workerkit.deadletters.query import DeadLetterFilter
from workerkit.deadletters.record import DeadLetterRecord
from workerkit.deadletters.store import DeadLetterStore

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(migrated_url: str, amqp_url: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("WORKERKIT_")}
    environment.update(
        PYTHONPATH=str(ROOT),
        WORKERKIT_DEADLETTERS_DATABASE_URL=migrated_url,
        WORKERKIT_BROKER_URL=amqp_url,
    )
    return environment


def workerkit(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "workerkit", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_list_json_works_as_a_real_command(
    env: dict[str, str], store: DeadLetterStore, make_record: Callable[..., DeadLetterRecord]
) -> None:
    row_id = store.add(make_record())

    out, err = workerkit(env, "dead-letters", "list", "--json").communicate(timeout=60)

    assert [row["id"] for row in json.loads(out)] == [row_id], err


def test_two_processes_replaying_the_same_row_publish_it_once(
    env: dict[str, str],
    store: DeadLetterStore,
    make_record: Callable[..., DeadLetterRecord],
    amqp_url: str,
    queue: str,
) -> None:
    row_id = store.add(make_record(routing_key=queue))

    racers = [workerkit(env, "dead-letters", "replay", str(row_id), "--by", n) for n in "ab"]
    codes = sorted(p.wait(timeout=60) for p in racers)

    assert codes == [exitcodes.RET_OK, exitcodes.RET_CONFLICT]
    assert len(asyncio.run(drain(amqp_url, queue, 1))) == 1


def test_two_processes_replaying_the_same_filter_send_each_row_once(
    env: dict[str, str],
    store: DeadLetterStore,
    make_record: Callable[..., DeadLetterRecord],
    amqp_url: str,
    queue: str,
) -> None:
    store.add_many([make_record(routing_key=queue) for _ in range(300)])
    args = ("dead-letters", "replay", "--queue", "orders", "--yes")

    racers = [workerkit(env, *args) for _ in range(2)]
    codes = [p.wait(timeout=120) for p in racers]

    # The slower one finds some rows taken (0), all taken (CONFLICT) or none left (NOT_FOUND).
    late = {exitcodes.RET_OK, exitcodes.RET_CONFLICT, exitcodes.RET_NOT_FOUND}
    assert exitcodes.RET_OK in codes and set(codes) <= late
    assert len(asyncio.run(drain(amqp_url, queue, 300))) == 300
    assert store.count(DeadLetterFilter(statuses=["replayed"])) == 300
