"""The frame of every page on a phone and without JavaScript: a header that fits,
focus never hidden under it, no navbar flash, forms that say what they are doing."""

import re
import time

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.browser.conftest import ConsoleWatch
from tests.helpers import create_post, fill_login_form, make_account, sign_in, sign_up, unique

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}
HEADER_MAX_PX = 100


def header_height(page: Page) -> float:
    return page.locator(".site-header").evaluate("el => el.getBoundingClientRect().height")


def no_horizontal_overflow(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("signed_in", [False, True], ids=["signed out", "signed in"])
def test_the_phone_header_fits_in_two_short_rows(page: Page, api, signed_in: bool) -> None:
    # A long name, as people choose them: nothing may be cut off or pushed aside.
    # (Its address is a short one: this test is about the name.)
    user = make_account(api, unique("MaximilianaVonLongname"), f"{unique('mail')}@example.com")
    page.set_viewport_size(PHONE)
    if signed_in:
        sign_in(page, user)
    for path in ["/", "/login", "/register"] + (["/account"] if signed_in else []):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert header_height(page) <= HEADER_MAX_PX, path
        assert no_horizontal_overflow(page), path
    page.goto("/")
    if not signed_in:
        expect(page.get_by_role("link", name="Log in")).to_be_visible()
        expect(page.get_by_role("link", name="Register")).to_be_visible()
        return
    # Signed in, the account actions wait behind one button.
    menu = page.get_by_role("button", name="Menu")
    expect(page.get_by_role("button", name="Log out")).to_be_hidden()
    menu.focus()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("link", name="New Post")).to_be_focused()
    username = page.get_by_role("link", name=user.username)
    expect(username).to_be_visible()
    assert username.evaluate("el => el.scrollWidth <= el.clientWidth")  # not cut off
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    assert header_height(page) <= HEADER_MAX_PX  # the panel floats over the page
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    expect(page.get_by_role("button", name="Log out")).to_be_hidden()
    menu.click()
    page.locator("main").click(position={"x": 5, "y": 300})  # a click elsewhere closes it
    expect(menu).to_have_attribute("aria-expanded", "false")


def test_focus_is_never_hidden_under_the_sticky_header(page: Page, api) -> None:
    user = make_account(api)
    for n in range(8):
        create_post(api, user, f"Tall page {n}", "A paragraph.\n\n" * 6)
    page.set_viewport_size(PHONE)
    page.goto(f"/users/{user.id}/posts")
    header_bottom = page.locator(".site-header").evaluate("el => el.getBoundingClientRect().bottom")
    titles = page.locator(".post-card .post-title a")
    for index in (2, 4, 6):
        # A link scrolled to just under the header's top edge, still inside the
        # window: the browser would not scroll to it unless told the header is there.
        target = titles.nth(index)
        target.evaluate("el => window.scrollBy(0, el.getBoundingClientRect().top - 10)")
        following = page.evaluate_handle(
            """(el) => {
              const all = [...document.querySelectorAll('a[href], button:not([disabled])')]
                .filter((x) => x.offsetParent !== null);
              return all[all.indexOf(el) + 1];
            }""",
            target.element_handle(),
        )
        following.evaluate("el => el.focus({ preventScroll: true })")
        page.keyboard.press("Shift+Tab")
        expect(target).to_be_focused()
        top = target.evaluate("el => el.getBoundingClientRect().top")
        assert top >= header_bottom, (index, top, header_bottom)


def test_the_navbar_shows_the_last_known_user_before_me_answers(page: Page, api) -> None:
    user = make_account(api)
    sign_in(page, user)
    page.goto("/")
    expect(page.locator("#nav-username")).to_have_text(user.username)

    held: list[Route] = []
    page.route("**/api/users/me", lambda route: held.append(route))
    page.goto(f"/users/{user.id}/posts", wait_until="domcontentloaded")
    # /api/users/me has not answered, yet the navbar is already the signed-in one.
    expect(page.locator("#nav-username")).to_have_text(user.username)
    expect(page.locator("#nav-guest")).to_be_hidden()
    assert page.evaluate("document.documentElement.dataset.auth") == "user"
    assert len(held) == 1  # still one request per page load
    held[0].continue_()
    page.unroute("**/api/users/me")


