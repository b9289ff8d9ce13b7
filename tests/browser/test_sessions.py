"""Sessions in the browser: short access tokens refreshed through the cookie, drafts
that survive a forced login (the editor keeps them on the device), logout reaching
every tab, /login skipped when signed in, and the account page's list of sessions.

This module runs its own live server with 3-second access tokens, so that expiry
happens inside a test, and a secret key the test knows, so that a test can also hold
a token of that server already past its expiry instead of waiting for one. Every
sign-in goes through the login form: only that gives the browser its refresh cookie
(`sign_in()` puts a bare token in localStorage), and no account here logs in anywhere
else unless the test says so (`sign_up`, not `make_account`): the account page counts
sessions."""

import re
import secrets
from collections.abc import Iterator

import httpx
import jwt
import pytest
from playwright.sync_api import Page, Request, expect

from accounts.sessions import MAX_SESSIONS
from tests.browser.conftest import ConsoleWatch
from tests.helpers import fill_login_form, log_in, log_in_through_form, sign_up, wait_in_page
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser

TOKEN_SECONDS = 3
# Tokens are accepted ACCESS_TOKEN_LEEWAY_SECONDS past their `exp` (clock skew): this
# server allows one second, and the test waits that out too.
LEEWAY_SECONDS = 1
SECRET_KEY = secrets.token_hex(32)
SAFARI_ON_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Safari/605.1.15"
)
FIREFOX_ON_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Overrides conftest's: a live Inkwell whose access tokens last 3 seconds."""
    minutes = str(TOKEN_SECONDS / 60)
    server = LiveServer(
        tmp_path_factory.mktemp("sessions"),
        env={
            "ACCESS_TOKEN_EXPIRE_MINUTES": minutes,
            "ACCESS_TOKEN_LEEWAY_SECONDS": str(LEEWAY_SECONDS),
            "SECRET_KEY": SECRET_KEY,
        },
    )
    try:
        yield server.wait_until_ready()
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def expected_401s(console: ConsoleWatch) -> None:
    # Expired tokens are answered 401 (then refreshed): Chromium logs each one.
    console.allow(r"status of 401")


def token(page: Page) -> str | None:
    return page.evaluate("localStorage.getItem('access_token')")


def expire_access_token(page: Page) -> str:
    """The page's access token as it is once its time is up: the same claims, signed
    by the server's key, issued and expired a minute before now (past the leeway)."""
    claims = jwt.decode(token(page), options={"verify_signature": False})
    shift = claims["exp"] - claims["iat"] + LEEWAY_SECONDS + 60
    claims |= {"iat": claims["iat"] - shift, "exp": claims["exp"] - shift}
    expired = jwt.encode(claims, SECRET_KEY, algorithm="HS256")
    page.evaluate("token => localStorage.setItem('access_token', token)", expired)
    return expired


def refreshes(page: Page) -> list[Request]:
    """Refresh requests this page sends from now on."""
    seen: list[Request] = []
    page.on("request", lambda r: seen.append(r) if r.url.endswith("/token/refresh") else None)
    return seen


def test_a_post_written_over_an_expired_token_is_published(page: Page, api) -> None:
    user = sign_up(api)
    log_in_through_form(page, user)
    sent = refreshes(page)

    page.get_by_role("link", name="New Post").click()
    page.get_by_label("Title").fill("Slow writer")
    page.get_by_label("Content", exact=True).fill("Written while the access token ran out.")
    expired = expire_access_token(page)  # while the writer was writing
    page.get_by_role("button", name="Publish").click()

    expect(page).to_have_url(re.compile(r"/posts/\d+/slow-writer$"))
    expect(page.locator("#post-title")).to_have_text("Slow writer")
    assert len(sent) == 1
    # A new token in its place (within the second of the login, the very token the
    # login gave: same claims, same times), signed by the server, newer than the old.
    renewed = token(page)
    assert renewed not in (None, expired)
    claims = jwt.decode(renewed, SECRET_KEY, algorithms=["HS256"], options={"verify_exp": False})
    assert claims["exp"] > jwt.decode(expired, options={"verify_signature": False})["exp"]
    assert page.evaluate("localStorage.getItem('draft:new')") is None


