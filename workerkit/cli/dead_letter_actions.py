"""``workerkit dead-letters replay/discard/restore/purge``: the commands that change rows.

Each resolves its rows first (ids, ``--group``, or the list filters), shows or confirms, then
acts with compare-and-set updates, so a row another operator changed meanwhile is skipped
and reported rather than acted on twice.
"""

from __future__ import annotations

import functools
import getpass
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.progress import Progress

from workerkit.cli import exitcodes
from workerkit.cli.common import err_console, fail, handle_errors, settings_from
from workerkit.cli.dead_letter_options import (
    Duration,
    confirm,
    filter_options,
    open_store,
    selection,
)
from workerkit.cli.dead_letter_views import dumps
from workerkit.deadletters import DeadLetterFilter, DeadLetterStore
from workerkit.deadletters.message import route
from workerkit.deadletters.models import DeadLetter
from workerkit.deadletters.replay import ReplayOptions, ReplayReport
from workerkit.deadletters.replay import replay as run_replay


def _who(by: str | None) -> str:
    return by or getpass.getuser()


def _resolve(
    store: DeadLetterStore,
    ids: Sequence[int],
    group: str | None,
    kwargs: dict[str, Any],
    statuses: tuple[str, ...],
) -> list[DeadLetter]:
    """The rows an action applies to; unknown ids or an empty match end with RET_NOT_FOUND."""
    explicit = bool(ids)
    if selection(kwargs, ids=ids, fingerprint=group).is_empty:
        fail(
            "say which dead letters: give ids, --group FINGERPRINT, or a filter such as --queue",
            exitcodes.RET_USAGE,
        )
    defaults = () if explicit else statuses
    wanted = " or ".join(statuses)
    chosen = selection(kwargs, ids=ids, fingerprint=group, default_statuses=defaults)
    rows = sorted(store.rows(chosen), key=lambda r: r.id)
    if explicit:
        missing = sorted(set(ids) - {r.id for r in rows})
        if missing and chosen == DeadLetterFilter(ids=chosen.ids):
            fail(f"no dead letter with id {', '.join(map(str, missing))}", exitcodes.RET_NOT_FOUND)
        wrong = [r for r in rows if r.status not in statuses]
        if wrong:
            states = ", ".join(f"#{r.id} is {r.status}" for r in wrong)
            if len(wrong) == len(rows):
                fail(f"nothing to do: {states}, not {wanted}", exitcodes.RET_CONFLICT)
            err_console.print(f"skipping {states}")
            rows = [r for r in rows if r.status in statuses]
    if not rows:
        fail(f"no dead letters with status {wanted} match", exitcodes.RET_NOT_FOUND)
    return rows


def _selection_options(fn: Any, reason_flag: str = "--reason") -> Any:
    fn = filter_options(fn, reason_flag=reason_flag)
    fn = click.option("--group", metavar="FINGERPRINT", help="Every row of one failure group.")(fn)
    fn = click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing.")(fn)
    fn = click.option(
        "--yes", "-y", is_flag=True, help="Do not ask before acting on several rows."
    )(fn)
    return click.argument("ids", nargs=-1, type=int)(fn)


