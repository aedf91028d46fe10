"""The schema exists only through Alembic, and both backends go up, down and up again."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from workerkit.deadletters.engine import make_engine
from workerkit.deadletters.models import Base
from workerkit.deadletters.schema import current_state, downgrade, head_revision, upgrade
from workerkit.deadletters.store import DeadLetterStore
from workerkit.errors import DatabaseUnavailable

pytestmark = pytest.mark.integration


def _tables(url: str) -> set[str]:
    engine = make_engine(url, pool_size=1)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_migrations_upgrade_from_empty_downgrade_to_base_and_upgrade_again(
    database_url: str,
) -> None:
    assert "dead_letters" not in _tables(database_url)

    upgrade(database_url)
    assert "dead_letters" in _tables(database_url)
    downgrade(database_url, "base")
    assert "dead_letters" not in _tables(database_url)
    upgrade(database_url)

    engine = make_engine(database_url, pool_size=1)
    try:
        assert current_state(engine).current == head_revision()
    finally:
        engine.dispose()


def test_the_model_matches_the_latest_migration(database_url: str) -> None:
    upgrade(database_url)
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        engine.dispose()
    assert diff == []


def test_a_store_on_an_unmigrated_database_says_to_run_db_upgrade(database_url: str) -> None:
    downgrade(database_url, "base")
    store = DeadLetterStore(database_url, pool_size=1)
    try:
        with pytest.raises(DatabaseUnavailable, match="workerkit db upgrade"):
            store.check()
    finally:
        store.close()
        upgrade(database_url)