def kill_access_token(page: Page) -> None:
    """What an expired access token gets, without waiting for it: a 401. The refresh
    cookie stays, so the session lives on."""
    page.evaluate("localStorage.setItem('access_token', 'expired.access.token')")


def test_the_navbar_survives_a_refused_token(page: Page, api) -> None:
    user = sign_up(api)
    log_in_through_form(page, user)
    kill_access_token(page)
    sent = refreshes(page)
    page.reload()
    expect(page.locator("#nav-username")).to_have_text(user.username)
    # The name shows at once (the last known user); the refresh then replaces the token.
    # Polled from here: wait_for_function evaluates strings in the page, which its CSP
    # refuses whenever the condition is not already true (seen under load).
    wait_in_page(page, "() => localStorage.getItem('access_token') !== 'expired.access.token'")
    expect(page.locator("#nav-username")).to_have_text(user.username)
    assert len(sent) == 1


def test_concurrent_calls_share_one_refresh(page: Page, api) -> None:
    user = sign_up(api)
    log_in_through_form(page, user)
    kill_access_token(page)
    sent = refreshes(page)
    statuses = page.evaluate(
        """async () => {
            const { apiFetch } = await import('/static/js/api.js');
            const calls = [1, 2, 3, 4].map(() => apiFetch('/api/users/me'));
            return (await Promise.all(calls)).map((response) => response.status);
        }"""
    )
    assert statuses == [200, 200, 200, 200]
    assert len(sent) == 1


def end_the_session(page: Page) -> None:
    """The session ends for good: no refresh cookie, a token the server refuses."""
    page.context.clear_cookies()
    page.evaluate("localStorage.setItem('access_token', 'not.a.token')")


def test_a_draft_comes_back_after_a_forced_login(page: Page, api) -> None:
    user = sign_up(api)
    log_in_through_form(page, user, "/write")
    end_the_session(page)  # before anything reaches the server
    page.get_by_label("Title").fill("Never lost")
    page.get_by_label("Content", exact=True).fill("Typed, then the session ended.")

    # The autosave finds the session over: the editor says so and stays where it is.
    status = page.locator("#editor-save-status")
    expect(status).to_have_text(
        "Signed out — kept on this device. Log in to save it to your account.", timeout=8_000
    )
    expect(page).to_have_url(re.compile(r"/write$"))
    expect(page.locator("#editor-login")).to_be_visible()
    assert token(page) is None
    assert "Never lost" in page.evaluate("localStorage.getItem('draft:new')")

    # Back later (the page again): to log in first, then the text is back.
    page.reload()
    expect(page).to_have_url(re.compile(r"/login\?next=/write$"))
    fill_login_form(page, user.email, user.password)
    expect(page).to_have_url(re.compile(r"/write$"))
    expect(page.locator("#editor-restored")).to_be_visible()
    expect(page.get_by_label("Title")).to_have_value("Never lost")
    expect(page.get_by_label("Content", exact=True)).to_have_value("Typed, then the session ended.")

    # The session ends again as Publish is pressed: to log in, and back to the text.
    end_the_session(page)
    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(re.compile(r"/login\?next=/(write|posts/\d+/edit)$"))
    assert token(page) is None
    fill_login_form(page, user.email, user.password)
    expect(page).to_have_url(re.compile(r"/(write|posts/\d+/edit)$"))
    expect(page.get_by_label("Title")).to_have_value("Never lost")
    expect(page.get_by_label("Content", exact=True)).to_have_value("Typed, then the session ended.")
    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(re.compile(r"/posts/\d+/never-lost$"))
    expect(page.locator("#post-title")).to_have_text("Never lost")
    post_id = page.url.rsplit("/", 2)[1]
    assert page.evaluate("localStorage.getItem('draft:new')") is None
    assert page.evaluate(f"localStorage.getItem('draft:edit:{post_id}')") is None
    # One post, not one per attempt.
    log_in(api, user)
    items = api.get("/api/users/me/posts", headers=user.headers).json()["items"]
    assert [item["title"] for item in items] == ["Never lost"]


