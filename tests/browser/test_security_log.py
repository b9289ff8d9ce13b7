"""The account page's "Recent security activity" and the sessions list's sign-in method,
in readable words (a password, a passkey); "Load more" through the log; axe-core
clean. And the editor when the server refuses a preview past PREVIEWS_PER_MINUTE. The
live server is called localhost, since WebAuthn refuses IP addresses."""

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ConsoleWatch
from tests.browser.test_accessibility import AXE, RUN_AXE
from tests.browser.test_passkeys import (
    add_passkey_on_account_page,
    log_out,
    signed_in_with_a_device,
)
from tests.helpers import log_in_through_form, login, make_account, sign_in
from tests.live_server import LiveServer
from tests.mail_server import SMTPServer

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Correct-Staple-7-quartz!"
PREVIEWS_PER_MINUTE = 2


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, smtp_server: SMTPServer) -> Iterator[str]:
    """Overrides conftest's: previews limited low enough to reach in a test."""
    server = LiveServer(
        tmp_path_factory.mktemp("security-log"),
        env={"PREVIEWS_PER_MINUTE": str(PREVIEWS_PER_MINUTE)},
        smtp_port=smtp_server.port,
        name="localhost",
    )
    try:
        yield server.wait_until_ready()
    finally:
        server.stop()


@pytest.fixture
def audited_page(browser: Browser, live_server: str) -> Iterator[Page]:
    """A page whose context lifts the CSP, for the injected axe-core script alone."""
    context = browser.new_context(base_url=live_server, bypass_csp=True)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_sign_in_and_password_change_read_as_words_on_the_account_page(
    audited_page: Page, api
) -> None:
    page = audited_page
    user = make_account(api)  # a first sign-in, through the API (python-httpx)
    log_in_through_form(page, user, "/account")
    events = page.locator("#security-list > li")
    expect(events).to_have_count(2)
    expect(events.nth(0)).to_contain_text("Signed in with a password")
    expect(events.nth(0)).to_contain_text("Chrome on Linux")
    expect(events.nth(0)).to_contain_text("127.0.0.1")
    expect(events.nth(1)).to_contain_text("python-httpx")

    # Just signed in: the change needs no password again (step-up's window).
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-success")).to_be_visible()
    expect(events).to_have_count(3)  # read again on the page's own say-so
    expect(events.nth(0).locator(".session-device")).to_have_text("Password changed")
    expect(events.nth(1).locator(".session-device")).to_have_text("Signed in with a password")
    expect(page.locator("#security-pager")).to_be_hidden()
    page.reload()
    expect(events).to_have_count(3)

    # The sessions list says how this session signed in (the API's ended with the change).
    sessions = page.locator("#sessions-list > li")
    expect(sessions).to_have_count(1)
    expect(sessions.nth(0).locator(".session-method")).to_have_text("Signed in with a password")

    page.add_script_tag(content=AXE)
    assert page.evaluate(RUN_AXE) == []


def test_load_more_walks_the_whole_log(page: Page, api) -> None:
    user = make_account(api)
    for _ in range(11):  # twelve sign-ins in all: a page of ten, then two more
        assert login(api, user.email).status_code == 200
    sign_in(page, user)
    page.goto("/account")
    events = page.locator("#security-list > li")
    expect(events).to_have_count(10)
    more = page.get_by_role("button", name="Load more")
    more.click()
    expect(events).to_have_count(12)
    expect(page.locator("#security-pager")).to_be_hidden()
    expect(events.nth(10)).to_be_focused()
    for index in range(12):
        expect(events.nth(index).locator(".session-device")).to_have_text(
            "Signed in with a password"
        )


def test_a_refused_preview_says_so_and_keeps_the_text(
    page: Page, api, console: ConsoleWatch
) -> None:
    console.allow(r"status of 429")
    user = make_account(api)
    sign_in(page, user)
    page.set_viewport_size({"width": 390, "height": 844})  # Write and Preview as tabs
    page.goto("/write")
    content = page.get_by_label("Content", exact=True)
    content.fill("Some *rendered* words.")
    write_tab = page.get_by_role("tab", name="Write")
    preview_tab = page.get_by_role("tab", name="Preview")
    for _ in range(PREVIEWS_PER_MINUTE):
        preview_tab.click()
        expect(page.locator("#editor-preview em")).to_have_text("rendered")
        write_tab.click()
    preview_tab.click()
    expect(page.locator("#editor-preview-error")).to_contain_text(
        f"At most {PREVIEWS_PER_MINUTE} previews a minute"
    )
    write_tab.click()
    expect(content).to_have_value("Some *rendered* words.")


def test_a_passkey_added_then_signed_in_with_reads_as_such(
    new_page: Callable[[], Page], api
) -> None:
    page, _user, _device = signed_in_with_a_device(new_page, api)
    add_passkey_on_account_page(page)
    name = page.locator("#passkeys-list .session-device").first.text_content()
    log_out(page)
    page.goto("/login?next=/account")  # the virtual authenticator answers the autofill
    expect(page).to_have_url(re.compile(r"/account$"))

    events = page.locator("#security-list .session-device")
    expect(events.nth(0)).to_have_text("Signed in with a passkey")
    expect(events.nth(1)).to_have_text(f"Passkey “{name}” added")
    current = page.locator("#sessions-list > li[data-current]")
    expect(current.locator(".session-method")).to_have_text("Signed in with a passkey")
