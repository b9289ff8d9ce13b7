"""Passkeys in Chromium, with its virtual authenticator (CDP's WebAuthn domain) standing
in for a laptop's fingerprint reader: add one on the account page, log out, sign in
with it; rename, remove; and what the pages say when it cannot work."""

import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from playwright.sync_api import CDPSession, Page, expect

from tests.browser.conftest import register, sign_in
from tests.live_server import LiveServer
from tests.mail_server import SMTPServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, smtp_server: SMTPServer) -> Iterator[str]:
    """Served as http://localhost:<port> (PUBLIC_URL too): WebAuthn refuses IP addresses."""
    server = LiveServer(
        tmp_path_factory.mktemp("passkeys"), smtp_port=smtp_server.port, name="localhost"
    )
    try:
        yield server.wait_until_ready()
    finally:
        server.stop()


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


def add_passkey_on_account_page(page: Page, password: str) -> None:
    page.goto("/account")
    page.get_by_role("button", name="Add a passkey").click()
    dialog = page.get_by_role("dialog", name="Add a passkey")
    dialog.get_by_label("Current password").fill(password)
    dialog.get_by_role("button", name="Continue").click()
    expect(page.locator("#passkeys-success")).to_contain_text("Passkey added")


def test_add_a_passkey_log_out_and_sign_in_with_it(
    new_page: Callable[[], Page], api: httpx.Client
) -> None:
    page = new_page()
    user = register(api)
    device = Authenticator(page)
    sign_in(page, api, user)

    add_passkey_on_account_page(page, user.password)
    item = page.locator("#passkeys-list li")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Chrome on Linux")
    expect(item).to_contain_text("never used yet")
    [credential] = device.credentials()
    assert credential["isResidentCredential"] is True
    assert credential["rpId"] == "localhost"

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    assert page.evaluate("localStorage.getItem('access_token')") is None

    page.goto("/login?next=/account")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("#account-username")).to_have_text(user.username)
    expect(page.locator("#passkeys-list li")).to_contain_text("last used")
    assert page.evaluate("localStorage.getItem('access_token')")
    # A real session: its refresh cookie renews the token.
    renewed = page.evaluate(
        "fetch('/api/users/token/refresh', {method: 'POST'}).then((r) => r.status)"
    )
    assert renewed == 200


def test_rename_and_remove_then_the_device_passkey_is_refused(
    new_page: Callable[[], Page], api: httpx.Client
) -> None:
    page = new_page()
    user = register(api)
    Authenticator(page)
    sign_in(page, api, user)
    add_passkey_on_account_page(page, user.password)

    page.get_by_role("button", name="Rename").click()
    dialog = page.get_by_role("dialog", name="Rename passkey")
    dialog.get_by_label("Name").fill("Work laptop")
    dialog.get_by_role("button", name="Save").click()
    expect(page.locator("#passkeys-list li")).to_contain_text("Work laptop")

    page.get_by_role("button", name="Remove").click()
    page.get_by_role("button", name="Remove passkey").click()
    expect(page.locator("#passkeys-success")).to_contain_text("removed")
    expect(page.locator("#passkeys-empty")).to_be_visible()

    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    page.goto("/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.locator("#passkey-error")).to_contain_text("not registered here")
    assert page.evaluate("localStorage.getItem('access_token')") is None


def test_a_wrong_password_adds_nothing(new_page: Callable[[], Page], api: httpx.Client) -> None:
    page = new_page()
    user = register(api)
    device = Authenticator(page)
    sign_in(page, api, user)
    page.goto("/account")
    page.get_by_role("button", name="Add a passkey").click()
    dialog = page.get_by_role("dialog", name="Add a passkey")
    dialog.get_by_label("Current password").fill("not my password")
    dialog.get_by_role("button", name="Continue").click()
    expect(dialog.locator("#add-passkey-error")).to_have_text("Current password is incorrect")
    assert device.credentials() == []


def test_no_passkey_on_this_device_is_explained(new_page: Callable[[], Page]) -> None:
    page = new_page()
    Authenticator(page)  # a device with no passkey for this site
    page.goto("/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.locator("#passkey-error")).to_contain_text("No passkey was used")
    expect(page.get_by_role("button", name="Sign in with a passkey")).to_be_enabled()


def test_at_an_ip_address_the_page_says_where_passkeys_work(
    new_page: Callable[[], Page], live_server: str
) -> None:
    page = new_page()
    Authenticator(page)
    page.goto(live_server.replace("localhost", "127.0.0.1") + "/login")
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.locator("#passkey-error")).to_contain_text("work at localhost, not 127.0.0.1")
