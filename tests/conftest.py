"""Shared fixtures: a fresh database per test, the settings and apps built on it, its
mail, and accounts. The helpers they use (and tests call) are in tests/helpers.py."""

import os
import secrets
from collections.abc import Callable, Iterator

# Before the app is imported: tests never read or create the developer's key file.
os.environ["SECRET_KEY"] = secrets.token_urlsafe(64)
# Tests sign many accounts up from one client (TestClient's, or 127.0.0.1 for live
# servers); the per-client limit is tested where it is set back (test_mail_limits.py).
os.environ.setdefault("SIGNUPS_PER_HOUR", "1000000")
# Likewise one account writes dozens of posts (pagination, feeds) and the editor's tests
# preview as fast as they type; the limits are tested where they are set back
# (test_post_limits.py).
os.environ.setdefault("POSTS_PER_HOUR", "1000000")
os.environ.setdefault("PREVIEWS_PER_MINUTE", "1000000")

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from config import Settings, use_settings
from main import create_app
from tests.databases import fresh_database
from tests.helpers import FAST_ARGON2, Account, make_account
from tests.mail_server import Mailbox, SMTPServer
from tests.oidc_server import (  # noqa: F401  (fixtures: a real OpenID provider, an app using it)
    oidc_client,
    oidc_provider,
)

# What every test's settings start from: the environment's (SECRET_KEY set above).
BASE_SETTINGS = Settings()


@pytest.fixture(autouse=True)
def pristine_settings(request) -> None:
    """Every test starts from the same settings, whatever an earlier test's app
    installed (`settings` below replaces them for tests that build apps)."""
    changes = {} if request.node.get_closest_marker("real_hashing") else FAST_ARGON2
    use_settings(BASE_SETTINGS.model_copy(update=changes))


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SMTPServer]:
    """One real SMTP server (aiosmtpd) for the whole run, in this process."""
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mailbox(smtp_server: SMTPServer, settings: Settings) -> Iterator[Mailbox]:
    """What the test SMTP server received (empty at the start of each test): the apps
    and senders a test makes send their mail there (`settings`)."""
    smtp_server.mailbox.clear()
    yield smtp_server.mailbox
    if not smtp_server.running:  # a test that stopped it (an outage) and failed
        smtp_server.start()


@pytest.fixture
def database_url(tmp_path) -> Iterator[str]:
    """A database of this test's own, a copy of one migrated once per run."""
    with fresh_database(tmp_path, migrated=True) as url:
        yield url


@pytest.fixture
def settings(request, smtp_server: SMTPServer, database_url: str) -> Settings:
    """The settings of the apps this test builds: its own database (start-up only
    checks that the schema is current), mail to the test SMTP server, Argon2 at its
    cheapest unless the test is marked `real_hashing`, and whatever the test's
    `@pytest.mark.settings(name=value, ...)` says. Also the process's settings from
    here on (config.get_settings), for code a test calls outside an app."""
    changes: dict[str, object] = {
        "database_url": database_url,
        "auto_migrate": False,
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "smtp_security": "none",
    }
    if request.node.get_closest_marker("real_hashing") is None:
        changes |= FAST_ARGON2
    for marker in reversed(list(request.node.iter_markers("settings"))):
        changes |= marker.kwargs
    test_settings = BASE_SETTINGS.model_copy(update=changes)
    use_settings(test_settings)
    return test_settings


@pytest.fixture
def make_app(settings: Settings) -> Callable[..., FastAPI]:
    """Build an app from this test's settings, with `changes` on top."""

    def make(**changes: object) -> FastAPI:
        return create_app(settings.model_copy(update=changes))

    return make


@pytest.fixture
def client(make_app, mailbox) -> Iterator[TestClient]:
    """A client for an app built from the test's settings, sending mail to `mailbox`."""
    # https, as in production: the refresh cookie is Secure there.
    with TestClient(make_app(), base_url="https://testserver") as test_client:
        yield test_client


@pytest.fixture
def alice(client: TestClient) -> Account:
    return make_account(client, "Alice")


@pytest.fixture
def bob(client: TestClient) -> Account:
    return make_account(client, "Bob")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow modules first (those that drive Chromium or start live servers), each
    still in one piece and in its own order: xdist hands files out in this order
    (`--no-loadscope-reorder`), so the long ones start early and the short ones fill
    in at the end, instead of a long one starting last and running alone."""

    def slow(item: pytest.Item) -> bool:
        module = getattr(item, "module", None)
        return "browser" in item.nodeid.split("::")[0] or hasattr(module, "LiveServer")

    items.sort(key=lambda item: not slow(item))
