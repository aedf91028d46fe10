"""``workerkit dead-letters``: see what failed (list, groups, show, stats, export).

The commands that change rows (replay, discard, restore, purge) live in
:mod:`workerkit.cli.dead_letter_actions` and are attached to this group below.
"""

from __future__ import annotations

import asyncio
from typing import Any

import click
from rich.console import Console

from workerkit.broker.topology import parking_queue_name
from workerkit.cli import exitcodes
from workerkit.cli.common import fail, handle_errors, settings_from
from workerkit.cli.dead_letter_actions import discard, purge, restore
from workerkit.cli.dead_letter_options import filter_options, open_store, selection
from workerkit.cli.dead_letter_replay import replay
from workerkit.cli.dead_letter_views import (
    dumps,
    full,
    group_dict,
    groups_table,
    print_row,
    rows_table,
    summary,
)
from workerkit.deadletters.parking import import_parked as import_parked_into_table


def _console() -> Console:
    # Built per call so it writes to the sys.stdout of this invocation (CliRunner swaps it).
    return Console(highlight=False, soft_wrap=False)


@click.group("dead-letters")
def dead_letters() -> None:
    """Inspect, replay and discard messages that failed for good."""


@dead_letters.command("list")
@filter_options
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
@click.pass_context
@handle_errors
def list_(ctx: click.Context, /, limit: int, as_json: bool, **kwargs: Any) -> None:
    """Dead letters, newest first."""
    rows = open_store(ctx).rows(selection(kwargs, limit=limit))
    if as_json:
        click.echo(dumps([summary(r) for r in rows]))
    elif rows:
        _console().print(rows_table(rows))
    else:
        click.echo("no dead letters match")


@dead_letters.command("groups")
@filter_options
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def groups(ctx: click.Context, /, limit: int, as_json: bool, **kwargs: Any) -> None:
    """Failures grouped by fingerprint (error type and the handler frame that raised)."""
    found = open_store(ctx).groups(selection(kwargs, limit=limit))
    if as_json:
        click.echo(dumps([group_dict(g) for g in found]))
    elif found:
        _console().print(groups_table(found))
    else:
        click.echo("no dead letters match")


@dead_letters.command("show")
@click.argument("row_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Every column; body base64.")
@click.pass_context
@handle_errors
def show(ctx: click.Context, /, row_id: int, as_json: bool) -> None:
    """Everything about one dead letter, and the chain of its replays."""
    store = open_store(ctx)
    row = store.get(row_id)
    if row is None:
        fail(f"no dead letter with id {row_id}", exitcodes.RET_NOT_FOUND)
    chain = store.chain(row_id)
    if as_json:
        click.echo(dumps({**full(row), "chain": [link.id for link in chain]}))
    else:
        print_row(_console(), row, chain)


@dead_letters.command("export")
@filter_options
@click.option("--output", "-o", type=click.File("w"), default="-", help="File (default stdout).")
@click.pass_context
@handle_errors
def export(ctx: click.Context, /, output: Any, **kwargs: Any) -> None:
    """JSON lines of every matching row, oldest first, bodies base64."""
    count = 0
    for row in open_store(ctx).iter_rows(selection(kwargs)):
        output.write(dumps(full(row)) + "\n")
        count += 1
    if getattr(output, "name", "<stdout>") != "<stdout>":
        click.echo(f"exported {count} dead letters", err=True)


@dead_letters.command("stats")
@filter_options
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
@handle_errors
def stats(ctx: click.Context, /, as_json: bool, **kwargs: Any) -> None:
    """Counts by queue, status and reason."""
    data = open_store(ctx).stats(selection(kwargs))
    if as_json:
        click.echo(dumps(data))
        return
    console = _console()
    console.print(f"[bold]{data['total']}[/bold] dead letters")
    for key in ("by_status", "by_reason", "by_queue"):
        parts = ", ".join(f"{k} {n}" for k, n in data[key].items()) or "-"
        console.print(f"{key.replace('_', ' ')}: {parts}")


@dead_letters.command("import-parked")
@click.argument("queues", nargs=-1, required=True)
@click.pass_context
@handle_errors
def import_parked(ctx: click.Context, /, queues: tuple[str, ...]) -> None:
    """Move messages parked in QUEUES.dead (while the database was down) into the table.

    Name the consumers' queues: AMQP cannot list the parking queues for us.
    """
    result = asyncio.run(import_parked_into_table(settings_from(ctx), list(queues)))
    missing = [queue for queue, moved in result.items() if moved is None]
    for queue, moved in result.items():
        if moved is not None:
            click.echo(f"{queue}: imported {moved} parked dead letters")
    if missing:
        names = ", ".join(parking_queue_name(q) for q in missing)
        fail(f"no parking queue {names}: check the queue names", exitcodes.RET_NOT_FOUND)


for _command in (replay, discard, restore, purge):
    dead_letters.add_command(_command)
