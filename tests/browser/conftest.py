"""Browser tests: a live Inkwell in a subprocess, driven by Debian's Chromium."""

import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from tests.live_server import LiveServer
from tests.mail_server import SMTPServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def server_pool(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    smtp_server: SMTPServer,
) -> Iterator[Callable[[], LiveServer]]:
    """Hands out fresh servers, which mail to the test SMTP server; while one module
    runs, the next one's server starts (importing the app takes seconds), but only as
    many as the session will use."""
    # Modules with a live_server fixture of their own (other settings) start their own.
    modules = {
        item.module
        for item in request.session.items
        if "live_server" in item.fixturenames and not hasattr(item.module, "live_server")
    }
    remaining = len(modules)
    spare: list[LiveServer] = []

    def start() -> LiveServer:
        # Called localhost, not 127.0.0.1: WebAuthn (passkeys) refuses IP addresses.
        return LiveServer(
            tmp_path_factory.mktemp("browser"), smtp_port=smtp_server.port, name="localhost"
        )

    def take() -> LiveServer:
        nonlocal remaining
        server = spare.pop() if spare else start()
        remaining -= 1
        if remaining > 0:
            spare.append(start())
        return server

    yield take
    for server in spare:
        server.stop()


@pytest.fixture(scope="module")
def live_server(server_pool: Callable[[], LiveServer]) -> Iterator[str]:
    """A live Inkwell with a fresh database for each test module."""
    server = server_pool()
    try:
        yield server.wait_until_ready()
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"browser tests need Debian's Chromium at {CHROMIUM}: apt-get install chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@dataclass
class ConsoleWatch:
    """Console errors and uncaught page errors, minus the ones a test expects."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} @ {message.location.get('url')}")

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"pageerror: {error}")

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def console() -> ConsoleWatch:
    return ConsoleWatch()


@pytest.fixture
def new_page(
    browser: Browser, live_server: str, console: ConsoleWatch
) -> Iterator[Callable[[], Page]]:
    """Open pages, each in its own context (its own localStorage: a separate person)."""
    contexts: list[BrowserContext] = []

    def open_page() -> Page:
        context = browser.new_context(base_url=live_server)
        context.set_default_timeout(5_000)
        contexts.append(context)
        page = context.new_page()
        page.on("console", console.on_console)
        page.on("pageerror", console.on_page_error)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert console.unexpected() == []


@pytest.fixture
def page(new_page: Callable[[], Page]) -> Page:
    return new_page()


@pytest.fixture
def api(live_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server, timeout=10) as client:
        yield client