def test_a_signed_out_visitor_sees_log_in_at_once(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    expect(page.locator("#nav-user")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('last_user')") is None


def test_logging_out_forgets_the_last_known_user(page: Page, api) -> None:
    user = make_account(api)
    sign_in(page, user)
    page.goto("/")
    expect(page.locator("#nav-username")).to_have_text(user.username)
    assert user.username in page.evaluate("localStorage.getItem('last_user')")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    assert page.evaluate("localStorage.getItem('last_user')") is None


def test_forms_say_what_they_are_doing(page: Page, api) -> None:
    user = sign_up(api)
    held: list[Route] = []
    page.goto("/login")
    page.route("**/api/users/token", lambda route: held.append(route))
    fill_login_form(page, user.email, user.password)
    busy = page.locator("#login-submit")
    expect(busy).to_have_text("Logging in…")
    expect(busy).to_be_disabled()
    expect(busy).to_have_attribute("aria-busy", "true")
    # The button is busy before the request leaves, so the route may not hold it yet.
    deadline = time.monotonic() + 10
    while not held:
        assert time.monotonic() < deadline, "the login request never left"
        page.wait_for_timeout(20)
    held[0].continue_()
    expect(page).to_have_url(re.compile(r"/$"))


def test_a_failed_login_says_so_above_the_form_and_the_button_recovers(
    page: Page, api, console: ConsoleWatch
) -> None:
    console.allow(r"status of 401")
    user = sign_up(api)
    page.goto("/login")
    fill_login_form(page, user.email, "not the password")
    expect(page.locator("#login-error")).to_have_text("Incorrect email or password")
    button = page.locator("#login-submit")
    expect(button).to_have_text("Log in")
    expect(button).to_be_enabled()
    expect(button).not_to_have_attribute("aria-busy", "true")


def test_a_field_the_api_refuses_is_marked_at_the_field(
    page: Page, api, console: ConsoleWatch
) -> None:
    console.allow(r"status of 409")
    taken = sign_up(api)
    page.goto("/register")
    page.get_by_label("Username").fill(f"{taken.username}x")
    page.get_by_label("Email").fill(taken.email.upper())  # the same email, whatever its case
    page.get_by_label("Password", exact=True).fill(taken.password)
    page.get_by_label("Confirm password").fill(taken.password)
    page.get_by_role("button", name="Register").click()
    email = page.get_by_label("Email")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_accessible_description("Email already registered")
    expect(email).to_be_focused()
    expect(page.get_by_label("Username")).not_to_have_attribute("aria-invalid", "true")


def test_without_javascript_every_page_offers_log_in_and_no_form_posts(
    browser: Browser, live_server: str, api
) -> None:
    user = make_account(api)
    post = create_post(api, user, "Readable without scripts", "Plain words.")
    context = browser.new_context(base_url=live_server, java_script_enabled=False)
    try:
        page = context.new_page()
        navbar = page.get_by_role("navigation", name="Main")
        for path in ["/", f"/posts/{post['id']}", f"/users/{user.id}/posts", "/login"]:
            page.goto(path)
            expect(navbar.get_by_role("link", name="Log in")).to_be_visible()
            expect(navbar.get_by_role("link", name="Register")).to_be_visible()
            expect(page.locator("#nav-user")).to_be_hidden()
        for path, says in [
            ("/login", "Logging in needs JavaScript"),
            ("/register", "Registering needs JavaScript"),
            ("/account", "Your account page needs JavaScript"),
            ("/forgot-password", "This form needs JavaScript"),
            ("/reset-password?token=abc", "Choosing a new password needs JavaScript"),
            ("/verify-email?token=abc", "Verifying your address needs JavaScript"),
        ]:
            page.goto(path)
            expect(page.locator(".noscript-note")).to_contain_text(says)
        # Nothing can be sent: no request leaves, so no 405 or 5xx page either.
        requests: list[str] = []
        page.goto("/login")
        page.wait_for_load_state("networkidle")
        page.on("request", lambda request: requests.append(f"{request.method} {request.url}"))
        expect(page.get_by_label("Email")).to_be_disabled()
        expect(page.get_by_role("button", name="Log in")).to_be_disabled()
        # A click waits for any navigation it starts (a form's submission is one): with
        # no script on the page, that is the only request it could make.
        page.get_by_role("button", name="Log in").click(force=True)
        assert requests == []
    finally:
        context.close()
