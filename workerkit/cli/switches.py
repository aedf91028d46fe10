"""``workerkit switches``: look at and change feature switches in ZooKeeper.

Every change carries ``--reason`` and ``--by`` (the OS user by default) into an audit entry
written in the same transaction, and is conditioned on the version just read (or on
``--if-version``), so a concurrent edit is refused with RET_CONFLICT instead of overwritten.
Writes use ``zookeeper.admin_digest`` (config file or WORKERKIT_ZOOKEEPER_ADMIN_DIGEST);
it is never printed.
"""

from __future__ import annotations

import functools
import getpass
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.table import Table

from workerkit.cli import exitcodes
from workerkit.cli.common import fail, handle_errors, settings_from
from workerkit.switches.admin import InvalidSwitch, SwitchAdmin
from workerkit.zk.client import ZkClient
from workerkit.zk.errors import ConcurrentEdit, NodeMissing, NotAuthorised
from workerkit.zk.writer import AuditEntry, Node

F = TypeVar("F", bound=Callable[..., Any])
_REFUSALS = [
    (ConcurrentEdit, exitcodes.RET_CONFLICT),
    (NotAuthorised, exitcodes.RET_NOT_AUTHORISED),
    (NodeMissing, exitcodes.RET_NOT_FOUND),
    (InvalidSwitch, exitcodes.RET_USAGE),
]


def _refusals(fn: F) -> F:
    """ZooKeeper's "no" becomes one line and a named exit code; outages go to handle_errors."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except tuple(t for t, _ in _REFUSALS) as exc:
            fail(str(exc), next(code for t, code in _REFUSALS if isinstance(exc, t)))

    return handle_errors(wrapper)  # type: ignore[return-value]


@contextmanager
def _admin(ctx: click.Context, *, write: bool) -> Iterator[SwitchAdmin]:
    zk = settings_from(ctx).zookeeper
    if write and zk.admin_digest is None:
        raise NotAuthorised(
            "not authorised: changing switches needs zookeeper.admin_digest "
            "(set WORKERKIT_ZOOKEEPER_ADMIN_DIGEST=user:password or the config file)"
        )
    # kazoo logs every failed connect attempt; the CLI says it once, in handle_errors
    logging.getLogger("workerkit.zk.kazoo").setLevel(logging.CRITICAL)
    client = ZkClient.from_settings(zk, admin=write)
    client.start()
    try:
        yield SwitchAdmin(client, zk.root)
    finally:
        client.stop()


def _out(as_json: bool, data: Any, table: Callable[[], Table | str]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        Console(highlight=False, soft_wrap=True).print(table())


def _node_json(node: Node) -> dict[str, Any]:
    return {"name": node.name, "version": node.version, "valid": node.valid, "data": node.data}


def _switch_table(nodes: list[Node]) -> Table:
    table = Table("name", "on", "percent", "value", "version", "updated", "by", "reason")
    for n in nodes:
        d = n.data if n.valid and isinstance(n.data, dict) else {}
        state = ("on" if d.get("on") else "off") if d else "[red]malformed[/red]"
        value = json.dumps(d["value"]) if "value" in d else ""
        table.add_row(n.name, state, str(d.get("percent", "")), value, str(n.version),
                      str(d.get("updated_at", "")), str(d.get("updated_by", "")),
                      str(d.get("reason", "")))
    return table


def _history_table(entries: list[AuditEntry]) -> Table:
    table = Table("at", "name", "action", "by", "reason", "old", "new")
    for e in entries:
        table.add_row(e.at, e.name, e.action, e.by, e.reason, _brief(e.old), _brief(e.new))
    return table


def _brief(doc: Any) -> str:
    if not isinstance(doc, dict):
        return "" if doc is None else json.dumps(doc)
    keep = {k: v for k, v in doc.items() if k in ("on", "percent", "value")}
    return json.dumps(keep, sort_keys=True)


_json_opt = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def _write_opts(fn: F) -> F:
    fn = click.option("--if-version", type=int, default=None,
                      help="Refuse unless the node is still at this version.")(fn)
    fn = click.option("--by", default=lambda: _os_user(), show_default="the OS user",
                      help="Who makes the change, for the audit trail.")(fn)
    fn = click.option("--reason", required=True, help="Why, for the audit trail.")(fn)
    return _json_opt(fn)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@click.group("switches")
def switches() -> None:
    """Feature switches in ZooKeeper: every worker follows them within about a second."""


@switches.command("list")
@_json_opt
@click.pass_context
@_refusals
def list_(ctx: click.Context, as_json: bool) -> None:
    """Every switch with its state and last change."""
    with _admin(ctx, write=False) as admin:
        nodes = admin.list_nodes()
    _out(as_json, [_node_json(n) for n in nodes],
         lambda: _switch_table(nodes) if nodes else "no switches: every worker uses its defaults")


@switches.command("get")
@click.argument("name")
@_json_opt
@click.pass_context
@_refusals
def get(ctx: click.Context, name: str, as_json: bool) -> None:
    """One switch."""
    with _admin(ctx, write=False) as admin:
        node = admin.get(name)
    _out(as_json, _node_json(node), lambda: _switch_table([node]))


def _changed(as_json: bool, name: str, doc: dict[str, Any]) -> None:
    state = "on" if doc["on"] else "off"
    extra = "".join(f", {k} {json.dumps(doc[k])}" for k in ("percent", "value") if k in doc)
    _out(as_json, {"name": name, "data": doc}, lambda: f"switch {name} is {state}{extra}")


def _turn_command(state: bool, help_text: str) -> None:
    """``on`` and ``off`` differ only in the state they write."""

    @switches.command("on" if state else "off", help=help_text)
    @click.argument("name")
    @_write_opts
    @click.pass_context
    @_refusals
    def command(ctx: click.Context, name: str, reason: str, by: str, if_version: int | None,
                as_json: bool) -> None:
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
@_write_opts
@click.pass_context
@_refusals
def set_(ctx: click.Context, name: str, percent: float | None, value_json: str | None,
         clear_percent: bool, clear_value: bool, reason: str, by: str,
         if_version: int | None, as_json: bool) -> None:
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
@_write_opts
@click.pass_context
@_refusals
def delete(ctx: click.Context, name: str, yes: bool, dry_run: bool, reason: str, by: str,
           if_version: int | None, as_json: bool) -> None:
    """Delete a switch: every worker goes back to the default in its code."""
    with _admin(ctx, write=not dry_run) as admin:
        node = admin.get(name)
        if dry_run:
            _out(as_json, {"would_delete": _node_json(node)},
                 lambda: f"would delete switch {name} (version {node.version}); nothing changed")
            return
        if not yes and not click.confirm(f"Delete switch {name}? Workers will use their "
                                         "code default", err=True):
            fail("aborted; nothing changed", exitcodes.RET_ABORTED)
        version = node.version if if_version is None else if_version
        admin.delete(name, by=by, reason=reason, if_version=version)
    _out(as_json, {"deleted": name}, lambda: f"deleted switch {name}")


@switches.command("history")
@click.argument("name", required=False)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@_json_opt
@click.pass_context
@_refusals
def history(ctx: click.Context, name: str | None, limit: int, as_json: bool) -> None:
    """Audit trail of changes, oldest first: who, when, why, old and new."""
    with _admin(ctx, write=False) as admin:
        entries = admin.history(name, limit)
    _out(as_json, [e.__dict__ for e in entries],
         lambda: _history_table(entries) if entries else "no changes recorded")
