"""``workerkit workers``: which worker processes are alive, per queue, and how busy they are.

Reads the ephemeral nodes under ``<root>/workers`` (see :mod:`workerkit.zk.presence`): a
process that died is gone once its ZooKeeper session expires; one whose ``updated_at`` is
old is shown as stale (alive session, stuck refresh).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from workerkit.cli.common import handle_errors, settings_from
from workerkit.zk.client import ZkClient
from workerkit.zk.errors import NodeMissing
from workerkit.zk.presence import age_seconds

STALE_AFTER = 30.0  # seconds without a refresh; six default refresh intervals


@click.group("workers")
def workers() -> None:
    """Live worker processes, as they announce themselves in ZooKeeper."""


@workers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
@handle_errors
def list_(ctx: click.Context, as_json: bool) -> None:
    """Every live worker process per queue, with concurrency and busy slots."""
    zk = settings_from(ctx).zookeeper
    logging.getLogger("workerkit.zk.kazoo").setLevel(logging.CRITICAL)
    client = ZkClient.from_settings(zk)
    client.start()
    try:
        rows = _collect(client, f"{zk.root}/workers")
    finally:
        client.stop()
    if as_json:
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
        return
    console = Console(highlight=False, soft_wrap=True)
    if not rows:
        console.print("no live workers")
        return
    table = Table("queue", "worker", "busy", "concurrency", "started", "updated", "version")
    for r in rows:
        age = r["updated_age"]
        updated = "?" if age is None else f"{age:.0f}s ago" + (" (stale)" if r["stale"] else "")
        table.add_row(r["queue"], r["worker"], str(r.get("busy", "")),
                      str(r.get("concurrency", "")), str(r.get("started_at", "")), updated,
                      str(r.get("version", "")))
    console.print(table)


def _collect(client: ZkClient, base: str) -> list[dict[str, Any]]:
    try:
        queues = sorted(client.get_children(base))
    except NodeMissing:
        return []
    rows: list[dict[str, Any]] = []
    for queue in queues:
        try:
            ids = sorted(client.get_children(f"{base}/{queue}"))
        except NodeMissing:
            continue
        found = client.get_many([f"{base}/{queue}/{i}" for i in ids])
        for worker_id in ids:
            node = found[f"{base}/{queue}/{worker_id}"]
            if node is None:  # exited while we listed
                continue
            try:
                doc = json.loads(node[0].decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                doc = {}
            age = age_seconds(doc.get("updated_at", ""))
            rows.append({**doc, "queue": queue, "worker": worker_id, "updated_age": age,
                         "stale": age is None or age > STALE_AFTER})
    return rows
