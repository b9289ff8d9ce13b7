"""Empty databases for tests: SQLite files by default, or new PostgreSQL databases
on the server named by TEST_DATABASE_URL (the whole suite then runs on it)."""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from database import sync_url

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")


@contextmanager
def fresh_database(directory: Path) -> Iterator[str]:
    """The URL of a new, empty database, dropped afterwards."""
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{directory / 'test.db'}"
        return
    server = sync_url(TEST_DATABASE_URL)
    name = f"inkwell_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT", poolclass=None)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
