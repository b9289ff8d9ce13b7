"""The async engine, the per-request session, and the schema's migrations.

SQLite is the embedded default (through aiosqlite) and PostgreSQL the scale-out
option (through psycopg 3): both are driven asynchronously, so a slow query or a
busy lock never blocks the event loop.
"""

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import stat
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import cache
from typing import Annotated, Any, cast

import sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import Depends, Request
from sqlalchemy import Connection, CursorResult, Engine, Executable, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from config import BASE_DIR, get_settings
from web import inline_sqlite

logger = logging.getLogger("inkwell")

# How long a SQLite writer waits for another one to finish before giving up.
SQLITE_BUSY_TIMEOUT_MS = 10_000
# The SQLite file holds password hashes, sessions and queued mail: its owner's only,
# as `.secret_key` is. SQLite gives the -wal and -shm files it makes the same mode.
PRIVATE_FILE_MODE = 0o600
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


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
    """An engine whose pool never makes a request wait long: connections go back as
    soon as a route is done (see `get_session`), and a request that still finds none
    free within `database_pool_timeout` gets a quick 503 (see main.py)."""
    url = async_url(database_url)
    settings = get_settings()
    pool = {
        "pool_size": settings.database_pool_size,
        "max_overflow": settings.database_max_overflow,
        "pool_timeout": settings.database_pool_timeout,
    }
    if url.get_backend_name() != "sqlite":
        # A server restart leaves every pooled connection dead: test each one as it is
        # taken (a round trip, only at checkout) rather than fail one request per connection.
        return create_async_engine(url, pool_pre_ping=True, **pool)
    path = url.database or ":memory:"

    async def connect() -> inline_sqlite.Connection:
        private_sqlite_file(path)
        return await inline_sqlite.connect(path)

    engine = create_async_engine(url, async_creator=connect, **pool)
    event.listen(engine.sync_engine, "connect", _configure_sqlite)
    return engine


def create_sync_engine(database_url: str) -> Engine:
    """The same database through a blocking driver, for Alembic's command line: the
    SQLite file is made private and configured as the app's own connections are."""
    url = sync_url(database_url)
    engine = sqlalchemy.create_engine(url)
    if url.get_backend_name() == "sqlite":
        path = url.database or ":memory:"
        # Before each connection is opened; returning None lets SQLAlchemy open it.
        event.listen(engine, "do_connect", lambda *_: private_sqlite_file(path))
        event.listen(engine, "connect", _configure_sqlite)
    return engine


def private_sqlite_file(path: str) -> None:
    """Make the SQLite file at `path` readable by its owner only: create it 0600 if it
    is missing, before SQLite does (SQLite would make it 0644 under the usual umask,
    and gives its -wal and -shm files the main file's mode), and take group and other
    access away from it and its companions if an older start left them looser.

    Every connection Inkwell opens to the file comes through here first: the engine's
    pool, Alembic's command line (`create_sync_engine`) and web/hot_reads.py's own.
    """
    if path in ("", ":memory:"):
        return
    with contextlib.suppress(FileExistsError, FileNotFoundError):  # no directory: SQLite says so
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        os.fchmod(fd, PRIVATE_FILE_MODE)  # whatever the umask
        os.close(fd)
    for name in (path, *(path + suffix for suffix in SQLITE_COMPANIONS)):
        try:
            mode = stat.S_IMODE(os.stat(name).st_mode)
            if mode & 0o077:
                os.chmod(name, mode & 0o700)
                logger.warning("%s was readable by others: now %o (owner only)", name, mode & 0o700)
        except FileNotFoundError:
            continue
        except PermissionError:  # another user's file: say so, SQLite may still open it
            logger.warning("%s is readable by others and not ours to change", name)


async def checkpoint_sqlite(engine: AsyncEngine) -> None:
    """Copy SQLite's write-ahead log into the database file and empty it, so rows just
    deleted (delivered mail) linger in neither: `secure_delete` has zeroed them in the
    pages the log carries. In a thread, on a connection of its own: it syncs the file
    to disk (about 10 ms here), which the event loop must not wait for. It never waits
    on a lock: if a reader is still on an older snapshot (a request, or a background
    job's read every few seconds), it copies what it can and tries again shortly, a few
    times, then leaves the rest to the next checkpoint. PostgreSQL: nothing to do."""
    path = engine.url.database
    if engine.url.get_backend_name() == "sqlite" and path not in (None, "", ":memory:"):
        await asyncio.to_thread(_truncate_wal, path)


# A checkpoint that met a reader is tried again this many times, this far apart.
CHECKPOINT_ATTEMPTS = 20
CHECKPOINT_RETRY_SECONDS = 0.05


def _truncate_wal(path: str) -> None:
    private_sqlite_file(path)
    connection = sqlite3.connect(path, timeout=0)  # busy: give up at once
    try:
        for _attempt in range(CHECKPOINT_ATTEMPTS):
            busy, _frames, _copied = connection.execute(
                "PRAGMA wal_checkpoint(TRUNCATE)"
            ).fetchone()
            if not busy:
                return
            time.sleep(CHECKPOINT_RETRY_SECONDS)  # in a thread of its own, never the loop's
    finally:
        connection.close()


