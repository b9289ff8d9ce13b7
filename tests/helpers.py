"""The one set of helpers every test uses: signing up, logging in (through the API, by a
token in the browser, or through the login form), writing posts and reaching the
database behind a TestClient's app.

Both kinds of client work: FastAPI's `TestClient` (API tests) and an `httpx.Client`
pointed at a live server (browser tests), since both are httpx clients."""

import itertools
import re
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from playwright.sync_api import Page, expect
from sqlalchemy import Executable, create_engine, func, select, text

from config import Settings, get_settings, use_settings
from database import sync_url
from models import OutboxMessage

STRONG_PASSWORD = "Tr0ub4dor&3-horse-battery"
# Argon2 at its cheapest, for every app a test starts (in process or a live server):
# the same code, lighter parameters. Tests about the cost itself use the real ones.
FAST_ARGON2 = {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1}

_counter = itertools.count(1)


def unique(prefix: str) -> str:
    """A name no other test in this run uses (a live server's database outlives a test)."""
    return f"{prefix}{next(_counter)}{secrets.token_hex(2)}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Account:
    """An account made by `sign_up`; `token` is set once it has logged in."""

    id: int
    username: str
    email: str
    password: str = STRONG_PASSWORD
    token: str = ""

    @property
    def headers(self) -> dict[str, str]:
        assert self.token, f"{self.username} has not logged in"
        return bearer(self.token)


# --- Through the API ----------------------------------------------------------------


def register(
    client: httpx.Client, username: str, email: str, password: str = STRONG_PASSWORD
) -> httpx.Response:
    """The sign-up request itself, answer unchecked (for tests of that answer)."""
    return client.post(
        "/api/users", json={"username": username, "email": email, "password": password}
    )


def login(client: httpx.Client, email: str, password: str = STRONG_PASSWORD) -> httpx.Response:
    """The login request itself, answer unchecked (for tests of that answer)."""
    return client.post("/api/users/token", data={"username": email, "password": password})


def sign_up(
    client: httpx.Client,
    username: str | None = None,
    email: str | None = None,
    password: str = STRONG_PASSWORD,
) -> Account:
    """A new account, not logged in anywhere: a unique name unless given, and an
    address made from the name unless given."""
    username = username or unique("writer")
    email = email or f"{username.lower()}@example.com"
    created = register(client, username, email, password)
    assert created.status_code == 201, created.text
    return Account(created.json()["id"], username, email, password)


def log_in(client: httpx.Client, account: Account) -> Account:
    """Logs `account` in through the API (a new session) and keeps its access token."""
    response = login(client, account.email, account.password)
    assert response.status_code == 200, response.text
    account.token = response.json()["access_token"]
    return account


def make_account(
    client: httpx.Client, username: str | None = None, email: str | None = None
) -> Account:
    """A new account, logged in through the API."""
    return log_in(client, sign_up(client, username, email))


def create_post(
    client: httpx.Client,
    author: Account,
    title: str = "Hello",
    content: str = "World",
    **fields: Any,
) -> dict[str, Any]:
    """A post by `author` (published, unless `fields` say status="draft" or publish_at=...)."""
    body = {"title": title, "content": content} | fields
    response = client.post("/api/posts", json=body, headers=author.headers)
    assert response.status_code == 201, response.text
    return response.json()


# --- In the browser -----------------------------------------------------------------


def sign_in(page: Page, account: Account) -> None:
    """Logged in without the form: the account's token (from `make_account`) put where
    auth.js keeps it. No refresh cookie: for that, log in through the form."""
    page.goto("/login")
    page.evaluate("token => localStorage.setItem('access_token', token)", account.token)


def fill_login_form(page: Page, email: str, password: str) -> None:
    """The login form, filled in and sent (the page must be showing it)."""
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def log_in_through_form(page: Page, account: Account, path: str = "/") -> None:
    """Logged in as a person would: /login?next=`path`, the form, then on to `path`
    as that user (the session's refresh cookie included)."""
    page.goto(f"/login?next={path}")
    fill_login_form(page, account.email, account.password)
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    expect(page.locator("#nav-username")).to_have_text(account.username)


def wait_in_page(page: Page, script: str, arg: Any = None, seconds: float = 5.0) -> None:
    """A bounded wait for something to happen in the page: `script`, a function, is
    evaluated until it returns true. (Playwright's wait_for_function sends a string to
    evaluate, which the pages' Content-Security-Policy refuses while it is false.)"""
    deadline = time.monotonic() + seconds
    while not page.evaluate(script, arg):
        assert time.monotonic() < deadline, f"never true in the page: {script}"
        page.wait_for_timeout(20)


# --- The database behind a TestClient's app -----------------------------------------


def run_sql(client: Any, statement: Executable | str, **params: object) -> None:
    """A statement sent straight to the app's database and committed, as a seed script
    or an operator would (text SQL takes `params`)."""
    if isinstance(statement, str):
        statement = text(statement)

    async def execute() -> None:
        async with client.app_state["sessionmaker"]() as session:
            await session.execute(statement, params)
            await session.commit()

    client.portal.call(execute)


def scalar(client: Any, statement: Executable) -> Any:
    """One value read from the app's database (e.g. a count)."""

    async def read() -> Any:
        async with client.app_state["sessionmaker"]() as session:
            return await session.scalar(statement)

    return client.portal.call(read)


# --- Many at once -------------------------------------------------------------------


def statuses_in_parallel(call: Callable[[], httpx.Response], times: int) -> list[int]:
    """`call()` made `times` times at once (a thread each); the status codes, sorted."""
    with ThreadPoolExecutor(max_workers=times) as pool:
        return sorted(response.status_code for response in pool.map(lambda _: call(), range(times)))


def outbox_rows(database_url: str, recipient: str | None = None) -> int:
    """How many messages wait in the outbox of the database at `database_url` (to
    `recipient` only, if given): a sent one is deleted once the SMTP server took it."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as connection:
            query = select(func.count()).select_from(OutboxMessage)
            if recipient is not None:
                query = query.where(OutboxMessage.recipient == recipient)
            return connection.scalar(query) or 0
    finally:
        engine.dispose()


# --- The process's settings -----------------------------------------------------------


@contextmanager
def settings_changed(**changes: object) -> Iterator[Settings]:
    """The process's settings with `changes`, for the code a block calls outside an
    app (an app takes its settings from the `make_app` fixture instead)."""
    before = get_settings()
    changed = before.model_copy(update=changes)
    use_settings(changed)
    try:
        yield changed
    finally:
        use_settings(before)
