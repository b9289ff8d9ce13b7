"""What a form says when its request fails (forms.js): a network failure, a bug in the
page, and an API error placed at its field by the error's code, never by its text."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ConsoleWatch
from tests.helpers import fill_login_form, sign_up, unique

pytestmark = pytest.mark.browser

NETWORK_ERROR = "Could not reach the server. Check your connection and try again."
GENERIC_ERROR = "Something went wrong. Please try again."


def test_a_network_failure_says_the_server_could_not_be_reached(
    page: Page, api, console: ConsoleWatch
) -> None:
    console.allow(r"Failed to load resource|ERR_INTERNET_DISCONNECTED|ERR_FAILED")
    user = sign_up(api)
    page.goto("/login")
    page.route("**/api/users/token", lambda route: route.abort("internetdisconnected"))
    fill_login_form(page, user.email, user.password)
    expect(page.locator("#login-error")).to_have_text(NETWORK_ERROR)
    button = page.locator("#login-submit")
    expect(button).to_be_enabled()
    expect(button).to_have_text("Log in")

    page.unroute("**/api/users/token")
    button.click()
    expect(page).to_have_url(re.compile(r"/$"))


def test_a_bug_in_the_page_is_not_reported_as_a_network_failure(
    page: Page, api, console: ConsoleWatch
) -> None:
    # The login succeeds, then keeping its token throws a TypeError, as a programming
    # error would (fetch's own network failure is a TypeError too: it must not pass for one).
    console.allow(r"a bug in the page")
    user = sign_up(api)
    page.goto("/login")
    page.evaluate(
        """() => {
            Storage.prototype.setItem = function () {
                throw new TypeError("a bug in the page");
            };
        }"""
    )
    # Thrown again once the form is back, so that it shows in the console as what it is.
    with page.expect_event("pageerror") as thrown:
        fill_login_form(page, user.email, user.password)
    assert "a bug in the page" in str(thrown.value)
    error = page.locator("#login-error")
    expect(error).to_have_text(GENERIC_ERROR)
    expect(error).not_to_contain_text("Could not reach the server")
    button = page.locator("#login-submit")
    expect(button).to_be_enabled()
    expect(button).to_have_text("Log in")
    expect(button).not_to_have_attribute("aria-busy", "true")
    assert page.url.endswith("/login")


def test_an_error_goes_to_the_field_its_code_names_whatever_its_text(
    page: Page, api, console: ConsoleWatch
) -> None:
    console.allow(r"status of 409")
    page.goto("/register")
    answers = iter(
        [
            {"detail": "That address is in use", "code": "email_taken"},
            {"detail": "Username or so, a conflict", "code": "conflict"},
        ]
    )
    page.route("**/api/users", lambda route: route.fulfill(status=409, json=next(answers)))
    username = unique("writer")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill("correct horse battery staple 1")
    page.get_by_label("Confirm password").fill("correct horse battery staple 1")
    page.get_by_role("button", name="Register").click()
    email = page.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description("That address is in use")
    expect(email).to_be_focused()
    expect(page.locator("#register-error")).to_be_hidden()

    # A code no field owns goes above the form, though its text starts with a field's name.
    page.get_by_role("button", name="Register").click()
    expect(page.locator("#register-error")).to_have_text("Username or so, a conflict")
    expect(page.get_by_label("Username")).not_to_have_attribute("aria-invalid", "true")
    expect(email).not_to_have_attribute("aria-invalid", "true")
