"""OpenID Connect in Chromium, against the real provider (tests/oidc/provider.mjs): a
provider and a live Inkwell of this module's own, the provider knowing the live
server's callback address. The person's own steps at the provider are its development
login form (any login, any password) and its consent screen."""

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.test_accessibility import AXE, RUN_AXE
from tests.browser.test_step_up import SECRET_KEY, signed_in_long_ago, turn_on_2fa
from tests.helpers import Account, bearer, log_in_through_form, make_account, unique
from tests.live_server import LiveServer, free_port
from tests.mail_server import SMTPServer
from tests.oidc_server import OIDCProvider, running_provider

pytestmark = pytest.mark.browser

LABEL = "Test ID"
# What the provider's own pages put in the console: a web font they ask for (no network
# here) and their missing favicon.
PROVIDER_NOISE = r"fonts\.googleapis\.com|@ http://127\.0\.0\.1:\d+/favicon\.ico$"


@dataclass(frozen=True)
class Site:
    provider: OIDCProvider
    server: LiveServer


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, smtp_server: SMTPServer) -> Iterator[Site]:
    """The provider, started first with the live server's callback registered (the
    server's port chosen beforehand), then the live server with the provider "test"
    ("Test ID") configured: it reads the provider's discovery document as it starts."""
    port = free_port()
    callback = f"http://localhost:{port}/auth/oidc/test/callback"
    with running_provider([callback]) as provider:
        server = LiveServer(
            tmp_path_factory.mktemp("oidc"),
            smtp_port=smtp_server.port,
            name="localhost",
            port=port,
            env={
                "SECRET_KEY": SECRET_KEY,  # so that a TOTP secret can be sealed here
                "OIDC_PROVIDERS": "test",
                "OIDC_TEST_ISSUER": provider.issuer,
                "OIDC_TEST_CLIENT_ID": provider.client_id,
                "OIDC_TEST_CLIENT_SECRET": provider.client_secret,
                "OIDC_TEST_LABEL": LABEL,
            },
        )
        try:
            server.wait_until_ready()
            yield Site(provider, server)
        finally:
            server.stop()


@pytest.fixture(scope="module")
def live_server(site: Site) -> str:
    return site.server.base_url


@pytest.fixture(autouse=True)
def provider_noise(console) -> None:
    console.allow(PROVIDER_NOISE)


def at_provider(page: Page, site: Site, login: str) -> None:
    """What the person does at the provider: its login form, then its consent."""
    expect(page).to_have_url(re.compile(re.escape(site.provider.issuer) + "/interaction/"))
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("anything")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()


def continue_with_provider(page: Page, site: Site, login: str, start: str) -> None:
    """From `start` (a login or register page), "Continue with Test ID" and the
    provider's steps."""
    page.goto(start)
    page.get_by_role("link", name=f"Continue with {LABEL}").click()
    at_provider(page, site, login)


def me(page: Page, api: httpx.Client) -> dict:
    """/api/users/me with the access token this page holds."""
    token = page.evaluate("localStorage.getItem('access_token')")
    assert token, "no access token in the page"
    response = api.get("/api/users/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


def signed_in_mark(page: Page) -> bool:
    return any(cookie["name"] == "inkwell_signed_in" for cookie in page.context.cookies())


def new_provider_account(page: Page, site: Site, api: httpx.Client, next_path: str) -> Account:
    """A new account made through the provider from the login page, landed on
    `next_path` signed in (the navbar shows it). Its login at the provider is its
    username there, and its email <login>@example.com."""
    login = unique("reader")
    continue_with_provider(page, site, login, f"/login?next={next_path}")
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))
    expect(page.locator("#nav-username")).to_have_text(login)
    user = me(page, api)
    return Account(id=user["id"], username=user["username"], email=user["email"], password="")