def _configure_sqlite(dbapi_connection: Any, _connection_record: Any) -> None:
    """Foreign keys for cascades, WAL so readers never wait for the writer, and a
    busy timeout so concurrent writers queue instead of failing with "locked".

    Python's sqlite3 opens a transaction only at the first write, so a write
    transaction takes the write lock at once and waits on the busy timeout, and
    plain reads never hold a snapshot that a later write would have to upgrade.
    `secure_delete` zeroes what a delete frees, so a deleted row (a delivered mail,
    an ended session) does not linger in the file's free space.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


async def rows_changed(session: AsyncSession, statement: Executable) -> int:
    """Run an UPDATE or DELETE; how many rows it changed (a compare-and-set lost to a
    concurrent request changes none)."""
    result = await session.execute(statement)
    return cast(CursorResult[Any], result).rowcount


def is_postgresql(session: AsyncSession) -> bool:
    """Whether `session` talks to PostgreSQL (else SQLite): for the few statements the
    two write differently (locks, upserts)."""
    return session.get_bind().dialect.name == "postgresql"


async def advisory_lock(session: AsyncSession, lock_id: int) -> None:
    """Make transactions that ask for `lock_id` take turns, from here to their commit:
    a PostgreSQL advisory lock. Nothing on SQLite, where the caller's first write
    takes the database's write lock until the commit."""
    if is_postgresql(session):
        await session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": lock_id})


async def lock_account(session: AsyncSession, user_id: int) -> None:
    """Make transactions that change one account's rows take turns, from here to their
    commit, so a cap counted inside them holds (live sessions, passkeys). PostgreSQL
    locks the account's row; on SQLite the caller's first write takes the database's
    write lock, so it must write (or flush) before it counts.

    FOR NO KEY UPDATE, not FOR UPDATE: the lock must not conflict with the KEY SHARE
    lock a row referring to the account takes (a sign-in's security event is inserted
    before its session): with FOR UPDATE, two sign-ins of one account each held KEY
    SHARE and waited for the other's, and PostgreSQL ended one as a deadlock."""
    if is_postgresql(session):
        await session.execute(
            text("SELECT id FROM users WHERE id = :id FOR NO KEY UPDATE"), {"id": user_id}
        )


class Session(AsyncSession):
    """An AsyncSession that ends an open transaction in place when its block ends.

    SQLAlchemy closes a session leaving `async with` in a task of its own, so that
    a cancelled request cannot abandon the close half-way; waiting for that task
    yields to the event loop while the transaction is still open. On SQLite a write
    transaction would keep the database's write lock meanwhile, and a request of
    this process that then waits for the lock blocks the very loop the close needs
    (see web/inline_sqlite.py): ten seconds, then "database is locked". So the rollback
    happens here first, in place, and the shielded close follows.
    """

    async def __aexit__(self, type_: Any, value: Any, traceback: Any) -> None:
        if self.in_transaction():
            await self.rollback()
        await super().__aexit__(type_, value, traceback)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: returning an object after commit must not trigger
    # a lazy reload, which async sessions cannot do implicitly.
    return async_sessionmaker(engine, class_=Session, expire_on_commit=False)


def open_session(request: Request) -> AsyncSession:
    """A database session for this request, to use as `async with open_session(...)`:
    for code that needs one only sometimes (pages render only on a cache miss)."""
    sessionmaker: async_sessionmaker[AsyncSession] = request.state.sessionmaker
    return sessionmaker()


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with open_session(request) as session:
        yield session


# scope="function": the session closes, and its connection goes back to the pool, as
# soon as the route returns, before the response is sent. With the default scope it
# would stay checked out while the response travels, so a few dozen slow readers
# could hold every connection and starve everyone else.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


# What migrations make outside the ORM, which autogenerate must leave alone: search's
# FTS5 table (and FTS5's own tables behind it) on SQLite, its generated column and GIN
# index on PostgreSQL (migration 0012, content/search.py).
_NOT_IN_MODELS = {"column": {"search_vector"}, "index": {"ix_posts_search_vector"}}


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Alembic's `include_name`: False for the schema objects the models do not describe."""
    if name is None:
        return True
    if type_ == "table" and (name == "posts_fts" or name.startswith("posts_fts_")):
        return False
    return name not in _NOT_IN_MODELS.get(type_, set())


@cache
def alembic_config() -> Config:
    return Config(toml_file=BASE_DIR / "pyproject.toml")


def upgrade_to_head(connection: Connection) -> None:
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
    lock_path = f"{url.database}.migrating"
    with os.fdopen(os.open(lock_path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema up to the newest migration."""
    with _migration_lock(engine.url):
        async with engine.begin() as connection:
            await connection.run_sync(upgrade_to_head)
    # On SQLite the migrating connection ran with foreign keys off, a setting that
    # only changes between transactions: close it rather than let it serve requests.
    await engine.dispose()


@cache
def code_revision() -> str | None:
    """The newest migration this code has (read once: the files do not change while
    it runs; reading them costs ~7 ms, which every start-up paid)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def ensure_schema_is_current(engine: AsyncEngine) -> None:
    """Refuse to serve a database whose schema is older than the code."""
    head = code_revision()
    async with engine.connect() as connection:
        current = await connection.run_sync(_revision)
    if current != head:
        raise RuntimeError(
            f"The database schema is at revision {current}, the code needs {head}: "
            "run `uv run alembic upgrade head` first."
        )
