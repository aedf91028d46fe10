"""``workerkit workers``: which worker processes are alive, per queue, and how busy they are.

Reads the ephemeral nodes under ``<root>/workers`` (see :mod:`workerkit.zk.presence`): a
process that died is gone once its ZooKeeper session expires; one whose ``updated_at`` is
old is shown as stale (alive session, stuck refresh).
"""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from workerkit.cli.common import handle_errors
from workerkit.cli.zkadmin import connected, emit, json_option
from workerkit.zk.presence import live_workers


@click.group("workers")
def workers() -> None:
    """Live worker processes, as they announce themselves in ZooKeeper."""


@workers.command("list")
@json_option
@click.pass_context
@handle_errors
def list_(ctx: click.Context, as_json: bool) -> None:
    """Every live worker process per queue, with concurrency and busy slots."""
    with connected(ctx, write=False) as (client, root):
        rows = live_workers(client, root)
    emit(as_json, rows, lambda: _table(rows) if rows else "no live workers")


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table("queue", "worker", "busy", "concurrency", "started", "updated", "version")
    for r in rows:
        age = r["updated_age"]
        updated = "?" if age is None else f"{age:.0f}s ago" + (" (stale)" if r["stale"] else "")
        table.add_row(
            r["queue"],
            r["worker"],
            str(r.get("busy", "")),
            str(r.get("concurrency", "")),
            str(r.get("started_at", "")),
            updated,
            str(r.get("version", "")),
        )
    return table