def test_the_buttons_carry_next_and_show_only_with_a_provider(page: Page) -> None:
    for start in ("/login?next=/search%3Fq%3Da%26b", "/register?next=/search%3Fq%3Da%26b"):
        page.goto(start)
        button = page.get_by_role("link", name=f"Continue with {LABEL}")
        expect(button).to_have_count(1)
        # `next` whole, as one query value (its "&" is not a parameter of the start URL).
        expect(button).to_have_attribute("href", "/auth/oidc/test/start?next=/search%3Fq%3Da%26b")
    page.goto("/login")
    expect(page.get_by_role("link", name=f"Continue with {LABEL}")).to_have_attribute(
        "href", "/auth/oidc/test/start"
    )


def test_a_new_account_through_the_provider_lands_signed_in_on_next(
    page: Page, site: Site, api: httpx.Client
) -> None:
    login = unique("newbie")
    continue_with_provider(page, site, login, "/register?next=/search")
    expect(page).to_have_url(re.compile(r"/search$"))
    expect(page.locator("#nav-username")).to_have_text(login)
    user = me(page, api)
    assert user["email"] == f"{login}@example.com"
    assert user["email_verified"] is True
    assert user["has_password"] is False
    # The mark said its piece once, and is gone.
    assert not signed_in_mark(page)

    # The home page, opened afresh, still knows who this is (the access token stays).
    page.goto("/")
    expect(page.locator("#nav-username")).to_have_text(login)

    # The account page: no password yet, and how to get one; the session's method.
    page.goto("/account")
    expect(page.locator("#sign-in-methods")).to_be_visible()
    expect(page.locator("#sign-in-methods-no-password")).to_contain_text("Forgot your password?")
    expect(page.locator("#sessions-list .session-method")).to_have_text(f"Signed in with {LABEL}")
    expect(page.locator("#security-list .security-event").first).to_have_text(
        re.compile(f"^Signed in with {LABEL}")
    )


def test_an_account_with_2fa_is_asked_for_its_code_after_the_provider(
    new_page, site: Site, api: httpx.Client, console
) -> None:
    first = new_page()
    account = new_provider_account(first, site, api, "/")
    secret = turn_on_2fa(site.server, account)

    page = new_page()  # another browser: the provider asks for the login again too
    continue_with_provider(page, site, account.username, "/login?next=/search")
    code = page.get_by_label("Code from the app")
    expect(code).to_be_visible()
    expect(code).to_be_focused()
    expect(page.locator("#mfa-provider-note")).to_contain_text(f"{LABEL} has confirmed")
    expect(page.locator("#login-form")).to_be_hidden()
    expect(page.get_by_role("link", name=f"Continue with {LABEL}")).to_be_hidden()
    # The address is the login page's (a reload never replays the callback), and the
    # token is in no URL and no longer in the markup.
    expect(page).to_have_url(re.compile(r"/login\?next=/search$"))
    assert page.locator("[data-mfa-token]").count() == 0
    assert not page.evaluate("localStorage.getItem('access_token')")
    expect(page.locator("#nav-guest")).to_be_visible()

    console.allow(r"status of 401 .*/api/users/token/mfa$")  # the wrong code, on purpose
    code.fill("000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#mfa-error")).to_be_visible()

    code.fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/search$"))
    expect(page.locator("#nav-username")).to_have_text(account.username)

    page.goto("/account")
    expect(page.locator("#sessions-list [data-current] .session-method")).to_have_text(
        f"Signed in with {LABEL} (and a code)"
    )


