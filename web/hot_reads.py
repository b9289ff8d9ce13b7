"""The reads that nearly every request makes, run without the ORM.

Checking a bearer token's session (every authenticated request) and reading the
content version (every page view, see web/page_cache.py) are one small SELECT each.
Through an AsyncSession such a SELECT costs ~400 µs of Python on this project's
machine; the same statement through the driver costs ~10 µs on SQLite. So they run
here, as SQLAlchemy Core statements compiled once:

- SQLite: on one connection of the worker's own, in autocommit mode, called in place
  (web/inline_sqlite.py says why a local SQLite call may run on the event loop). In WAL
  mode a read outside a transaction sees every commit made before it, by any
  connection of any process.
- PostgreSQL: on a pooled connection, through Core (one round trip).

Nothing is cached here: every answer is the database's at that moment, so an ended
session or a new post is seen by the very next request, on any worker.
"""

import sqlite3
from collections import namedtuple
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import sqlalchemy.exc
from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncEngine

from database import private_sqlite_file
from models import ContentVersion, PersonalAccessToken, User, UserSession

# A bearer token's session and its user, for auth.py.
SESSION_CHECK = (
    select(
        UserSession.revoked_at,
        UserSession.expires_at,
        UserSession.last_used_at,
        UserSession.authenticated_at,
        *User.__table__.columns,
    )
    .join(User, User.id == UserSession.user_id)
    .where(UserSession.id == bindparam("session_id"), UserSession.user_id == bindparam("user_id"))
)
# A personal access token (by its hash) and its user, for auth.py.
PAT_CHECK = (
    select(
        PersonalAccessToken.id.label("token_id"),
        PersonalAccessToken.name,
        PersonalAccessToken.scopes,
        PersonalAccessToken.expires_at,
        PersonalAccessToken.last_used_at,
        PersonalAccessToken.used_from,
        *User.__table__.columns,
    )
    .join(User, User.id == PersonalAccessToken.user_id)
    .where(PersonalAccessToken.token_hash == bindparam("token_hash"))
)
# The number every page's cache entry and ETag is checked against (web/page_cache.py).
CONTENT_VERSION = select(ContentVersion.version).where(ContentVersion.id == 1)


class HotReads(Protocol):
    async def one(self, statement: Select[Any], **params: object) -> Any | None:
        """The statement's first row (its columns as attributes), or None."""

    def close(self) -> None: ...


class _Prepared(NamedTuple):
    sql: str
    parameter_names: tuple[str, ...]
    defaults: dict[str, Any]  # values written into the statement itself
    processors: tuple[Callable[[Any], Any] | None, ...]
    row: type[Any]  # a namedtuple class


class SQLiteReads:
    """Statements run on a read-only connection of this worker's own."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._dialect = engine.dialect
        path = engine.url.database or ""
        private_sqlite_file(path)
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.execute("PRAGMA query_only=ON")
        self._prepared: dict[Select[Any], _Prepared] = {}

    @property
    def connection(self) -> sqlite3.Connection:
        return self._connection

    def _prepare(self, statement: Select[Any]) -> _Prepared:
        compiled = statement.compile(dialect=self._dialect)
        columns = list(statement.selected_columns)
        return _Prepared(
            sql=str(compiled),
            parameter_names=tuple(compiled.positiontup or ()),
            defaults=compiled.params,
            # The columns' own conversions (SQLite keeps datetimes as text, for one).
            processors=tuple(
                c.type.dialect_impl(self._dialect).result_processor(self._dialect, None)
                for c in columns
            ),
            row=namedtuple("Row", [str(c.key) for c in columns]),
        )

    async def one(self, statement: Select[Any], **params: object) -> Any | None:
        prepared = self._prepared.get(statement)
        if prepared is None:
            prepared = self._prepared[statement] = self._prepare(statement)
        params = prepared.defaults | params
        arguments = [params[name] for name in prepared.parameter_names]
        try:
            values = self._connection.execute(prepared.sql, arguments).fetchone()
        except sqlite3.OperationalError as error:
            # As SQLAlchemy would raise it, so that it is answered like any other
            # database that cannot be used right now (503, see main.py).
            raise sqlalchemy.exc.OperationalError(prepared.sql, arguments, error) from error
        if values is None:
            return None
        return prepared.row._make(
            value if process is None else process(value)
            for process, value in zip(prepared.processors, values, strict=True)
        )

    def close(self) -> None:
        self._connection.close()


class PooledReads:
    """Statements run through Core on a connection from the engine's pool."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def one(self, statement: Select[Any], **params: object) -> Any | None:
        async with self._engine.connect() as connection:
            return (await connection.execute(statement, params)).first()

    def close(self) -> None:
        pass


def hot_reads_for(engine: AsyncEngine) -> HotReads:
    on_disk = engine.url.database not in (None, "", ":memory:")
    if engine.url.get_backend_name() == "sqlite" and on_disk:
        return SQLiteReads(engine)
    return PooledReads(engine)