def test_logout_signs_out_every_tab(page: Page, api, console: ConsoleWatch) -> None:
    user = sign_up(api)
    log_in_through_form(page, user, "/account")
    other = page.context.new_page()
    other.on("console", console.on_console)
    other.on("pageerror", console.on_page_error)
    other.goto("/")
    expect(other.locator("#nav-username")).to_have_text(user.username)

    with page.expect_request(lambda r: r.url.endswith("/api/users/logout")) as logout:
        page.get_by_role("button", name="Log out").click()
    assert logout.value.method == "POST"
    expect(page.locator("#nav-guest")).to_be_visible()
    expect(other.locator("#nav-guest")).to_be_visible(timeout=2_000)
    assert token(other) is None

    # The session is over on the server too: the cookie no longer renews anything.
    status = other.evaluate(
        "fetch('/api/users/token/refresh', {method: 'POST', credentials: 'same-origin'})"
        ".then((response) => response.status)"
    )
    assert status == 401


def test_login_page_is_skipped_when_signed_in(page: Page, api, live_server: str) -> None:
    user = sign_up(api)
    page.goto("/login")
    expect(page.locator("#login-form")).to_be_visible()  # signed out: the form stays
    log_in_through_form(page, user)
    page.goto("/login?next=/account", wait_until="commit")  # it leaves before "load"
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("#account-email")).to_have_text(user.email)
    page.goto("/login", wait_until="commit")
    expect(page).to_have_url(f"{live_server}/")
    expect(page.locator("#nav-username")).to_have_text(user.username)
    kill_access_token(page)  # a refused token is refreshed, not a reason to stay
    page.goto("/login?next=/account", wait_until="commit")
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("#account-email")).to_have_text(user.email)
    # With the session over, the login form stays (no loop between pages).
    page.context.clear_cookies()
    kill_access_token(page)
    page.goto("/login?next=/account")
    expect(page.locator("#login-form")).to_be_visible()
    # login.js enables the form only after its check of the session (awaited at its
    # top), which is where it would have left: by now it has decided to stay.
    expect(page.get_by_label("Email")).to_be_enabled()
    expect(page).to_have_url(re.compile(r"/login\?next=/account$"))


def test_account_lists_sessions_and_signs_them_out(page: Page, api, live_server: str) -> None:
    user = sign_up(api)

    def elsewhere(agent: str) -> httpx.Client:
        client = httpx.Client(base_url=live_server, headers={"User-Agent": agent}, timeout=10)
        log_in(client, user)  # a session of its own, from this user agent
        return client

    mac, windows = elsewhere(SAFARI_ON_MAC), elsewhere(FIREFOX_ON_WINDOWS)
    try:
        log_in_through_form(page, user, "/account")
        sessions = page.locator("#sessions-list > li")
        expect(sessions).to_have_count(3)
        current = sessions.filter(has_text="This device")
        expect(current).to_have_count(1)
        expect(current.locator(".session-device")).to_have_text("Chrome on Linux")
        expect(current.get_by_role("button")).to_have_count(0)
        safari = sessions.filter(has_text="Safari on macOS")
        expect(safari.locator(".session-detail")).to_contain_text("Last used")
        expect(sessions.filter(has_text="Firefox on Windows")).to_have_count(1)
        expect(page.locator("#sessions-cap")).to_contain_text(
            f"At most {MAX_SESSIONS} sign-ins are kept"
        )

        safari.get_by_role("button", name="Log out this session", exact=True).click()
        expect(sessions).to_have_count(2)
        expect(page.locator("#sessions-success")).to_have_text("Logged out Safari on macOS.")
        assert mac.post("/api/users/token/refresh").status_code == 401

        page.get_by_role("button", name="Log out everywhere else").click()
        expect(sessions).to_have_count(1)
        expect(page.get_by_role("button", name="Log out everywhere else")).to_be_hidden()
        assert windows.post("/api/users/token/refresh").status_code == 401
        # This device is still signed in, also once its access token is refused.
        kill_access_token(page)
        page.reload()
        expect(page.locator("#account-email")).to_have_text(user.email)
        expect(sessions).to_have_count(1)
    finally:
        mac.close()
        windows.close()
