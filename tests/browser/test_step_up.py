"""Step-up in Chromium: on a session that signed in longer ago than
REAUTH_WINDOW_MINUTES (its `authenticated_at` moved back in the live server's
database), a sensitive action opens the "Confirm it is you" dialog once, asking for the
password (or a passkey), then goes through; cancelling it changes nothing. axe-core
finds nothing serious with the dialog open."""

import re
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from pydantic import SecretStr
from sqlalchemy import Executable, create_engine, update

from accounts import totp
from database import sync_url
from models import User, UserSession
from tests.browser.test_accessibility import AXE, RUN_AXE
from tests.browser.test_passkeys import Authenticator, add_passkey_on_account_page
from tests.helpers import (
    Account,
    log_in_through_form,
    login,
    make_account,
    settings_changed,
    sign_in,
    sign_up,
)
from tests.live_server import LiveServer
from tests.mail_server import SMTPServer

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Correct-Staple-7-quartz!"
SECRET_KEY = secrets.token_hex(32)


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, smtp_server: SMTPServer
) -> Iterator[LiveServer]:
    """A live Inkwell of this module's own: the tests reach its database. Called
    localhost, since WebAuthn (the passkey test) refuses IP addresses."""
    server = LiveServer(
        tmp_path_factory.mktemp("step-up"),
        smtp_port=smtp_server.port,
        name="localhost",
        env={"SECRET_KEY": SECRET_KEY},  # so that a TOTP secret can be sealed here
    )
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live_server(server: LiveServer) -> str:
    return server.base_url


def run_sql(server: LiveServer, statement: Executable) -> None:
    """A statement run on the live server's database, committed."""
    engine = create_engine(sync_url(server.database_url))
    try:
        with engine.begin() as connection:
            connection.execute(statement)
    finally:
        engine.dispose()


def turn_on_2fa(server: LiveServer, account: Account) -> str:
    """2FA on, straight in the database (the TOTP routes have their own tests): the
    secret, sealed under the live server's key."""
    secret = totp.new_secret()
    with settings_changed(secret_key=SecretStr(SECRET_KEY)):
        sealed = totp.seal(secret)
    run_sql(server, update(User).where(User.id == account.id).values(totp_secret=sealed))
    return secret


def signed_in_long_ago(server: LiveServer, account: Account) -> None:
    """Every session of the account last proved who uses it an hour ago (the window is
    REAUTH_WINDOW_MINUTES, 10 by default)."""
    run_sql(
        server,
        update(UserSession)
        .where(UserSession.user_id == account.id)
        .values(authenticated_at=datetime.now(UTC) - timedelta(hours=1)),
    )


def stale_account_page(page: Page, api: httpx.Client, server: LiveServer) -> Account:
    user = make_account(api)
    sign_in(page, user)
    signed_in_long_ago(server, user)
    page.goto("/account")
    expect(page.locator("#account-username")).to_have_text(user.username)
    return user


def change_password(page: Page) -> None:
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()


def test_a_password_change_asks_for_the_password_once_then_goes_through(
    page: Page, api: httpx.Client, server: LiveServer, console
) -> None:
    console.allow(r"status of 401 .*/api/users/me/password$")  # the step-up, as designed
    console.allow(r"status of 400 .*/api/users/me/reauthentication$")  # wrong, on purpose
    user = stale_account_page(page, api, server)
    change_password(page)
    dialog = page.get_by_role("dialog", name="Confirm it is you")
    expect(dialog).to_be_visible()
    password = dialog.get_by_label("Your password")
    expect(password).to_be_focused()
    expect(dialog.get_by_label("Code from your authenticator app")).to_be_hidden()  # no 2FA
    expect(page.locator("#password-success")).to_be_hidden()

    password.fill("not my password")
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog.get_by_role("alert")).to_have_text("Incorrect password")
    assert login(api, user.email, NEW_PASSWORD).status_code == 401  # nothing changed yet

    password.fill(user.password)
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.locator("#password-success")).to_have_text(
        "Password changed. Other sessions have been signed out."
    )
    expect(page.get_by_role("dialog")).to_have_count(0)
    assert login(api, user.email, NEW_PASSWORD).status_code == 200

    # Confirmed once: the next sensitive change goes straight through.
    page.locator("#profile-email").fill(f"new.{user.email}")
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#profile-success")).to_have_text("Profile saved.")
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_cancelling_changes_nothing_and_confirming_then_deletes(
    page: Page, api: httpx.Client, server: LiveServer, console
) -> None:
    console.allow(r"status of 401 .*/api/users/\d+$")  # the step-up, as designed
    user = stale_account_page(page, api, server)
    page.get_by_role("button", name="Delete account").click()
    deletion = page.get_by_role("dialog", name="Delete your account?")
    deletion.get_by_role("button", name="Delete my account").click()
    confirm = page.get_by_role("dialog", name="Confirm it is you")
    expect(confirm).to_be_visible()
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_have_count(0)
    # The refusal is said where the action was asked for; nothing is gone.
    expect(deletion.get_by_role("alert")).to_contain_text("Confirm it is you")
    assert api.get(f"/api/users/{user.id}").status_code == 200
    assert page.evaluate("localStorage.getItem('access_token')") is not None

    # Escape cancels too.
    deletion.get_by_role("button", name="Delete my account").click()
    expect(confirm).to_be_visible()
    page.keyboard.press("Escape")
    expect(confirm).to_have_count(0)
    assert api.get(f"/api/users/{user.id}").status_code == 200

    deletion.get_by_role("button", name="Delete my account").click()
    confirm.get_by_label("Your password").fill(user.password)
    confirm.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#nav-guest")).to_be_visible()
    assert api.get(f"/api/users/{user.id}").status_code == 404


