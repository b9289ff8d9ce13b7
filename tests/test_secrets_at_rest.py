"""Secrets at rest: the SQLite files are their owner's only, and a mailed link's
token is never readable in the database, neither while its mail waits in the outbox
(stored encrypted) nor after it went out (deleted, zeroed, the log checkpointed)."""

import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import make_url

from config import get_settings
from database import _configure_sqlite, create_sync_engine
from mailing import outbox
from models import OutboxMessage
from tests.databases import TEST_DATABASE_URL, fresh_database
from tests.helpers import make_account
from tests.mail_server import Mailbox

sqlite_only = pytest.mark.skipif(bool(TEST_DATABASE_URL), reason="about SQLite's files")
FILES = ("", "-wal", "-shm")


@contextmanager
def usual_umask() -> Iterator[None]:
    """The umask most systems give (022): files are made 0644 unless asked otherwise."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def modes(path: Path) -> dict[str, int]:
    """The permission bits of the database file and its -wal and -shm, as they are."""
    found = {}
    for suffix in FILES:
        with_suffix = Path(f"{path}{suffix}")
        if with_suffix.exists():
            found[suffix] = stat.S_IMODE(with_suffix.stat().st_mode)
    return found


@sqlite_only
def test_a_new_database_and_its_wal_and_shm_are_readable_by_their_owner_only(
    tmp_path, make_app, mailbox
):
    path = tmp_path / "blog.db"
    app = make_app(database_url=f"sqlite:///{path}", auto_migrate=True)
    with usual_umask(), TestClient(app, base_url="https://testserver") as client:
        make_account(client, "Alice")  # writes: the log and its index are in use
        found = modes(path)
    assert found == {"": 0o600, "-wal": 0o600, "-shm": 0o600}
    assert stat.S_IMODE(Path(f"{path}.migrating").stat().st_mode) == 0o600


@sqlite_only
def test_an_existing_readable_database_is_made_private_at_start_up(tmp_path, make_app, mailbox):
    with usual_umask(), fresh_database(tmp_path, migrated=True) as database_url:
        path = Path(make_url(database_url).database)
        path.chmod(0o644)
        # As an older Inkwell left it: written through its log, which SQLite made 0644.
        older = sqlite3.connect(path)
        try:
            older.execute("PRAGMA journal_mode=WAL")
            older.execute("UPDATE content_version SET version = version")
            older.commit()
            assert modes(path) == {"": 0o644, "-wal": 0o644, "-shm": 0o644}
            with TestClient(make_app(database_url=database_url), base_url="https://testserver"):
                assert modes(path) == {"": 0o600, "-wal": 0o600, "-shm": 0o600}
        finally:
            older.close()


def test_every_connection_zeroes_what_it_deletes(tmp_path):
    """secure_delete is a per-connection setting, and most SQLite builds ship it off
    (Debian's has it on): Inkwell turns it on for each connection it opens."""
    connection = sqlite3.connect(tmp_path / "any.db")
    try:
        connection.execute("PRAGMA secure_delete=OFF")
        _configure_sqlite(connection, None)
        assert connection.execute("PRAGMA secure_delete").fetchone() == (1,)
    finally:
        connection.close()


def _queued_messages(recipient: str) -> list[OutboxMessage]:
    """The outbox's rows to `recipient` that a sender has tried, read apart from the app."""
    engine = create_sync_engine(get_settings().database_url)
    try:
        with engine.connect() as connection:
            query = select(OutboxMessage.message).where(
                OutboxMessage.recipient == recipient, OutboxMessage.attempts > 0
            )
            return list(connection.scalars(query))
    finally:
        engine.dispose()


def _outbox_is_empty() -> bool:
    engine = create_sync_engine(get_settings().database_url)
    try:
        with engine.connect() as connection:
            return connection.scalar(select(OutboxMessage.id).limit(1)) is None
    finally:
        engine.dispose()


def _unfolded(text: bytes) -> bytes:
    """Quoted-printable breaks long lines (`=` CRLF): the token joined up again."""
    return text.replace(b"=\r\n", b"")


def _files_holding(path: Path, *secrets: bytes) -> list[str]:
    """Which of the database's files hold any of `secrets`."""
    holding = []
    for suffix in FILES:
        with_suffix = Path(f"{path}{suffix}")
        content = _unfolded(with_suffix.read_bytes()) if with_suffix.exists() else b""
        if any(secret in content for secret in secrets):
            holding.append(with_suffix.name)
    return holding


def test_a_reset_link_is_never_readable_in_the_database(client, mailbox: Mailbox, monkeypatch):
    """Encrypted while queued; after delivery, not in the database, its log or its
    index either (the scan found 9 reset tokens in `blog.db-wal`)."""
    monkeypatch.setattr(outbox, "FIRST_RETRY_SECONDS", 0.05)
    monkeypatch.setattr(outbox, "MAX_RETRY_SECONDS", 0.2)
    alice = make_account(client, "Alice")
    mailbox.wait_for(alice.email)  # the verification mail, out of the way
    mailbox.refuse = "451 4.3.0 try again later"  # the reset mail waits in the outbox
    assert client.post("/api/users/password-reset", json={"email": alice.email}).status_code == 202
    deadline = time.monotonic() + 10
    while not (queued := _queued_messages(alice.email)):
        assert time.monotonic() < deadline, "the reset mail was never tried"
        time.sleep(0.02)
    mailbox.refuse = None
    token = mailbox.wait_for(alice.email, 2)[-1].token("/reset-password").encode()

    (stored,) = queued
    assert stored.startswith(outbox.SEALED_PREFIX)
    assert token not in _unfolded(stored.encode())
    deadline = time.monotonic() + 10
    while not _outbox_is_empty():  # deleted once accepted
        assert time.monotonic() < deadline, "the delivered mail was not deleted"
        time.sleep(0.02)
    if TEST_DATABASE_URL:
        return
    # The sealed text is gone from the files too (secure_delete, then a checkpoint).
    path = Path(make_url(get_settings().database_url).database)
    sealed = stored.removeprefix(outbox.SEALED_PREFIX)[:64].encode()
    deadline = time.monotonic() + 5
    while holding := _files_holding(path, token, sealed):
        assert time.monotonic() < deadline, f"still in {holding}"
        time.sleep(0.05)
