"""What the dead-letter commands share: time arguments, filter options, choosing rows.

Every command that selects rows takes the same options and turns them into one
:class:`DeadLetterFilter`, so ``replay --queue orders`` sends exactly what ``list --queue
orders`` showed.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import click

from workerkit.cli import exitcodes
from workerkit.cli.common import confirm_or_abort, err_console, fail, settings_from
from workerkit.deadletters.models import REASONS, STATUSES, DeadLetter
from workerkit.deadletters.query import DeadLetterFilter
from workerkit.deadletters.store import DeadLetterStore

F = TypeVar("F", bound=Callable[..., Any])

_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``30d``, ``1w``, or combined like ``1h30m``."""
    compact = text.strip().lower()
    if not compact or _PART.sub("", compact):
        raise ValueError(f"{text!r} is not a duration; use forms like 90s, 15m, 2h, 30d or 1h30m")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in _PART.findall(compact)))


class Duration(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, timedelta):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class When(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    """A moment: a duration back from now (``2h``) or an ISO time (UTC when no zone is given)."""

    name = "WHEN"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.now(UTC) - parse_duration(str(value))
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(
                f"{value!r} is neither a duration (2h, 30d) nor an ISO time (2026-05-01T12:00)",
                param,
                ctx,
            )
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def filter_options(fn: F, *, reason_flag: str = "--reason") -> F:
    """The selection options shared by list, groups, replay, discard, restore, export, stats.

    ``discard`` takes ``--reason`` for its own note, so it renames the failure-reason filter.
    """
    options = [
        click.option("--queue", help="Only this queue."),
        click.option("--consumer", help="Only this consumer."),
        click.option("--error-type", help="Only this error type, e.g. builtins.KeyError."),
        click.option(
            "--status",
            "statuses",
            multiple=True,
            type=click.Choice(STATUSES),
            help="Only these statuses (repeatable).",
        ),
        click.option(
            reason_flag, "reason", type=click.Choice(REASONS), help="Only this failure reason."
        ),
        click.option(
            "--since", type=When(), help="Dead-lettered at or after: 2h, 30d or ISO time."
        ),
        click.option("--until", type=When(), help="Dead-lettered before: 2h, 30d or ISO time."),
        click.option("--search", help="Text the error message contains (case-insensitive)."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def selection(
    kwargs: dict[str, Any],
    *,
    ids: Sequence[int] = (),
    fingerprint: str | None = None,
    limit: int | None = None,
    default_statuses: Sequence[str] = (),
) -> DeadLetterFilter:
    """Build the filter from the options above; ``default_statuses`` apply if none was given."""
    return DeadLetterFilter(
        ids=tuple(ids),
        queue=kwargs.get("queue"),
        consumer=kwargs.get("consumer"),
        error_type=kwargs.get("error_type"),
        statuses=tuple(kwargs.get("statuses") or default_statuses),
        reason=kwargs.get("reason"),
        fingerprint=fingerprint,
        since=kwargs.get("since"),
        until=kwargs.get("until"),
        search=kwargs.get("search"),
        limit=limit,
    )


def open_store(ctx: click.Context) -> DeadLetterStore:
    """A store whose database answers and is migrated, or one clear line and RET_DATABASE."""
    settings = settings_from(ctx)
    store = DeadLetterStore(settings.deadletters.database_url.get_secret_value(), pool_size=2)
    store.check()
    ctx.call_on_close(store.close)
    return store


def confirm(count: int, what: str, yes: bool, *, even_one: bool = False) -> None:
    """More than one row needs ``--yes`` or an interactive yes; a refusal exits RET_ABORTED."""
    if count <= 1 and not even_one:
        return
    confirm_or_abort(f"{what} {count} dead letters?", f"{what.lower()} of {count} rows", yes)


def operator(by: str | None) -> str:
    """Who acts, recorded on the row: ``--by`` or the OS user, never empty."""
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry and no $USER
        return "unknown"


def resolve_rows(
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


def selection_options(fn: Any, reason_flag: str = "--reason") -> Any:
    """Ids, ``--group``, the filters, ``--dry-run`` and ``--yes``: how actions pick rows."""
    fn = filter_options(fn, reason_flag=reason_flag)
    fn = click.option("--group", metavar="FINGERPRINT", help="Every row of one failure group.")(fn)
    fn = click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing.")(fn)
    fn = click.option(
        "--yes", "-y", is_flag=True, help="Do not ask before acting on several rows."
    )(fn)
    return click.argument("ids", nargs=-1, type=int)(fn)
