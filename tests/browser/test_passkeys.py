"""Passkeys in Chromium, with its virtual authenticator (CDP's WebAuthn domain) standing
in for a laptop's fingerprint reader: add one on the account page, log out, sign in
with it; rename, remove; and what the pages say when it cannot work. The live server
is called localhost (conftest.py), since WebAuthn refuses IP addresses."""

import re
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import CDPSession, Locator, Page, expect

from tests.helpers import Account, make_account, sign_in

pytestmark = pytest.mark.browser


class Authenticator:
    """A platform authenticator with user verification, as a laptop with a fingerprint
    reader has, attached to one page through the DevTools protocol."""

    def __init__(self, page: Page) -> None:
        self.cdp: CDPSession = page.context.new_cdp_session(page)
        self.cdp.send("WebAuthn.enable", {"enableUI": False})
        self.id = self.cdp.send(
            "WebAuthn.addVirtualAuthenticator",
            {
                "options": {
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": True,
                    "hasUserVerification": True,
                    "isUserVerified": True,
                    "automaticPresenceSimulation": True,
                }
            },
        )["authenticatorId"]

    def credentials(self) -> list[dict]:
        return self.cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})["credentials"]


def signed_in_with_a_device(
    new_page: Callable[[], Page], api: httpx.Client
) -> tuple[Page, Account, Authenticator]:
    """A new person, signed in, on a browser with a platform authenticator."""
    page = new_page()
    user = make_account(api)
    device = Authenticator(page)
    sign_in(page, user)
    return page, user, device


def try_to_add_a_passkey(page: Page) -> Locator:
    """Go through the account page's "Add a passkey" dialog (on a session that signed
    in lately: no password asked); returns the dialog."""
    page.goto("/account")
    page.get_by_role("button", name="Add a passkey").click()
    dialog = page.get_by_role("dialog", name="Add a passkey")
    dialog.get_by_role("button", name="Continue").click()
    return dialog


def add_passkey_on_account_page(page: Page) -> None:
    try_to_add_a_passkey(page)
    expect(page.locator("#passkeys-success")).to_contain_text("Passkey added")


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    assert page.evaluate("localStorage.getItem('access_token')") is None


def test_add_a_passkey_log_out_and_sign_in_with_it_from_the_autofill(
    new_page: Callable[[], Page], api: httpx.Client
) -> None:
    page, user, device = signed_in_with_a_device(new_page, api)
    assert device.credentials() == []
    add_passkey_on_account_page(page)
    item = page.locator("#passkeys-list li")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Chrome on Linux")
    expect(item).to_contain_text("never used yet")
    [credential] = device.credentials()
    assert credential["isResidentCredential"] is True
    assert credential["rpId"] == "localhost"

    log_out(page)
    # The email field offers the passkey (conditional mediation); Chromium's virtual
    # authenticator picks it at once, as a person choosing it from the autofill would.
    page.goto("/login?next=/account")
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("#account-username")).to_have_text(user.username)
    expect(page.locator("#passkeys-list li")).to_contain_text("last used")
    # A real session: its refresh cookie renews the token.
    renewed = page.evaluate(
        "fetch('/api/users/token/refresh', {method: 'POST'}).then((r) => r.status)"
    )
    assert renewed == 200


def test_rename_and_remove_then_the_device_forgets_it(
    new_page: Callable[[], Page], api: httpx.Client, console
) -> None:
    console.allow(r"status of 401")
    page, _user, device = signed_in_with_a_device(new_page, api)
    add_passkey_on_account_page(page)

    page.get_by_role("button", name="Rename").click()
    dialog = page.get_by_role("dialog", name="Rename passkey")
    dialog.get_by_label("Name").fill("Work laptop")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("#passkeys-list li")).to_contain_text("Work laptop")

    page.get_by_role("button", name="Remove").click()
    expect(page.get_by_role("dialog", name="Remove “Work laptop”?")).to_be_visible()
    page.get_by_role("button", name="Remove passkey").click()
    expect(page.locator("#passkeys-success")).to_contain_text("removed")
    expect(page.locator("#passkeys-empty")).to_be_visible()

    log_out(page)
    # The device still offers it; the site refuses it and tells the device to forget it.
    page.goto("/login")
    expect(page.locator("#passkey-error")).to_contain_text("not registered here")
    assert page.evaluate("localStorage.getItem('access_token')") is None
    for _ in range(50):
        if not device.credentials():
            break
        page.wait_for_timeout(100)
    assert device.credentials() == []

    # Now nothing is left on this device: the button says so.
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.locator("#passkey-error")).to_contain_text("No passkey was used")
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_enabled()


def test_the_button_explains_a_refused_verification_then_signs_in(
    new_page: Callable[[], Page], api: httpx.Client
) -> None:
    """The person cancels, or fails the fingerprint: the browser says only "not
    allowed", and the page says what that can mean; the next try signs in."""
    page, _user, device = signed_in_with_a_device(new_page, api)
    add_passkey_on_account_page(page)
    log_out(page)

    def user_verifies(verified: bool) -> None:
        device.cdp.send(
            "WebAuthn.setUserVerified", {"authenticatorId": device.id, "isUserVerified": verified}
        )

    user_verifies(False)
    page.goto("/login")
    # The autofill's refusal is silent (nobody asked for it); once it has settled...
    block = page.locator("#passkey-sign-in")
    expect(block).to_be_visible()
    expect(block).to_have_attribute("data-autofill", "idle")
    expect(page.locator("#passkey-error")).to_be_hidden()
    # ...the button's is explained.
    button = page.get_by_role("button", name="Sign in with a passkey")
    button.click()
    expect(page.locator("#passkey-error")).to_contain_text("No passkey was used")
    assert page.evaluate("localStorage.getItem('access_token')") is None
    expect(block).to_have_attribute("data-autofill", "idle")  # offered again, refused again

    user_verifies(True)
    button.click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_at_an_ip_address_the_page_says_where_passkeys_work(
    new_page: Callable[[], Page], live_server: str
) -> None:
    page = new_page()
    Authenticator(page)
    page.goto(live_server.replace("localhost", "127.0.0.1") + "/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.locator("#passkey-error")).to_contain_text("work at localhost, not 127.0.0.1")
