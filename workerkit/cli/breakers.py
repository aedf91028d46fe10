"""``workerkit breakers``: force circuit breakers open or closed for every worker, and look.

``force-open``, ``force-closed`` and ``auto`` write ``<root>/breakers/<name>``, which every
worker follows within about a second; ``--for 10m`` makes the force end on its own. Changes
are audited and versioned as for switches (see :mod:`workerkit.cli.zkadmin`): ``--reason``
is required, a concurrent edit is refused with RET_CONFLICT, and writes need
``zookeeper.admin_digest``, which is never printed. ``list`` and ``show`` add each live
worker's own breaker state, as it publishes it in its presence node (key ``breakers``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import click
from rich.console import Group
from rich.table import Table

from workerkit.breakers.admin import BreakerAdmin, describe_node
from workerkit.breakers.override import Mode
from workerkit.cli.common import handle_errors
from workerkit.cli.zkadmin import (
    add_history_command,
    connected,
    emit,
    json_option,
    write_options,
)
from workerkit.zk.presence import live_workers
from workerkit.zk.writer import Node

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PART = re.compile(r"(\d+)([smhd])")
_LONGEST = 366 * 86400  # a longer force is a permanent one: leave out --for


def parse_duration(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """``90s``, ``10m``, ``1h30m``, ``2d`` as a timedelta (a callback, not a ParamType:
    ParamType is generic only in recent click, and we support 8.1)."""
    if value is None:
        return None
    text = value.strip().lower()
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise click.BadParameter(f"{value!r} is not a duration; write it like 90s, 10m or 1h30m")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if not 0 < seconds <= _LONGEST:
        raise click.BadParameter("the duration must be longer than zero and at most 366d")
    return timedelta(seconds=seconds)


@contextmanager
def _admin(ctx: click.Context, *, write: bool) -> Iterator[BreakerAdmin]:
    with connected(ctx, write=write) as (client, root):
        yield BreakerAdmin(client, root)


@click.group("breakers")
def breakers() -> None:
    """Circuit breakers: force one open or closed for every worker, and see each one's state."""


@breakers.command("list")
@json_option
@click.pass_context
@handle_errors
def list_(ctx: click.Context, as_json: bool) -> None:
    """Every breaker with an override or a live worker using it: forced mode, local states."""
    with _admin(ctx, write=False) as admin:
        nodes = {n.name: n for n in admin.list_nodes()}
        states = _worker_states(live_workers(admin.writer.client, admin.writer.root))
    rows = [_row(name, nodes.get(name), states.get(name, [])) for name in sorted(nodes | states)]
    emit(as_json, rows, lambda: _table(rows) if rows else "no overrides and no live workers")


@breakers.command("show")
@click.argument("name")
@json_option
@click.pass_context
@handle_errors
def show(ctx: click.Context, name: str, as_json: bool) -> None:
    """One breaker: its override and every live worker's own state of it."""
    with _admin(ctx, write=False) as admin:
        node = admin.get(name)
        states = _worker_states(live_workers(admin.writer.client, admin.writer.root))
    row = _row(name, node, states.get(name, []))
    emit(as_json, row, lambda: Group(_table([row]), _workers_table(row["workers"])))


def _mode_command(command: str, mode: Mode, help_text: str) -> None:
    """The three writes differ only in the mode; ``--for`` makes no sense for ``auto``."""

    @breakers.command(command, help=help_text)
    @click.argument("name")
    @click.option(
        "--for",
        "duration",
        callback=parse_duration,
        help="End the force after this long, e.g. 10m or 1h30m (default: until changed).",
    )
    @write_options
    @click.pass_context
    @handle_errors
    def write(
        ctx: click.Context,
        name: str,
        duration: timedelta | None,
        reason: str,
        by: str,
        if_version: int | None,
        as_json: bool,
    ) -> None:
        if duration is not None and mode is Mode.AUTO:
            raise click.UsageError("--for applies to force-open and force-closed, not auto")
        with _admin(ctx, write=True) as admin:
            override = admin.set_mode(
                name, mode, by=by, reason=reason, duration=duration, if_version=if_version
            )
        emit(
            as_json,
            {"name": name, "override": override.as_json()},
            lambda: f"breaker {name}: {override.describe()}",
        )


_mode_command("force-open", Mode.FORCE_OPEN, "Refuse every call in every worker: fallbacks answer.")
_mode_command("force-closed", Mode.FORCE_CLOSED, "Let every call through whatever the counts.")
_mode_command("auto", Mode.AUTO, "Hand the breaker back to its own counts in every worker.")
add_history_command(breakers, lambda ctx: _admin(ctx, write=False), shown=("mode", "until"))


def _worker_states(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Breaker name -> one entry per worker process (it announces itself once per queue)."""
    by_name: dict[str, dict[str, dict[str, Any]]] = {}
    for row in rows:
        published = row.get("breakers")
        for status in published if isinstance(published, list) else []:
            if isinstance(status, dict) and isinstance(status.get("name"), str):
                entry = {**status, "worker": row["worker"], "stale": row["stale"]}
                by_name.setdefault(status["name"], {})[row["worker"]] = entry
    return {name: list(workers.values()) for name, workers in by_name.items()}


def _row(name: str, node: Node | None, workers: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": name, **describe_node(node), "workers": workers}


def _table(rows: list[dict[str, Any]]) -> Table:
    table = Table("name", "forced", "until", "by", "reason", "version", "workers")
    for r in rows:
        doc = r["override"] if isinstance(r["override"], dict) else {}
        mode = r["mode"] + (" (expired)" if r.get("expired") else "")
        if r["mode"] == "malformed":
            mode = f"[red]malformed[/red]: {r['problem']}; workers keep their previous override"
        counts: dict[str, int] = {}
        for w in r["workers"]:
            counts[str(w.get("state"))] = counts.get(str(w.get("state")), 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        table.add_row(
            r["name"],
            mode,
            str(doc.get("until") or ""),
            str(doc.get("by") or ""),
            str(doc.get("reason") or ""),
            "" if r["version"] is None else str(r["version"]),
            summary or "none live",
        )
    return table


def _workers_table(workers: list[dict[str, Any]]) -> Table:
    table = Table("worker", "state", "failure %", "slow %", "calls", "rejected", "fallbacks")
    for w in workers:
        table.add_row(
            w["worker"] + (" (stale)" if w["stale"] else ""),
            str(w.get("state")),
            _pct(w.get("failure_rate")),
            _pct(w.get("slow_rate")),
            str(w.get("calls", "")),
            str(w.get("rejected", "")),
            str(w.get("fallbacks", "")),
        )
    return table


def _pct(value: Any) -> str:
    return f"{value:.0f}" if isinstance(value, int | float) else ""
