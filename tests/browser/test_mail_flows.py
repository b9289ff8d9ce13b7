"""Mail in the browser: forgot password, the mail, the reset page, then logging in with
the new password; the verification link, and the verified state it leaves. The live
servers send through a real SMTP server in this test process. (That the links' tokens
stay out of the access logs is shown in tests/test_proxy.py.)"""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ConsoleWatch
from tests.helpers import Account, fill_login_form, make_account, sign_in, sign_up
from tests.mail_server import Mailbox

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Brand-new-Passphrase-42"


@pytest.fixture(autouse=True)
def expected_errors(console: ConsoleWatch) -> None:
    # Used or wrong links are answered 400, which Chromium logs.
    console.allow(r"status of 400")


def test_forgot_password_mail_reset_page_then_login(
    page: Page, api, mailbox: Mailbox, live_server: str
) -> None:
    user = sign_up(api)
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page).to_have_url(re.compile(r"/forgot-password$"))
    page.get_by_label("Email").fill(user.email.upper())
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("status")).to_contain_text("on its way")

    mail = next(m for m in mailbox.wait_for(user.email, 2) if "/reset-password" in m.text)
    link = mail.link("/reset-password")
    assert link.startswith(f"{live_server}/reset-password?token=")
    response = page.goto(link)
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    # The token leaves the address bar (and so the history) once read.
    expect(page).to_have_url(f"{live_server}/reset-password")

    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD + "x")
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_label("Confirm new password")).to_have_js_property("validity.valid", False)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_text("Your password is changed")).to_be_visible()

    page.get_by_role("link", name="Log in with your new password").click()
    fill_login_form(page, user.email, NEW_PASSWORD)
    expect(page).to_have_url(f"{live_server}/")
    expect(page.locator("#nav-username")).to_have_text(user.username)
    notice = mailbox.wait_for(user.email, 3)[2]
    assert notice.message["Subject"] == "Your password was changed"

    # Opened again, the link says it is spent, and offers a new one.
    page.goto(link)
    page.get_by_label("New password", exact=True).fill("Yet-another-Passphrase-9")
    page.get_by_label("Confirm new password").fill("Yet-another-Passphrase-9")
    page.get_by_role("button", name="Set new password").click()
    expect(page.get_by_role("alert")).to_have_text("This link has already been used")
    expect(page.get_by_role("link", name="Ask for a new link")).to_be_visible()


def test_forgot_password_for_an_unknown_address_reads_the_same(
    page: Page, mailbox: Mailbox
) -> None:
    page.goto("/forgot-password")
    page.get_by_label("Email").fill("nobody-here@example.com")
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_role("status")).to_contain_text("If an account uses this address")
    assert mailbox.to("nobody-here@example.com") == []


def test_verification_link_shows_the_verified_state(page: Page, api, mailbox: Mailbox) -> None:
    user: Account = make_account(api)
    sign_in(page, user)
    page.goto("/")
    notice = page.locator("#verify-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text(user.email)

    notice.get_by_role("button", name="Send the link again").click()
    expect(notice.get_by_role("status")).to_contain_text("Sent")
    first, second = mailbox.wait_for(user.email, 2)
    assert first.token("/verify-email") != second.token("/verify-email")

    page.goto(second.link("/verify-email"))
    expect(page.locator("#verify-status")).to_have_text(
        "Your email address is verified. Thank you!"
    )
    expect(page).to_have_url(re.compile(r"/verify-email$"))
    expect(notice).to_be_hidden()
    page.goto("/account")
    expect(page.locator("#account-email-status")).to_have_text("(verified)")
    expect(page.locator("#verify-notice")).to_be_hidden()

    # The same link again: a clear error.
    page.goto(second.link("/verify-email"))
    expect(page.get_by_role("alert")).to_have_text("This link has already been used")


def test_a_verification_link_works_signed_out_too(page: Page, api, mailbox: Mailbox) -> None:
    user = make_account(api)
    page.goto(mailbox.wait_for(user.email)[0].link("/verify-email"))
    expect(page.locator("#verify-status")).to_have_text(
        "Your email address is verified. Thank you!"
    )
    sign_in(page, user)
    page.goto("/account")
    expect(page.locator("#account-email-status")).to_have_text("(verified)")


def test_reset_page_without_a_token_says_what_to_do(page: Page) -> None:
    page.goto("/reset-password")
    expect(page.get_by_role("alert")).to_contain_text("needs the link from your mail")
    expect(page.get_by_label("New password", exact=True)).to_be_disabled()