def test_linking_from_the_account_page_then_unlinking(
    page: Page, site: Site, api: httpx.Client
) -> None:
    user = make_account(api)
    log_in_through_form(page, user, "/account")
    section = page.locator("#sign-in-methods")
    expect(section).to_be_visible()
    expect(page.locator("#sign-in-methods-empty")).to_be_visible()
    expect(page.locator("#sign-in-methods-no-password")).to_be_hidden()

    page.get_by_role("button", name=f"Link {LABEL}").click()
    login = unique("linked")
    at_provider(page, site, login)
    expect(page).to_have_url(re.compile(r"/account#sign-in-methods$"))
    item = page.locator("#sign-in-methods-list li")
    expect(item).to_have_count(1)
    expect(item.locator(".session-device")).to_have_text(LABEL)
    expect(item.locator(".session-detail")).to_contain_text(f"{login}@example.com")
    expect(page.get_by_role("button", name=f"Link {LABEL}")).to_be_hidden()
    expect(page.locator("#security-list .security-event").first).to_have_text(
        re.compile(f"^{LABEL} can now sign in to your account")
    )
    identities = api.get("/api/users/me/identities", headers=user.headers).json()
    assert [identity["subject"] for identity in identities] == [login]

    # Signing in with the provider now reaches this account, in another browser.
    other = page.context.browser.new_context(base_url=site.server.base_url)
    try:
        elsewhere = other.new_page()
        continue_with_provider(elsewhere, site, login, "/login?next=/account")
        expect(elsewhere.locator("#nav-username")).to_have_text(user.username)
    finally:
        other.close()

    item.get_by_role("button", name="Unlink").click()
    expect(page.locator("#sign-in-methods-success")).to_have_text(
        f"{LABEL} no longer signs in to your account."
    )
    expect(item).to_have_count(0)
    expect(page.locator("#sign-in-methods-empty")).to_be_visible()
    expect(page.get_by_role("button", name=f"Link {LABEL}")).to_be_focused()
    expect(page.locator("#security-list .security-event").first).to_have_text(
        re.compile(f"^{LABEL} no longer signs in to your account")
    )
    assert api.get("/api/users/me/identities", headers=user.headers).json() == []


def test_the_last_way_to_sign_in_is_not_unlinked(
    page: Page, site: Site, api: httpx.Client, console
) -> None:
    console.allow(r"status of 409 .*/api/users/me/identities/\d+$")  # the refusal
    new_provider_account(page, site, api, "/account")
    item = page.locator("#sign-in-methods-list li")
    expect(item).to_have_count(1)
    item.get_by_role("button", name="Unlink").click()
    error = page.locator("#sign-in-methods-error")
    expect(error).to_contain_text("only way left to sign in to your account")
    expect(error).to_contain_text("Forgot your password?")
    expect(page.locator("#sign-in-methods-success")).to_be_hidden()
    expect(item).to_have_count(1)  # still linked
    expect(item.get_by_role("button", name="Unlink")).to_be_enabled()


def test_an_email_with_an_account_is_refused_without_signing_in(
    page: Page, site: Site, api: httpx.Client, console
) -> None:
    console.allow(r"status of 409")  # the refusal page's own status
    login = unique("taken")
    make_account(api, email=f"{login}@example.com")
    continue_with_provider(page, site, login, "/login?next=/search")
    card = page.locator("#oidc-error")
    expect(card).to_have_attribute("data-code", "oidc_email_in_use")
    expect(page.locator("#error-message")).to_contain_text(f"link {LABEL} from your account page")
    expect(page.locator("#nav-guest")).to_be_visible()
    assert not page.evaluate("localStorage.getItem('access_token')")
    assert not signed_in_mark(page)
    refresh = page.request.post("/api/users/token/refresh")
    assert refresh.status == 401  # this browser has no session either


