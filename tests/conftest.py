"""Shared fixtures: a fresh database per test, an app on it, its mail, and accounts.
The helpers they use (and tests call) are in tests/helpers.py."""

import os
import secrets
from collections.abc import Iterator

# Before the app is imported: tests never read or create the developer's key file.
os.environ["SECRET_KEY"] = secrets.token_urlsafe(64)
# Tests sign many accounts up from one client (TestClient's, or 127.0.0.1 for live
# servers); the per-client limit is tested where it is set back (test_mail_limits.py).
os.environ.setdefault("SIGNUPS_PER_HOUR", "1000000")

import pytest
from fastapi.testclient import TestClient

from config import get_settings
from main import app
from tests.databases import fresh_database
from tests.helpers import FAST_ARGON2, Account, make_account
from tests.mail_server import Mailbox, SMTPServer


@pytest.fixture(autouse=True)
def fast_argon2(request, monkeypatch) -> None:
    """Argon2 at its cheapest, so hundreds of sign-ups stay fast: same code, lighter
    parameters, taken by the apps the test starts. Tests about hashing cost itself
    are marked `real_hashing`."""
    if request.node.get_closest_marker("real_hashing") is None:
        for name, value in FAST_ARGON2.items():
            monkeypatch.setattr(get_settings(), name, value)


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SMTPServer]:
    """One real SMTP server (aiosmtpd) for the whole run, in this process."""
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp_server: SMTPServer, monkeypatch) -> Iterator[Mailbox]:
    """The apps a test starts send their mail to the test SMTP server; this is what it
    received (empty at the start of each test)."""
    monkeypatch.setattr(get_settings(), "smtp_host", "127.0.0.1")
    monkeypatch.setattr(get_settings(), "smtp_port", smtp_server.port)
    monkeypatch.setattr(get_settings(), "smtp_security", "none")
    smtp_server.mailbox.clear()
    yield smtp_server.mailbox
    if not smtp_server.running:  # a test that stopped it (an outage) and failed
        smtp_server.start()


@pytest.fixture
def database_url(tmp_path) -> Iterator[str]:
    """A database of this test's own, a copy of one migrated once per process."""
    with fresh_database(tmp_path, migrated=True) as url:
        yield url


@pytest.fixture
def client(database_url, monkeypatch, mailbox) -> Iterator[TestClient]:
    """A client for an app on `database_url` (start-up only checks that its schema is
    current), sending mail to `mailbox`."""
    monkeypatch.setattr(get_settings(), "database_url", database_url)
    monkeypatch.setattr(get_settings(), "auto_migrate", False)
    # https, as in production: the refresh cookie is Secure there.
    with TestClient(app, base_url="https://testserver") as test_client:
        yield test_client


@pytest.fixture
def alice(client: TestClient) -> Account:
    return make_account(client, "Alice")


@pytest.fixture
def bob(client: TestClient) -> Account:
    return make_account(client, "Bob")
