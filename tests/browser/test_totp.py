"""Two-factor authentication in Chromium: turned on from the account page by typing
the code of the secret it shows, then signing in with a code and with a recovery code;
axe-core finds nothing serious in the account page's section nor the login's code step."""

import re
import time
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ConsoleWatch
from tests.browser.test_accessibility import AXE, RUN_AXE, THEME_RULES
from tests.helpers import Account, fill_login_form, log_in_through_form, make_account

pytestmark = pytest.mark.browser


@pytest.fixture
def audited_page(browser: Browser, live_server: str, console: ConsoleWatch) -> Iterator[Page]:
    """A page whose context lifts the CSP for the injected audit script only (the
    app's own scripts run as they would anyway)."""
    context = browser.new_context(base_url=live_server, bypass_csp=True, reduced_motion="reduce")
    context.set_default_timeout(5_000)
    page = context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    yield page
    context.close()
    assert console.unexpected() == []


def audit(page: Page, where: str) -> list[str]:
    """axe-core's serious and critical findings, in the light theme and then the dark."""
    page.add_script_tag(content=AXE)
    found = [f"{where} light: {problem}" for problem in page.evaluate(RUN_AXE)]
    toggle = page.get_by_role("button", name="Dark theme")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    found += [f"{where} dark: {problem}" for problem in page.evaluate(RUN_AXE, THEME_RULES)]
    toggle.click()  # back to light, for whatever the test does next
    expect(toggle).to_have_attribute("aria-pressed", "false")
    return found


def turn_on_in_the_page(page: Page, found: list[str] | None) -> tuple[str, list[str]]:
    """On /account: Turn on, the code of the shown key, the codes shown once (audited
    on the way into `found`, unless None)."""
    section = page.locator("#totp-section")
    expect(section.locator("#totp-status")).to_have_text("Two-factor authentication is off.")
    section.get_by_role("button", name="Turn on").click()
    qr = section.locator("#totp-qr svg")
    expect(qr).to_be_visible()
    expect(qr).to_have_attribute("role", "img")
    secret = section.locator("#totp-secret").inner_text().replace(" ", "")
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    code = section.get_by_label("Code from the app")
    expect(code).to_be_focused()
    expect(code).to_have_attribute("autocomplete", "one-time-code")
    expect(code).to_have_attribute("inputmode", "numeric")
    if found is not None:
        found += audit(page, "/account enrolment")
    code.fill(pyotp.TOTP(secret).now())
    section.get_by_role("button", name="Turn on").click()
    items = section.locator("#totp-codes-list li")
    expect(items).to_have_count(10)
    codes = items.all_inner_texts()
    expect(section.get_by_role("link", name="Download as text")).to_have_attribute(
        "href", re.compile("^blob:")
    )
    if found is not None:
        found += audit(page, "/account recovery codes")
    section.get_by_role("button", name="I have saved them").click()
    expect(section.locator("#totp-status")).to_have_text(
        "Two-factor authentication is on. 10 unused recovery codes are left."
    )
    expect(items).to_have_count(0)
    return secret, codes


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out", exact=True).click()
    expect(page.locator("#nav-guest")).to_be_visible()


def test_turn_on_then_sign_in_with_a_code_and_with_a_recovery_code(
    audited_page: Page, api, console: ConsoleWatch
) -> None:
    console.allow(r"status of 401 .*/api/users/token")  # the first step, and a wrong code
    page = audited_page
    user: Account = make_account(api)
    log_in_through_form(page, user, "/account")  # a fresh sign-in: recent enough
    found: list[str] = []
    secret, codes = turn_on_in_the_page(page, found)
    assert api.get("/api/users/me", headers=user.headers).json()["totp_enabled"] is True

    # Signing in: the password, then the code (the next step's: this step's was used).
    log_out(page)
    page.goto("/login?next=/account")
    fill_login_form(page, user.email, user.password)
    code = page.get_by_label("Code from the app")
    expect(code).to_be_focused()
    expect(code).to_have_attribute("autocomplete", "one-time-code")
    expect(code).to_have_attribute("inputmode", "numeric")
    expect(page.locator("#login-form")).to_be_hidden()
    found += audit(page, "/login code step")
    code.fill("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#mfa-error")).to_have_text("That code is wrong, used already or expired")
    code.fill(pyotp.TOTP(secret).at(time.time() + 30))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("#nav-username")).to_have_text(user.username)

    # And with a recovery code, which then is used up.
    log_out(page)
    page.goto("/login?next=/account")
    fill_login_form(page, user.email, user.password)
    page.get_by_role("button", name="Use a recovery code").click()
    recovery = page.get_by_label("Recovery code")
    expect(recovery).to_be_focused()
    expect(recovery).to_have_attribute("inputmode", "text")
    found += audit(page, "/login recovery code step")
    recovery.fill(codes[0])
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("#totp-status")).to_have_text(
        "Two-factor authentication is on. 9 unused recovery codes are left."
    )
    found += audit(page, "/account with 2FA on")
    assert found == [], "\n".join(found)


def test_replace_the_codes_then_turn_it_off(page: Page, api) -> None:
    user = make_account(api)
    log_in_through_form(page, user, "/account")
    _, old_codes = turn_on_in_the_page(page, None)
    section = page.locator("#totp-section")
    section.get_by_role("button", name="Replace recovery codes").click()
    items = section.locator("#totp-codes-list li")
    expect(items).to_have_count(10)
    assert not set(items.all_inner_texts()) & set(old_codes)
    expect(section.locator("#totp-success")).to_contain_text("the old ones no longer work")
    section.get_by_role("button", name="I have saved them").click()

    section.get_by_role("button", name="Turn off").click()
    dialog = page.locator("#totp-off-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Turn off").click()
    expect(dialog).to_be_hidden()
    expect(section.locator("#totp-status")).to_have_text("Two-factor authentication is off.")
    expect(section.get_by_role("button", name="Turn on")).to_be_focused()
    assert api.get("/api/users/me", headers=user.headers).json()["totp_enabled"] is False
    # A password alone signs in again.
    log_out(page)
    log_in_through_form(page, user, "/account")