def test_cancelling_at_the_provider_then_trying_again(
    page: Page, site: Site, api: httpx.Client, console
) -> None:
    console.allow(r"status of 400")  # the error page's own status
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto("/login?next=/search")
    page.get_by_role("link", name=f"Continue with {LABEL}").click()
    expect(page).to_have_url(re.compile(re.escape(site.provider.issuer) + "/interaction/"))
    page.get_by_role("link", name="[ Cancel ]").click()

    expect(page.locator("#oidc-error")).to_have_attribute("data-code", "oidc_access_denied")
    expect(page.get_by_role("heading", level=1)).to_have_text("Signing in did not work")
    expect(page.locator("#error-message")).to_contain_text("was cancelled")
    expect(page.locator("#nav-guest")).to_be_visible()
    retry = page.get_by_role("link", name=f"Try {LABEL} again")
    other_way = page.get_by_role("link", name="Log in another way")
    # Side by side, styled by the stylesheet (the page's CSP allows no inline style).
    retry_box, other_box = retry.bounding_box(), other_way.bounding_box()
    assert retry_box
    assert other_box
    assert abs(retry_box["y"] - other_box["y"]) < 2
    assert retry_box["x"] + retry_box["width"] <= other_box["x"]
    assert page.locator("[style]").count() == 0

    retry.click()
    login = unique("retry")
    at_provider(page, site, login)
    expect(page).to_have_url(re.compile(r"/search$"))
    expect(page.locator("#nav-username")).to_have_text(login)


def test_a_stale_session_confirms_it_is_you_through_the_provider(
    page: Page, site: Site, api: httpx.Client, console
) -> None:
    """A provider-only account (no password to type) on a session that signed in long
    ago: the step-up dialog offers the provider alone; after it, the page is back and
    the change goes through."""
    console.allow(r"status of 401 .*/api/users/\d+$")  # the step-up, as designed
    account = new_provider_account(page, site, api, "/account")
    signed_in_long_ago(site.server, account)
    page.reload()
    new_email = f"new.{account.email}"
    page.locator("#profile-email").fill(new_email)
    page.get_by_role("button", name="Save profile").click()
    dialog = page.get_by_role("dialog", name="Confirm it is you")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Your password")).to_be_hidden()
    expect(dialog.get_by_role("button", name="Confirm")).to_be_hidden()
    expect(dialog).to_contain_text("This page will open again")
    button = dialog.get_by_role("button", name=f"Continue with {LABEL}")
    expect(button).to_be_focused()

    # To the provider, which asks to sign in again (prompt=login) although this browser
    # is still signed in there, and back.
    button.click()
    expect(page).to_have_url(re.compile(re.escape(site.provider.issuer) + "/interaction/"))
    page.locator("input[name=login]").fill(account.username)
    page.locator("input[name=password]").fill("anything")
    page.get_by_role("button", name="Sign-in").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("#account-username")).to_have_text(account.username)
    page.locator("#profile-email").fill(new_email)
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#profile-success")).to_have_text("Profile saved.")
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.locator("#security-list .security-event").first).to_contain_text("Email")


