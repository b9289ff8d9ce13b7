"""SQLite for the async engine, with each call made in place instead of on a thread.

SQLAlchemy drives SQLite asynchronously through the aiosqlite dialect, and aiosqlite
hands every DB-API call (cursor, execute, fetch, close, rollback...) to a helper
thread: six thread round trips for one `GET /api/users/me`, which cost five times
the query itself (measured: see the README's performance section). A local SQLite
call takes microseconds and, in WAL mode, a read never waits for a writer, so this
module offers the same awaitable interface but runs `sqlite3` directly.

What keeps that safe: no code awaits anything but the database while it holds a
write transaction (hashing, for one, happens before the transaction opens), so
within a process two write transactions never interleave. Between worker processes
a writer waits on the busy timeout for another's commit, which takes milliseconds.
PostgreSQL does not come here: its driver is asynchronous all the way down.
"""

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, Self


class Cursor:
    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> Self:
        return self

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> Self:
        self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> Self:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(size if size is not None else self.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class Connection:
    """The part of aiosqlite's connection that SQLAlchemy's dialect uses."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        self._connection = connection  # the dialect checks this before commit/rollback

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> Cursor:
        return Cursor(self._conn.cursor())

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()  # a no-op when no transaction is open

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def close(self) -> None:
        self._conn.close()

    def stop(self) -> None:
        self._conn.close()


async def connect(database: str) -> Connection:
    # check_same_thread=False: the start-up migration may run from a worker thread;
    # the pool still hands a connection to one user at a time.
    return Connection(sqlite3.connect(database, check_same_thread=False))
