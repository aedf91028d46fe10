"""The schema exists only through Alembic, and both backends go up, down and up again."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import inspect

from workerkit.cli import cli, exitcodes
from workerkit.deadletters.engine import make_engine
from workerkit.deadletters.models import Base
from workerkit.deadletters.query import DeadLetterFilter
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


def test_db_downgrade_asks_first_and_dry_run_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'dl.sqlite3'}"
    upgrade(url)
    store = DeadLetterStore(url)
    try:
        assert store.count(DeadLetterFilter()) == 0  # the table answers
    finally:
        store.close()
    env = {"WORKERKIT_DEADLETTERS_DATABASE_URL": url}
    runner = CliRunner()

    refused = runner.invoke(cli, ["db", "downgrade", "base"], input="n\n", env=env)
    assert refused.exit_code == exitcodes.RET_ABORTED, refused.output
    assert "dead_letters" in _tables(url)

    dry = runner.invoke(cli, ["db", "downgrade", "base", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert f"downgrade from {head_revision()} to base" in dry.output
    assert "dead_letters" in _tables(url)

    done = runner.invoke(cli, ["db", "downgrade", "base", "--yes"], env=env)
    assert done.exit_code == 0, done.output
    assert "dead_letters" not in _tables(url)
