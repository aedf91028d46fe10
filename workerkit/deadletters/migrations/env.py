"""Alembic environment for the dead-letter table.

The database URL never lives in alembic.ini: ``workerkit db`` passes it in
``config.attributes["database_url"]``, and a bare ``alembic`` command falls back to the
workerkit settings (TOML file or ``WORKERKIT_DEADLETTERS_DATABASE_URL``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from workerkit.config import Settings
from workerkit.deadletters.models import Base

config = context.config


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if url is None:
        url = Settings.load().deadletters.database_url.get_secret_value()
    return str(url)


def _batch(url: str) -> bool:
    # SQLite cannot ALTER most things in place; batch mode rebuilds tables for later revisions.
    return url.startswith("sqlite")


def run_offline() -> None:
    url = _database_url()
    context.configure(
        url=url, literal_binds=True, target_metadata=Base.metadata, render_as_batch=_batch(url)
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    url = _database_url()
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=Base.metadata, render_as_batch=_batch(url)
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(
            connection=conn, target_metadata=Base.metadata, render_as_batch=_batch(url)
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
