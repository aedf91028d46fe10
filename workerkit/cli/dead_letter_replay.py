"""``workerkit dead-letters replay``: send dead letters back, confirmed, with progress.

The publishing itself is :mod:`workerkit.deadletters.replay`; this module chooses the rows,
handles ``--edit``/``--body-file``, asks before bulk work and reports what happened.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.progress import Progress

from workerkit.cli import exitcodes
from workerkit.cli.common import err_console, fail, handle_errors, settings_from
from workerkit.cli.dead_letter_options import (
    confirm,
    open_store,
    operator,
    resolve_rows,
    selection_options,
)
from workerkit.cli.dead_letter_views import dumps
from workerkit.deadletters.message import route
from workerkit.deadletters.models import DeadLetter
from workerkit.deadletters.replay import ReplayOptions, ReplayReport
from workerkit.deadletters.replay import replay as run_replay
from workerkit.deadletters.store import DeadLetterStore


@click.command("replay")
@selection_options
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
    rows = resolve_rows(store, ids, group, kwargs, ("dead",))
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
        by=operator(by),
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
