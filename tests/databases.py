"""Empty databases for tests: SQLite files by default, or new PostgreSQL databases
on the server named by TEST_DATABASE_URL (the whole suite then runs on it).

Most tests want the schema already in place: `fresh_database(..., migrated=True)`
copies a database migrated once per test process (a file copy on SQLite, `CREATE
DATABASE ... TEMPLATE` on PostgreSQL) instead of running every migration for every test.

Under pytest-xdist every worker is a process of its own: it migrates its own template
and names its PostgreSQL databases after itself (`inkwell_gw0_...`), so workers sharing
one server never touch each other's databases, and a leftover is traceable to its run.
"""

import atexit
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from sqlalchemy import create_engine, text

from database import sync_url, upgrade_to_head

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
# "gw0", "gw1", ... under pytest-xdist; "main" without it.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_RUN = uuid.uuid4().hex[:8]  # this process's run: two runs may share one server


def _database_name(kind: str) -> str:
    return f"inkwell_{WORKER}_{_RUN}_{kind}"


def _migrate(database_url: str) -> None:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.begin() as connection:
            upgrade_to_head(connection)
    finally:
        engine.dispose()


def _admin():
    return create_engine(sync_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT")


@cache
def _migrated_template() -> str:
    """A database at the newest migration, made on first use by this process and
    removed at its exit: the SQLite file's path, or the PostgreSQL database's name."""
    if not TEST_DATABASE_URL:
        directory = Path(tempfile.mkdtemp(prefix=f"inkwell-template-{WORKER}-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        path = directory / "template.db"
        _migrate(f"sqlite:///{path}")
        return str(path)
    name = _database_name("template")
    admin = _admin()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    _migrate(sync_url(TEST_DATABASE_URL).set(database=name).render_as_string(False))

    def drop() -> None:
        engine = _admin()
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()

    atexit.register(drop)
    return name


@contextmanager
def fresh_database(directory: Path, *, migrated: bool = False) -> Iterator[str]:
    """The URL of a new database, dropped afterwards: empty, or at the newest
    migration when `migrated`."""
    if not TEST_DATABASE_URL:
        path = directory / f"test-{uuid.uuid4().hex[:12]}.db"  # several in one directory
        if migrated:
            shutil.copyfile(_migrated_template(), path)
            path.chmod(0o600)  # as the app makes its own (database.private_sqlite_file)
        yield f"sqlite:///{path}"
        return
    server = sync_url(TEST_DATABASE_URL)
    name = _database_name(uuid.uuid4().hex[:12])
    template = f' TEMPLATE "{_migrated_template()}"' if migrated else ""
    admin = _admin()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"{template}'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
