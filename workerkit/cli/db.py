"""``workerkit db``: create and upgrade the dead-letter schema through Alembic.

The schema is created by migrations only, never by ``create_all``, so every database
(SQLite file or PostgreSQL) carries an Alembic revision that ``db current`` can report.
"""

from __future__ import annotations

import click
from alembic.util import CommandError
from sqlalchemy.exc import DBAPIError

from workerkit.cli import exitcodes
from workerkit.cli.common import confirm_or_abort, fail, handle_errors, settings_from
from workerkit.config import mask_url
from workerkit.deadletters import schema
from workerkit.deadletters.engine import make_engine, unavailable


def _url(ctx: click.Context) -> str:
    return settings_from(ctx).deadletters.database_url.get_secret_value()


@click.group("db")
def db() -> None:
    """Create, upgrade and inspect the dead-letter database schema."""


def _migrate(ctx: click.Context, action: str, revision: str) -> None:
    url = _url(ctx)
    try:
        getattr(schema, action)(url, revision)
    except CommandError as exc:
        fail(f"cannot {action} to {revision!r}: {exc}", exitcodes.RET_USAGE)
    click.echo(f"{mask_url(url)}: {action} to {revision} done")


@db.command("upgrade")
@click.argument("revision", default="head")
@click.pass_context
@handle_errors
def upgrade(ctx: click.Context, /, revision: str) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    _migrate(ctx, "upgrade", revision)


@db.command("downgrade")
@click.argument("revision")
@click.option("--dry-run", is_flag=True, help="Show what would be done and change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
@handle_errors
def downgrade(ctx: click.Context, /, revision: str, dry_run: bool, yes: bool) -> None:
    """Revert migrations down to REVISION (``base`` drops the dead-letter table and its rows).

    Destructive: asks first unless given --yes.
    """
    url = _url(ctx)
    state = _state(url)
    plan = f"{mask_url(url)}: downgrade from {state.current or 'none'} to {revision}"
    if revision == "base":
        plan += " (drops the dead_letters table and every row in it)"
    if dry_run:
        click.echo(f"dry run: {plan}")
        return
    confirm_or_abort(f"{plan}?", "downgrade", yes)
    _migrate(ctx, "downgrade", revision)


def _state(url: str) -> schema.SchemaState:
    engine = make_engine(url, pool_size=1)
    try:
        return schema.current_state(engine)
    except DBAPIError as exc:
        raise unavailable(url, exc) from exc
    finally:
        engine.dispose()


@db.command("current")
@click.pass_context
@handle_errors
def current(ctx: click.Context) -> None:
    """Show the database's revision and the one this workerkit expects."""
    url = _url(ctx)
    state = _state(url)
    verdict = "up to date" if state.up_to_date else "needs: workerkit db upgrade"
    click.echo(
        f"{mask_url(url)}: revision {state.current or 'none'} (head {state.head}, {verdict})"
    )
