"""Engine construction and the one error an operator sees when the database is not there.

Both the store and the migrations open engines here so SQLite gets the same pragmas (WAL,
busy timeout: the worker writes from many threads while an operator reads) and PostgreSQL
the same connect timeout everywhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from workerkit.config import mask_url
from workerkit.errors import DatabaseUnavailable

CONNECT_TIMEOUT = 5


def make_engine(database_url: str, *, pool_size: int = 20) -> Engine:
    """An engine safe to share between threads; each caller uses short transactions."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise DatabaseUnavailable(
            f"dead-letter database URL {mask_url(database_url)} is not a valid SQLAlchemy URL"
        ) from None
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            try:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise unavailable(database_url, exc) from exc
        engine = create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, connect_args={"timeout": 30}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql":
        connect_args["connect_timeout"] = CONNECT_TIMEOUT
    try:
        url.get_dialect().import_dbapi()
    except NoSuchModuleError:
        raise DatabaseUnavailable(
            f"dead-letter database {mask_url(database_url)}: SQLAlchemy has no such dialect; "
            "use sqlite:///PATH or postgresql+psycopg2://..."
        ) from None
    except ImportError as exc:
        raise DatabaseUnavailable(
            f"dead-letter database {mask_url(database_url)} needs the {exc.name or 'driver'} "
            "package; for postgresql+psycopg2 run: pip install 'workerkit[postgres]'"
        ) from None
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it would double the round trips of every add(); a connection that
        # went stale fails as "invalidated" and the store's retry takes a fresh one.
        pool_recycle=1800,
        connect_args=connect_args,
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def unavailable(database_url: str, exc: BaseException) -> DatabaseUnavailable:
    """One line naming the database (password masked) and what went wrong."""
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    reason = detail[0] if detail else type(exc).__name__
    password = _password(database_url)
    if password:
        reason = reason.replace(password, "***")
    hint = "; create it with: workerkit db upgrade" if missing_schema(exc) else ""
    return DatabaseUnavailable(
        f"dead-letter database {mask_url(database_url)} is unavailable: {reason}{hint}"
    )


def missing_schema(exc: BaseException) -> bool:
    """The table is not there: retrying cannot help, ``workerkit db upgrade`` can."""
    text = str(getattr(exc, "orig", exc))
    return "no such table" in text or ("dead_letters" in text and "does not exist" in text)


def _password(database_url: str) -> str | None:
    try:
        return make_url(database_url).password
    except ArgumentError:
        return None


def is_transient(exc: BaseException) -> bool:
    """Connection-level failures are worth a retry; constraint or data errors are not."""
    if not isinstance(exc, DBAPIError):
        return False
    if missing_schema(exc):
        return False
    if exc.connection_invalidated:
        return True
    name = type(exc.orig).__name__ if exc.orig is not None else ""
    return name in {"OperationalError", "InterfaceError"}
