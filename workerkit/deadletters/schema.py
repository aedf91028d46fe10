"""Upgrade, downgrade and inspect the dead-letter schema through Alembic's API.

The migrations ship inside the package (``workerkit/deadletters/migrations``) so an installed
workerkit can migrate its own table without a checkout; the Alembic config is built here in
code, with the URL passed in memory rather than written to an ini file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from workerkit.deadletters.engine import make_engine, unavailable

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    assert head is not None, "the migrations directory has no revisions"
    return head


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def current_state(engine: Engine) -> SchemaState:
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    return SchemaState(current=current, head=head_revision())


def _run(database_url: str, action: str, revision: str) -> None:
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as conn:
            config = alembic_config(database_url)
            config.attributes["connection"] = conn
            getattr(command, action)(config, revision)
    except DBAPIError as exc:
        raise unavailable(database_url, exc) from exc
    finally:
        engine.dispose()


def upgrade(database_url: str, revision: str = "head") -> None:
    """Apply migrations up to ``revision``; raises DatabaseUnavailable if unreachable."""
    _run(database_url, "upgrade", revision)


def downgrade(database_url: str, revision: str) -> None:
    """Revert migrations down to ``revision`` (``base`` drops the table)."""
    _run(database_url, "downgrade", revision)