def test_an_expired_token_is_renewed_then_the_step_up_asked(
    page: Page, api: httpx.Client, server: LiveServer, console
) -> None:
    """Both at once (a page left open for long): the refresh first, then the dialog;
    the person is not sent to log in."""
    console.allow(r"status of 401 .*/api/users/me/password$")
    user = sign_up(api)
    log_in_through_form(page, user, "/account")  # a refresh cookie too
    # The page's own reads done first (with the good token): only the change is refused.
    page.wait_for_load_state("networkidle")
    signed_in_long_ago(server, user)
    page.evaluate("() => localStorage.setItem('access_token', 'expired.or.not.ours')")
    change_password(page)
    dialog = page.get_by_role("dialog", name="Confirm it is you")
    dialog.get_by_label("Your password").fill(user.password)
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.locator("#password-success")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/account$"))
    assert login(api, user.email, NEW_PASSWORD).status_code == 200


def test_with_2fa_the_dialog_asks_for_the_code_too(
    page: Page, api: httpx.Client, server: LiveServer, console
) -> None:
    console.allow(r"status of 401 .*/api/users/me/password$")
    console.allow(r"status of 400 .*/api/users/me/reauthentication$")  # no code, on purpose
    user = make_account(api)
    secret = turn_on_2fa(server, user)
    sign_in(page, user)
    signed_in_long_ago(server, user)
    page.goto("/account")
    expect(page.locator("#account-username")).to_have_text(user.username)
    change_password(page)
    dialog = page.get_by_role("dialog", name="Confirm it is you")
    code = dialog.get_by_label("Code from your authenticator app")
    expect(code).to_be_visible()  # /api/users/me says 2FA is on
    expect(code).to_have_accessible_description("Or one of your recovery codes.")
    dialog.get_by_label("Your password").fill(user.password)
    accepted = {pyotp.TOTP(secret).at(time.time() + skew) for skew in (-30, 0, 30)}
    code.fill(next(wrong for wrong in ("000000", "111111", "222222") if wrong not in accepted))
    dialog.get_by_role("button", name="Confirm").click()
    expect(dialog.get_by_role("alert")).to_have_text("Incorrect password or code")
    code.fill(pyotp.TOTP(secret).now())
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.locator("#password-success")).to_be_visible()
    old = login(api, user.email, user.password)  # the new one would ask for a code
    assert old.json()["code"] == "invalid_credentials"


def test_requests_refused_together_share_one_dialog(
    page: Page, api: httpx.Client, server: LiveServer, console
) -> None:
    console.allow(r"status of 401 .*/api/users/me/sessions$")
    user = stale_account_page(page, api, server)
    # Three at once, left running (evaluate would wait for them) while the dialog asks.
    page.evaluate(
        """() => {
          window.stepUpStatuses = import("/static/js/api.js").then(({ apiFetch }) =>
            Promise.all([1, 2, 3].map(() =>
              apiFetch("/api/users/me/sessions", { method: "DELETE" }).then((r) => r.status))));
        }"""
    )
    dialog = page.get_by_role("dialog", name="Confirm it is you")
    expect(dialog).to_have_count(1)
    dialog.get_by_label("Your password").fill(user.password)
    dialog.get_by_role("button", name="Confirm").click()
    assert page.evaluate("() => window.stepUpStatuses") == [204, 204, 204]
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_a_passkey_confirms_it_is_you(
    new_page: Callable[[], Page], api: httpx.Client, server: LiveServer, console
) -> None:
    console.allow(r"status of 401 .*/api/users/me/passkeys/\d+$")
    page = new_page()
    user = make_account(api)
    Authenticator(page)
    sign_in(page, user)
    add_passkey_on_account_page(page)  # signed in just now: no password asked
    signed_in_long_ago(server, user)
    page.get_by_role("button", name="Remove").click()
    page.get_by_role("button", name="Remove passkey").click()
    dialog = page.get_by_role("dialog", name="Confirm it is you")
    dialog.get_by_role("button", name="Use a passkey").click()
    expect(page.locator("#passkeys-success")).to_contain_text("removed")
    expect(page.locator("#passkeys-empty")).to_be_visible()
    expect(page.get_by_role("dialog", name="Confirm it is you")).to_have_count(0)


def test_the_dialog_has_no_serious_accessibility_problem(
    browser: Browser, live_server: str, api: httpx.Client, server: LiveServer
) -> None:
    context = browser.new_context(base_url=live_server, bypass_csp=True, reduced_motion="reduce")
    try:
        page = context.new_page()
        stale_account_page(page, api, server)
        change_password(page)
        dialog = page.get_by_role("dialog", name="Confirm it is you")
        expect(dialog).to_be_visible()
        page.add_script_tag(content=AXE)
        found = page.evaluate(RUN_AXE)
        assert found == [], "\n".join(found)
    finally:
        context.close()
