"""The account page: change email and password, then delete the account (on a session
that signed in just now: tests/browser/test_step_up.py has the older ones)."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.helpers import create_post, fill_login_form, make_account, sign_in

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Correct-Staple-7-quartz!"


def test_change_email_password_then_delete_account(page: Page, api) -> None:
    user = make_account(api)
    post = create_post(api, user, "Soon to vanish", "Gone with the account")
    sign_in(page, user)
    page.goto("/account")
    expect(page.locator("#account-username")).to_have_text(user.username)
    expect(page.locator("#account-email")).to_have_text(user.email)

    # No page asks for a password it does not need: this session signed in just now.
    expect(page.locator('#account input[type="password"]')).to_have_count(2)  # new, confirm
    new_email = f"renamed.{user.email}"
    page.locator("#profile-email").fill(new_email)
    page.get_by_role("button", name="Save profile").click()
    expect(page.locator("#profile-success")).to_have_text("Profile saved.")
    expect(page.locator("#account-email")).to_have_text(new_email)
    expect(page.locator("#nav-username")).to_have_text(user.username)  # never the email

    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD + "?")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#confirm-new-password:invalid")).to_have_count(1)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    old_token = page.evaluate("localStorage.getItem('access_token')")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-success")).to_be_visible()
    expect(page.get_by_role("dialog")).to_have_count(0)  # never asked to confirm
    assert page.evaluate("localStorage.getItem('access_token')") != old_token
    page.reload()
    expect(page.locator("#nav-username")).to_have_text(user.username)  # the new token works

    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#nav-guest")).to_be_visible()
    page.goto("/login?next=/account")
    fill_login_form(page, new_email, NEW_PASSWORD)
    expect(page).to_have_url(re.compile(r"/account$"))

    page.get_by_role("button", name="Delete account").click()
    dialog = page.get_by_role("dialog", name="Delete your account?")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Delete my account").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#nav-guest")).to_be_visible()
    assert page.evaluate("localStorage.getItem('access_token')") is None
    expect(page.locator(f'article[data-post-id="{post["id"]}"]')).to_have_count(0)
    expect(page.get_by_text("Soon to vanish")).to_have_count(0)


def test_comment_mails_are_switched_off_and_on_from_the_account_page(page: Page, api) -> None:
    user = make_account(api)
    sign_in(page, user)
    page.goto("/account")
    switch = page.get_by_label("Mail me about comments")
    expect(switch).to_be_checked()
    switch.uncheck()
    page.locator("#mail-submit").click()
    expect(page.locator("#mail-success")).to_have_text("You will get no mails about comments.")
    me = api.get("/api/users/me", headers=user.headers).json()
    assert me["comment_mail"] is False
    page.reload()
    expect(switch).not_to_be_checked()
    switch.check()
    page.locator("#mail-submit").click()
    expect(page.locator("#mail-success")).to_have_text("You will get mails about comments.")
    assert api.get("/api/users/me", headers=user.headers).json()["comment_mail"] is True
