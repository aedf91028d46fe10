"""``workerkit switches``: look at and change feature switches in ZooKeeper.

Every change carries ``--reason`` and ``--by`` (the OS user by default) into an audit entry
written in the same transaction, and is conditioned on the version just read (or on
``--if-version``), so a concurrent edit is refused with RET_CONFLICT instead of overwritten.
Writes use ``zookeeper.admin_digest`` (config file or WORKERKIT_ZOOKEEPER_ADMIN_DIGEST);
it is never printed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.table import Table

from workerkit.cli import exitcodes
from workerkit.cli.common import fail, handle_errors
from workerkit.cli.zkadmin import (
    add_history_command,
    connected,
    emit,
    json_option,
    write_options,
)
from workerkit.switches.admin import SwitchAdmin
from workerkit.zk.writer import Node


@contextmanager
def _admin(ctx: click.Context, *, write: bool) -> Iterator[SwitchAdmin]:
    with connected(ctx, write=write) as (client, root):
        yield SwitchAdmin(client, root)


def _node_json(node: Node) -> dict[str, Any]:
    return {"name": node.name, "version": node.version, "valid": node.valid, "data": node.data}


def _switch_table(nodes: list[Node]) -> Table:
    table = Table("name", "on", "percent", "value", "version", "updated", "by", "reason")
    for n in nodes:
        d = n.data if n.valid and isinstance(n.data, dict) else {}
        state = ("on" if d.get("on") else "off") if d else "[red]malformed[/red]"
        value = json.dumps(d["value"]) if "value" in d else ""
        table.add_row(
            n.name,
            state,
            str(d.get("percent", "")),
            value,
            str(n.version),
            str(d.get("updated_at", "")),
            str(d.get("updated_by", "")),
            str(d.get("reason", "")),
        )
    return table


@click.group("switches")
def switches() -> None:
    """Feature switches in ZooKeeper: every worker follows them within about a second."""


@switches.command("list")
@json_option
@click.pass_context
@handle_errors
def list_(ctx: click.Context, as_json: bool) -> None:
    """Every switch with its state and last change."""
    with _admin(ctx, write=False) as admin:
        nodes = admin.list_nodes()
    emit(
        as_json,
        [_node_json(n) for n in nodes],
        lambda: _switch_table(nodes) if nodes else "no switches: every worker uses its defaults",
    )


@switches.command("get")
@click.argument("name")
@json_option
@click.pass_context
@handle_errors
def get(ctx: click.Context, name: str, as_json: bool) -> None:
    """One switch."""
    with _admin(ctx, write=False) as admin:
        node = admin.get(name)
    emit(as_json, _node_json(node), lambda: _switch_table([node]))


def _changed(as_json: bool, name: str, doc: dict[str, Any]) -> None:
    state = "on" if doc["on"] else "off"
    extra = "".join(f", {k} {json.dumps(doc[k])}" for k in ("percent", "value") if k in doc)
    emit(as_json, {"name": name, "data": doc}, lambda: f"switch {name} is {state}{extra}")


def _turn_command(state: bool, help_text: str) -> None:
    """``on`` and ``off`` differ only in the state they write."""

    @switches.command("on" if state else "off", help=help_text)
    @click.argument("name")
    @write_options
    @click.pass_context
    @handle_errors
    def command(
        ctx: click.Context, name: str, reason: str, by: str, if_version: int | None, as_json: bool
    ) -> None:
        with _admin(ctx, write=True) as admin:
            doc = admin.turn(name, state, by=by, reason=reason, if_version=if_version)
        _changed(as_json, name, doc)


_turn_command(True, "Turn a switch on (creating it if needed).")
_turn_command(False, "Turn a switch off: workers fall back at once, no deploy needed.")


@switches.command("set")
@click.argument("name")
@click.option("--percent", type=click.FloatRange(0, 100), help="Roll out to this share of keys.")
@click.option("--value", "value_json", help="Any JSON value, e.g. 50 or '{\"limit\": 3}'.")
@click.option("--clear-percent", is_flag=True, help="Remove the rollout: on means on for all.")
@click.option("--clear-value", is_flag=True, help="Remove the value: callers use their default.")
@write_options
@click.pass_context
@handle_errors
def set_(
    ctx: click.Context,
    name: str,
    percent: float | None,
    value_json: str | None,
    clear_percent: bool,
    clear_value: bool,
    reason: str,
    by: str,
    if_version: int | None,
    as_json: bool,
) -> None:
    """Set a rollout percentage or a value; a new switch starts on."""
    fields: dict[str, Any] = {}
    if percent is not None or clear_percent:
        fields["percent"] = percent
    if value_json is not None:
        try:
            fields["value"] = json.loads(value_json)
        except ValueError as exc:
            raise click.BadParameter(f"not JSON: {exc}", param_hint="--value") from None
    elif clear_value:
        fields["value"] = None
    if not fields:
        raise click.UsageError("nothing to set: give --percent, --value or a --clear-* flag")
    with _admin(ctx, write=True) as admin:
        doc = admin.update(name, fields, by=by, reason=reason, if_version=if_version)
    _changed(as_json, name, doc)


@switches.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Show what would be deleted and change nothing.")
@write_options
@click.pass_context
@handle_errors
def delete(
    ctx: click.Context,
    name: str,
    yes: bool,
    dry_run: bool,
    reason: str,
    by: str,
    if_version: int | None,
    as_json: bool,
) -> None:
    """Delete a switch: every worker goes back to the default in its code."""
    with _admin(ctx, write=not dry_run) as admin:
        node = admin.get(name)
        if dry_run:
            emit(
                as_json,
                {"would_delete": _node_json(node)},
                lambda: f"would delete switch {name} (version {node.version}); nothing changed",
            )
            return
        if not yes and not click.confirm(
            f"Delete switch {name}? Workers will use their code default", err=True
        ):
            fail("aborted; nothing changed", exitcodes.RET_ABORTED)
        version = node.version if if_version is None else if_version
        admin.delete(name, by=by, reason=reason, if_version=version)
    emit(as_json, {"deleted": name}, lambda: f"deleted switch {name}")


add_history_command(
    switches, lambda ctx: _admin(ctx, write=False), shown=("on", "percent", "value")
)
