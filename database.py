"""The async engine, the per-request session, and the schema's migrations.

SQLite is the embedded default (through aiosqlite) and PostgreSQL the scale-out
option (through psycopg 3): both are driven asynchronously, so a slow query or a
busy lock never blocks the event loop.
"""

import fcntl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import Depends, Request
from sqlalchemy import Connection, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

import inline_sqlite
from config import BASE_DIR

# How long a SQLite writer waits for another one to finish before giving up.
SQLITE_BUSY_TIMEOUT_MS = 10_000


def async_url(database_url: str) -> URL:
    """Map the plain URLs people write to the async drivers Inkwell ships with."""
    url = make_url(database_url)
    if url.drivername == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


def sync_url(database_url: str) -> URL:
    """The same database through a blocking driver, for Alembic."""
    url = async_url(database_url)
    return url.set(drivername=url.drivername.replace("+aiosqlite", ""))


def create_engine(database_url: str) -> AsyncEngine:
    url = async_url(database_url)
    if url.get_backend_name() != "sqlite":
        return create_async_engine(url)
    path = url.database or ":memory:"
    engine = create_async_engine(url, async_creator=lambda: inline_sqlite.connect(path))
    event.listen(engine.sync_engine, "connect", _configure_sqlite)
    return engine


def _configure_sqlite(dbapi_connection: Any, _connection_record: Any) -> None:
    """Foreign keys for cascades, WAL so readers never wait for the writer, and a
    busy timeout so concurrent writers queue instead of failing with "locked".

    Python's sqlite3 opens a transaction only at the first write, so a write
    transaction takes the write lock at once and waits on the busy timeout, and
    plain reads never hold a snapshot that a later write would have to upgrade.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: returning an object after commit must not trigger
    # a lazy reload, which async sessions cannot do implicitly.
    return async_sessionmaker(engine, expire_on_commit=False)


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


@cache
def alembic_config() -> Config:
    return Config(toml_file=BASE_DIR / "pyproject.toml")


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _migration_lock(url: URL) -> Iterator[None]:
    """Workers of one machine starting together take turns on a SQLite file;
    PostgreSQL uses an advisory lock in migrations/env.py instead."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        yield
        return
    with Path(f"{url.database}.migrating").open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        yield


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema up to the newest migration."""
    with _migration_lock(engine.url):
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade)


async def ensure_schema_is_current(engine: AsyncEngine) -> None:
    """Refuse to serve a database whose schema is older than the code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    async with engine.connect() as connection:
        current = await connection.run_sync(_revision)
    if current != head:
        raise RuntimeError(
            f"The database schema is at revision {current}, the code needs {head}: "
            "run `uv run alembic upgrade head` first."
        )
