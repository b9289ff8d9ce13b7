"""Registering, logging in and out, the navbar, and where `?next=` may lead."""

import re

import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import ConsoleWatch
from tests.helpers import STRONG_PASSWORD, fill_login_form, sign_up, unique

pytestmark = pytest.mark.browser


def test_register_blocks_mismatched_passwords_then_creates_the_account(page: Page) -> None:
    sent: list[Request] = []
    page.on(
        "request",
        lambda request: (
            sent.append(request)
            if request.method == "POST" and request.url.endswith("/api/users")
            else None
        ),
    )
    page.goto("/register?next=/account")
    username = unique("newbie")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{unique('new')}@example.com")
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    confirm = page.get_by_label("Confirm password")
    confirm.fill(STRONG_PASSWORD + "!")
    page.get_by_role("button", name="Register").click()

    expect(page.locator("#register-confirm:invalid")).to_have_count(1)
    assert confirm.evaluate("el => el.validationMessage") == "Passwords do not match"
    assert sent == []
    # Exactly one sign-up is ever sent (asserted at the end): a request from this refused
    # submit would have been sent before it, and counted.
    expect(page).to_have_url(re.compile(r"/register\?next=/account$"))

    confirm.fill(STRONG_PASSWORD)
    expect(page.locator("#register-confirm:invalid")).to_have_count(0)
    page.get_by_role("button", name="Register").click()

    # Signed in at once, and on to `next`: no second form to fill in.
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("#account-username")).to_have_text(username)
    expect(page.locator("#nav-username")).to_have_text(username)
    assert len(sent) == 1


def test_register_shows_the_api_error_inline(page: Page, api, console: ConsoleWatch) -> None:
    console.allow(r"status of 409")
    taken = sign_up(api)
    page.goto("/register")
    page.get_by_label("Username").fill(taken.username)
    page.get_by_label("Email").fill(f"{unique('other')}@example.com")
    page.get_by_label("Password", exact=True).fill(STRONG_PASSWORD)
    page.get_by_label("Confirm password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Register").click()
    # At the field it concerns: marked invalid, described by the message, focused.
    field = page.get_by_label("Username")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#register-username-error")).to_have_text("Username already exists")
    expect(field).to_have_accessible_description("Username already exists")
    expect(field).to_be_focused()
    expect(page.locator("#register-error")).to_be_hidden()
    field.fill(unique("fresh"))  # editing the field clears its error
    expect(field).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#register-username-error")).to_be_hidden()


def test_login_new_post_and_logout(page: Page, api) -> None:
    user = sign_up(api)
    page.goto("/login")
    nav_user, nav_guest = page.locator("#nav-user"), page.locator("#nav-guest")
    expect(nav_guest).to_be_visible()
    expect(nav_user).to_be_hidden()
    fill_login_form(page, user.email, user.password)

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#nav-username")).to_have_text(user.username)
    expect(page.get_by_role("link", name="New Post")).to_be_visible()
    expect(nav_guest).to_be_hidden()

    page.get_by_role("link", name="New Post").click()
    expect(page).to_have_url(re.compile(r"/write$"))
    page.get_by_label("Title").fill("My first post")
    page.get_by_label("Content", exact=True).fill("Line one.\n\nLine three, after a blank line.")
    page.get_by_role("button", name="Publish").click()

    expect(page).to_have_url(re.compile(r"/posts/\d+/my-first-post$"))
    expect(page.locator("#post-title")).to_have_text("My first post")
    content = page.locator("#post-content")
    # Markdown: a blank line starts a new paragraph.
    expect(content.locator("p")).to_have_text(["Line one.", "Line three, after a blank line."])
    expect(page.locator("#post .author-name")).to_have_text(user.username)

    page.goto("/")
    card = page.locator("article.post-card", has_text="My first post")
    expect(card).to_have_count(1)
    expect(card).to_have_attribute("data-author-id", str(user.id))

    page.get_by_role("button", name="Log out").click()
    expect(nav_guest).to_be_visible()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    expect(page.get_by_role("link", name="Register")).to_be_visible()
    expect(nav_user).to_be_hidden()
    assert page.evaluate("localStorage.getItem('access_token')") is None


def test_wrong_password_shows_the_generic_error(page: Page, api, console: ConsoleWatch) -> None:
    console.allow(r"status of 401")
    user = sign_up(api)
    page.goto("/login")
    fill_login_form(page, user.email, "not-the-right-password")
    expect(page.get_by_role("alert")).to_have_text("Incorrect email or password")
    expect(page).to_have_url(re.compile(r"/login$"))
    assert page.evaluate("localStorage.getItem('access_token')") is None


def test_account_needs_login_and_next_brings_you_back(page: Page, api) -> None:
    user = sign_up(api)
    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/login\?next=/account$"))
    fill_login_form(page, user.email, user.password)
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("#account-email")).to_have_text(user.email)


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example"])
def test_foreign_next_lands_on_home(page: Page, api, live_server: str, target: str) -> None:
    user = sign_up(api)
    page.goto(f"/login?next={target}")
    fill_login_form(page, user.email, user.password)
    expect(page).to_have_url(f"{live_server}/")


def test_safe_next_rules(page: Page) -> None:
    page.goto("/login")
    results = page.evaluate(
        """async (values) => {
            const { safeNext } = await import('/static/js/navigation.js');
            return values.map((value) => safeNext(value));
        }""",
        [
            "/account",
            "/posts/3?x=1#top",
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "javascript:alert(1)",
            "/\t/evil.example",
            "account",
            "",
            None,
        ],
    )
    assert results == ["/account", "/posts/3?x=1#top"] + ["/"] * 8
