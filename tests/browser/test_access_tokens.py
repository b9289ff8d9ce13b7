"""Personal access tokens on the account page: create one, copy its secret (shown
once), use it with httpx against the API, revoke it; axe-core finds nothing serious in
the section."""

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.test_accessibility import AXE, RUN_AXE
from tests.helpers import bearer, log_in_through_form, make_account

pytestmark = pytest.mark.browser


@pytest.fixture
def clipboard_page(browser: Browser, live_server: str) -> Iterator[Page]:
    """A page that may use the clipboard, and whose context lifts the CSP for the
    injected axe-core script alone."""
    context = browser.new_context(
        base_url=live_server,
        bypass_csp=True,
        permissions=["clipboard-read", "clipboard-write"],
    )
    context.set_default_timeout(5_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_create_copy_use_and_revoke_a_token(clipboard_page: Page, api: httpx.Client) -> None:
    page = clipboard_page
    user = make_account(api)
    log_in_through_form(page, user, "/account")
    expect(page.locator("#tokens-empty")).to_be_visible()

    # No scope chosen: the form says so and nothing is made.
    form = page.locator("#token-form")
    form.get_by_label("Name", exact=True).fill("Deploy bot")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#token-scope-posts-read:invalid")).to_have_count(1)
    expect(page.locator("#token-secret-box")).to_be_hidden()

    form.get_by_label(re.compile(r"^posts:read")).check()
    form.get_by_label(re.compile(r"^posts:write")).check()
    form.get_by_label("Expires").select_option("7")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#token-secret-box")).to_be_visible()
    expect(page.get_by_text("it will not be shown again")).to_be_visible()
    secret = page.locator("#token-secret").input_value()
    assert re.fullmatch(r"ink_[A-Za-z0-9_-]{43}", secret)
    page.get_by_role("button", name="Copy", exact=True).click()
    expect(page.locator("#tokens-success")).to_have_text("Token copied.")
    assert page.evaluate("navigator.clipboard.readText()") == secret

    tokens = page.locator("#tokens-list > li")
    expect(tokens).to_have_count(1)
    expect(tokens.nth(0)).to_contain_text("Deploy bot")
    expect(tokens.nth(0)).to_contain_text("posts:read, posts:write")
    expect(tokens.nth(0)).to_contain_text("never used yet")
    expect(tokens.nth(0)).to_contain_text("expires")

    # The token works from a script, on what its scopes cover only.
    made = api.post(
        "/api/posts", json={"title": "From a script", "content": "Hi"}, headers=bearer(secret)
    )
    assert made.status_code == 201, made.text
    assert api.get("/api/users/me", headers=bearer(secret)).json()["id"] == user.id
    refused = api.get("/api/users/me/sessions", headers=bearer(secret))
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"

    # Shown once: a reload lists it without its secret.
    page.reload()
    expect(tokens).to_have_count(1)
    expect(page.locator("#token-secret-box")).to_be_hidden()
    assert secret not in page.content()
    expect(tokens.nth(0)).not_to_contain_text("never used yet")

    page.add_script_tag(content=AXE)
    assert page.evaluate(RUN_AXE) == []

    tokens.nth(0).get_by_role("button", name="Revoke").click()
    dialog = page.get_by_role("dialog", name="Revoke “Deploy bot”?")
    expect(dialog).to_be_visible()
    assert page.evaluate(RUN_AXE) == []
    dialog.get_by_role("button", name="Revoke token").click()
    expect(page.locator("#tokens-success")).to_contain_text("revoked")
    expect(page.locator("#tokens-empty")).to_be_visible()
    assert api.get("/api/users/me", headers=bearer(secret)).status_code == 401