def test_with_2fa_the_dialog_asks_the_code_before_the_provider(
    page: Page, site: Site, api: httpx.Client, console
) -> None:
    """A provider-only account with 2FA: the dialog asks for the code with the provider
    (the code is checked first, the provider does the rest), and the change goes
    through once the page is back."""
    console.allow(r"status of 401 .*/api/users/\d+$")  # the step-up, as designed
    account = new_provider_account(page, site, api, "/account")
    secret = turn_on_2fa(site.server, account)
    signed_in_long_ago(site.server, account)
    page.reload()
    new_email = f"new.{account.email}"
    page.locator("#profile-email").fill(new_email)
    page.get_by_role("button", name="Save profile").click()
    dialog = page.get_by_role("dialog", name="Confirm it is you")
    expect(dialog).to_be_visible()
    code = dialog.get_by_label("Code from your authenticator app")
    expect(code).to_be_visible()
    button = dialog.get_by_role("button", name=f"Continue with {LABEL}")
    button.click()  # no code yet: said, and nowhere to go
    expect(dialog.locator("#reauth-error")).to_contain_text("code from your authenticator app")
    expect(code).to_be_focused()

    code.fill(pyotp.TOTP(secret).now())
    button.click()
    expect(page).to_have_url(re.compile(re.escape(site.provider.issuer) + "/interaction/"))
    page.locator("input[name=login]").fill(account.username)
    page.locator("input[name=password]").fill("anything")
    page.get_by_role("button", name="Sign-in").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    page.locator("#profile-email").fill(new_email)
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#profile-success")).to_have_text("Profile saved.")
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_a_password_account_keeps_its_password_in_the_dialog(
    page: Page, site: Site, api: httpx.Client, console
) -> None:
    """With a provider linked, the dialog offers it beside the password, which works
    as before."""
    console.allow(r"status of 401 .*/api/users/me/sessions$")  # the step-up
    user = make_account(api)
    log_in_through_form(page, user, "/account")
    page.get_by_role("button", name=f"Link {LABEL}").click()
    at_provider(page, site, unique("both"))
    expect(page.locator("#sign-in-methods-list li")).to_have_count(1)
    # A second session, so that "Log out everywhere else" shows; then a stale one.
    make_account_session = api.post(
        "/api/users/token", data={"username": user.email, "password": user.password}
    )
    assert make_account_session.status_code == 200
    signed_in_long_ago(site.server, user)
    page.reload()
    page.get_by_role("button", name="Log out everywhere else").click()
    dialog = page.get_by_role("dialog", name="Confirm it is you")
    expect(dialog.get_by_role("button", name=f"Continue with {LABEL}")).to_be_visible()
    dialog.get_by_label("Your password").fill(user.password)
    dialog.get_by_role("button", name="Confirm").click()
    expect(page.locator("#sessions-success")).to_have_text("Logged out everywhere else.")


def test_provider_methods_and_events_read_as_sentences(page: Page, api: httpx.Client) -> None:
    """account-security.js's words for what the security log and the sessions list
    say: the provider's label where the page knows it (the account page lists the
    configured providers), else its name."""
    user = make_account(api)
    log_in_through_form(page, user, "/account")
    expect(page.get_by_role("button", name=f"Link {LABEL}")).to_be_visible()
    sentences = page.evaluate(
        """async (events) => {
          const { eventSentence } = await import("/static/js/account-security.js");
          return events.map(([type, detail]) => eventSentence({ type, detail }));
        }""",
        [
            ["sign_in", "oidc:test"],
            ["sign_in", "oidc:test+totp"],
            ["sign_in", "oidc:test+recovery_code"],
            ["reauthenticated", "oidc:test"],
            ["sign_in", "oidc:gone-provider"],
            ["identity_linked", "test"],
            ["identity_unlinked", "gone-provider"],
            ["sign_in", "password"],
        ],
    )
    assert sentences == [
        f"Signed in with {LABEL}",
        f"Signed in with {LABEL} (and a code)",
        f"Signed in with {LABEL} (and a recovery code)",
        f"Confirmed it was you with {LABEL}",
        "Signed in with gone-provider",
        f"{LABEL} can now sign in to your account",
        "gone-provider no longer signs in to your account",
        "Signed in with a password",
    ]


def test_no_serious_accessibility_violations(
    browser: Browser, live_server: str, site: Site, api: httpx.Client
) -> None:
    """The login page with its provider, and the account page's section with a linked
    provider and the no-password note (axe is injected: the CSP is bypassed)."""
    context = browser.new_context(base_url=live_server, bypass_csp=True, reduced_motion="reduce")
    context.set_default_timeout(5_000)
    try:
        page = context.new_page()
        page.goto("/login")
        expect(page.get_by_role("link", name=f"Continue with {LABEL}")).to_be_visible()
        page.add_script_tag(content=AXE)
        found = [f"/login: {problem}" for problem in page.evaluate(RUN_AXE)]

        new_provider_account(page, site, api, "/account")
        expect(page.locator("#sign-in-methods-list li")).to_have_count(1)
        expect(page.locator("#sign-in-methods-no-password")).to_be_visible()
        page.add_script_tag(content=AXE)
        found += [f"/account: {problem}" for problem in page.evaluate(RUN_AXE)]
    finally:
        context.close()
    assert found == []
