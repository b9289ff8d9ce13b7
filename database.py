"""The async engine and the per-request session.

SQLite is the embedded default (through aiosqlite) and PostgreSQL the scale-out
option (through psycopg 3): both are driven asynchronously, so a slow query or a
busy lock never blocks the event loop.
"""

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

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


def create_engine(database_url: str) -> AsyncEngine:
    url = async_url(database_url)
    engine = create_async_engine(url)
    if url.get_backend_name() == "sqlite":
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