@click.command("replay")
@_selection_options
@click.option(
    "--to", "to_queue", metavar="QUEUE", help="Send to this queue instead of the original route."
)
@click.option(
    "--rate", type=click.FloatRange(min=0, min_open=True), help="At most N messages per second."
)
@click.option("--by", help="Who replays (default: the OS user).")
@click.option("--edit", is_flag=True, help="Edit the body in $EDITOR first (one row only).")
@click.option("--body-file", type=click.File("rb"), help="Send this body instead (one row only).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_context
@handle_errors
def replay(
    ctx: click.Context,
    /,
    ids: tuple[int, ...],
    group: str | None,
    dry_run: bool,
    yes: bool,
    to_queue: str | None,
    rate: float | None,
    by: str | None,
    edit: bool,
    body_file: Any,
    as_json: bool,
    **kwargs: Any,
) -> None:
    """Send dead letters back to their queue, confirmed before each row is marked replayed."""
    store = open_store(ctx)
    rows = _resolve(store, ids, group, kwargs, ("dead",))
    body = _edited_body(rows, edit, body_file)
    if dry_run:
        for r in rows:
            exchange, key = route(r, to_queue)
            click.echo(
                f"would replay #{r.id} ({len(r.body)} bytes) to exchange {exchange!r} key {key!r}"
            )
        click.echo(f"dry run: {len(rows)} dead letters would be replayed; nothing was sent")
        return
    confirm(len(rows), "Replay", yes)
    settings = settings_from(ctx)
    options = ReplayOptions(
        by=_who(by),
        to_queue=to_queue,
        body=body,
        rate=rate,
        connect_timeout=settings.broker.connect_timeout,
        confirm_timeout=settings.broker.confirm_timeout,
    )
    report = _run_with_progress(store, settings.broker.url.get_secret_value(), rows, options)
    _print_report(report, as_json)


def _run_with_progress(
    store: DeadLetterStore, broker_url: str, rows: list[DeadLetter], options: ReplayOptions
) -> ReplayReport:
    ids = [r.id for r in rows]
    if len(ids) == 1:
        return run_replay(store, broker_url, ids, options)
    with Progress(console=err_console, transient=True) as progress:
        task = progress.add_task("replaying", total=len(ids))
        return run_replay(store, broker_url, ids, options, lambda n: progress.advance(task, n))


def _print_report(report: ReplayReport, as_json: bool) -> None:
    if as_json:
        click.echo(
            dumps({"replayed": report.replayed, "skipped": report.skipped, "failed": report.failed})
        )
    else:
        click.echo(f"replayed {len(report.replayed)} dead letters")
        if report.skipped:
            click.echo(
                f"skipped {len(report.skipped)}: already replayed or claimed by another operator"
            )
        for row_id, why in sorted(report.failed.items()):
            err_console.print(f"#{row_id} not replayed: {why}")
    if report.failed:
        fail(
            f"{len(report.failed)} dead letters were not replayed; they stay dead",
            exitcodes.RET_PUBLISH,
        )
    if not report.replayed and report.skipped:
        fail("nothing replayed: every row was taken by another operator", exitcodes.RET_CONFLICT)


def _edited_body(rows: list[DeadLetter], edit: bool, body_file: Any) -> bytes | None:
    """The replacement body, validated as JSON when the original was JSON."""
    if not edit and body_file is None:
        return None
    if len(rows) != 1:
        fail(
            "--edit and --body-file replay exactly one dead letter; give one id",
            exitcodes.RET_USAGE,
        )
    row = rows[0]
    if body_file is not None:
        body: bytes = body_file.read()
    else:
        edited = click.edit(row.body.decode("utf-8", errors="surrogateescape"), extension=".json")
        if edited is None:
            fail("the body was not changed; nothing replayed", exitcodes.RET_ABORTED)
            return None
        body = edited.encode("utf-8", errors="surrogateescape")
    if _is_json(row.body, row.content_type):
        try:
            json.loads(body)
        except ValueError as exc:
            fail(
                f"the edited body is not valid JSON ({exc}); nothing replayed", exitcodes.RET_USAGE
            )
    return body


def _is_json(body: bytes, content_type: str | None) -> bool:
    if content_type and "json" in content_type:
        return True
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


@click.command("discard")
@functools.partial(_selection_options, reason_flag="--failure-reason")
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
    rows = _resolve(store, ids, group, kwargs, ("dead",))
    if dry_run:
        click.echo(f"dry run: {len(rows)} dead letters would be discarded: {_ids(rows)}")
        return
    confirm(len(rows), "Discard", yes)
    changed = store.discard([r.id for r in rows], _who(by), discard_reason)
    click.echo(f"discarded {changed} dead letters")


@click.command("restore")
@_selection_options
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
    rows = _resolve(store, ids, group, kwargs, ("discarded", "replaying"))
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
