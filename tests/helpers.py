"""The one set of helpers every test uses: signing up, logging in (through the API, by a
token in the browser, or through the login form), writing posts, image files to
upload (hostile ones included) and reaching the database behind a TestClient's app.

Both kinds of client work: FastAPI's `TestClient` (API tests) and an `httpx.Client`
pointed at a live server (browser tests), since both are httpx clients."""

import io
import itertools
import re
import secrets
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image
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


# --- Image files to upload (made here, by hand where they are hostile) ---------------


def jpeg_with_exif(width: int = 800, height: int = 400) -> bytes:
    """Left half red, right half blue, stored sideways: EXIF orientation 6 says to turn
    it 90 degrees clockwise, which puts red on top. Also a camera name and GPS data."""
    image = Image.new("RGB", (width, height), "blue")
    image.paste("red", (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    exif[0x010F] = "CanonCameraMaker"  # Make
    exif[0x0110] = "SecretModel 5D"  # Model
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 24.0)}  # GPSInfo
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95)
    return out.getvalue()


def png(width: int, height: int, color: str = "green") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def png_bomb(width: int = 40_000, height: int = 40_000) -> bytes:
    """A PNG whose header declares 1.6 billion pixels, in a few dozen bytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One chunk of a PNG file: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def palette_png(width: int, height: int) -> bytes:
    """A 1-bit palette PNG of `width` x `height` black pixels: 100 megapixels are 12 KB,
    and decode to 100 MB as a palette image, 300 MB as RGB."""
    row = b"\0" * (1 + (width + 7) // 8)  # filter byte "none", then the bits
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 3, 0, 0, 0))
        + png_chunk(b"PLTE", b"\0\0\0\xff\xff\xff")
        + png_chunk(b"IDAT", data)
        + png_chunk(b"IEND", b"")
    )


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", 0xFF00 | marker, len(payload) + 2) + payload


def progressive_jpeg(width: int, height: int, scans: int) -> bytes:
    """A grey progressive JPEG (SOF2) whose scans carry no data: libjpeg pads each with
    zeros but walks every block of the image for each, 10 bytes a scan. The same scan
    again and again is a "bogus progression", a warning only."""
    one_code = b"\x01" + b"\0" * 15  # one Huffman code, of 1 bit
    return (
        b"\xff\xd8"
        + jpeg_segment(0xDB, b"\x00" + b"\x01" * 64)  # a quantisation table of ones
        + jpeg_segment(0xC2, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
        + jpeg_segment(0xC4, b"\x00" + one_code + b"\x00" + b"\x10" + one_code + b"\x00")
        + jpeg_segment(0xDA, b"\x01\x01\x00" + b"\x00\x00\x00")  # DC first
        + jpeg_segment(0xDA, b"\x01\x01\x00" + b"\x01\x3f\x00") * scans  # all AC, again
        + b"\xff\xd9"
    )


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


def mark_verified(client: Any, account: Account) -> Account:
    """The account's email marked verified straight in the database, for tests that need
    a verified account but not the mail that proves it."""
    run_sql(
        client, "UPDATE users SET email_verified = :yes WHERE id = :id", yes=True, id=account.id
    )
    return account


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
