"""``workerkit dead-letters discard/restore/purge``: the commands that change row status.

Each resolves its rows first (ids, ``--group``, or the list filters), shows or confirms, then
acts with compare-and-set updates, so a row another operator changed meanwhile is skipped
and reported rather than acted on twice.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from workerkit.cli.common import handle_errors
from workerkit.cli.dead_letter_options import (
    Duration,
    confirm,
    open_store,
    operator,
    resolve_rows,
    selection_options,
)
from workerkit.deadletters.models import DeadLetter
from workerkit.deadletters.query import DeadLetterFilter


@click.command("discard")
@functools.partial(selection_options, reason_flag="--failure-reason")
@click.option("--reason", "discard_reason", help="Why, kept on the row.")
@click.option("--by", help="Who discards (default: the OS user).")
@click.pass_context
@handle_errors
def discard(
    ctx: click.Context,
    /,
    ids: tuple[int, ...],
    group: str | None,
    dry_run: bool,
    yes: bool,
    discard_reason: str | None,
    by: str | None,
    **kwargs: Any,
) -> None:
    """Mark dead letters discarded; rows are kept and can be restored."""
    store = open_store(ctx)
    rows = resolve_rows(store, ids, group, kwargs, ("dead",))
    if dry_run:
        click.echo(f"dry run: {len(rows)} dead letters would be discarded: {_ids(rows)}")
        return
    confirm(len(rows), "Discard", yes)
    changed = store.discard([r.id for r in rows], operator(by), discard_reason)
    click.echo(f"discarded {changed} dead letters")


@click.command("restore")
@selection_options
@click.pass_context
@handle_errors
def restore(
    ctx: click.Context,
    /,
    ids: tuple[int, ...],
    group: str | None,
    dry_run: bool,
    yes: bool,
    **kwargs: Any,
) -> None:
    """Bring discarded rows back to dead, so they can be replayed; also frees rows left
    ``replaying`` by a replay that crashed (once their claim is 10 minutes old)."""
    store = open_store(ctx)
    rows = resolve_rows(store, ids, group, kwargs, ("discarded", "replaying"))
    if dry_run:
        click.echo(f"dry run: {len(rows)} dead letters would be restored: {_ids(rows)}")
        return
    confirm(len(rows), "Restore", yes)
    restored = store.restore([r.id for r in rows])
    click.echo(f"restored {restored} dead letters")
    if restored < len(rows):
        click.echo(f"left {len(rows) - restored} alone: claimed by a replay still under way")


@click.command("purge")
@click.option("--older-than", type=Duration(), required=True, help="Age, e.g. 30d.")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(("dead", "replayed", "discarded")),
    default=("replayed", "discarded"),
    show_default=True,
    help="Which statuses to delete (repeatable).",
)
@click.option("--queue", help="Only this queue.")
@click.option("--dry-run", is_flag=True)
@click.option("--yes", "-y", is_flag=True)
@click.pass_context
@handle_errors
def purge(
    ctx: click.Context,
    /,
    older_than: timedelta,
    statuses: tuple[str, ...],
    queue: str | None,
    dry_run: bool,
    yes: bool,
) -> None:
    """Delete old rows for good (by default only replayed and discarded ones)."""
    store = open_store(ctx)
    chosen = DeadLetterFilter(queue=queue, statuses=statuses, until=datetime.now(UTC) - older_than)
    count = store.count(chosen)
    if dry_run or count == 0:
        click.echo(f"{'dry run: ' if dry_run else ''}{count} dead letters would be deleted")
        return
    confirm(count, "Delete for good", yes, even_one=True)
    click.echo(f"deleted {store.purge(chosen)} dead letters")


def _ids(rows: list[DeadLetter]) -> str:
    shown = ", ".join(f"#{r.id}" for r in rows[:20])
    return shown + (f" and {len(rows) - 20} more" if len(rows) > 20 else "")
