"""The admin page in Chromium: exactly the 404 page for guests and members, and for an
admin (made by `manage promote`) the accounts, searched by the GET form, suspended and
restored with the buttons, and the log; axe-core finds nothing serious on it."""

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

import manage
from tests.browser.test_accessibility import AXE, RUN_AXE, THEME_RULES
from tests.helpers import Account, create_post, make_account, settings_changed, sign_in
from tests.live_server import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live Inkwell of this module's own: the test reaches its database (manage.py)."""
    server = LiveServer(tmp_path_factory.mktemp("admin"))
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live_server(server: LiveServer) -> str:
    return server.base_url


def promote(server: LiveServer, account: Account) -> None:
    """`python -m manage promote EMAIL` against the live server's database."""
    with settings_changed(database_url=server.database_url), ThreadPoolExecutor(1) as pool:
        assert pool.submit(manage.main, ["promote", account.email]).result() == 0


@pytest.fixture(scope="module")
def people(server: LiveServer) -> dict[str, Account]:
    with httpx.Client(base_url=server.base_url, timeout=10) as api:
        admin = make_account(api, "Chief")
        member = make_account(api, "Member")
        writer = make_account(api, "Troublemaker")
        create_post(api, writer, "Something to hide", "Words.")
    promote(server, admin)
    return {"admin": admin, "member": member, "writer": writer}


def not_found_text(page: Page) -> str:
    page.goto("/no-such-page")
    return page.locator("main").inner_text()


def test_guests_and_members_see_exactly_the_404_page(page: Page, people, console):
    console.allow(r"status of 404 .*/no-such-page")
    expected = not_found_text(page)
    page.goto("/admin")
    expect(page.locator("#error-card")).to_be_visible()
    assert page.locator("main").inner_text() == expected
    assert page.title() == "Page not found · Inkwell"
    assert page.locator('meta[name="robots"]').get_attribute("content") == "noindex"

    sign_in(page, people["member"])
    page.goto("/admin")
    expect(page.locator("#error-card")).to_be_visible()
    assert page.locator("main").inner_text() == expected
    expect(page.locator("#nav-username-text")).to_have_text("Member")
    expect(page.locator("#nav-admin")).to_be_hidden()


def test_an_admin_searches_suspends_and_restores_an_account(page: Page, api, people):
    admin, writer = people["admin"], people["writer"]
    post = api.get("/api/posts").json()["items"][0]
    sign_in(page, admin)
    page.goto("/")
    expect(page.locator("#nav-admin")).to_be_visible()
    page.locator("#nav-admin").click()
    expect(page).to_have_url(re.compile(r"/admin$"))
    expect(page.locator("#admin-console")).to_be_visible()
    expect(page.locator("#admin-accounts-list tr")).to_have_count(3)

    page.get_by_label("Search accounts by username or email").fill("TROUBLE")
    page.locator("#admin-search").get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/admin\?q=TROUBLE$"))
    rows = page.locator("#admin-accounts-list tr")
    expect(rows).to_have_count(1)
    row = rows.first
    expect(row).to_contain_text("Troublemaker")
    expect(row).to_contain_text(writer.email)
    expect(row.locator(".status-badge")).to_have_text("Active")

    row.get_by_role("button", name="Suspend Troublemaker").click()
    expect(row.locator(".status-badge")).to_have_text("Suspended")
    restore = row.get_by_role("button", name="Restore Troublemaker")
    expect(restore).to_be_enabled()
    expect(page.locator("#admin-log-list li").first).to_contain_text("Chief suspended Troublemaker")
    assert api.get(f"/api/posts/{post['id']}").status_code == 404
    assert api.get("/api/users/me", headers=writer.headers).status_code == 401

    restore.click()
    expect(row.locator(".status-badge")).to_have_text("Active")
    expect(page.locator("#admin-log-list li").first).to_contain_text("Chief restored Troublemaker")
    assert api.get(f"/api/posts/{post['id']}").status_code == 200


def test_a_refusal_shows_beside_its_button(page: Page, people, console):
    """The only admin suspending themselves: the API's 409, said in the row."""
    console.allow(r"status of 409 .*/suspension")
    sign_in(page, people["admin"])
    page.goto("/admin?q=chief")
    row = page.locator("#admin-accounts-list tr").first
    row.get_by_role("button", name="Suspend Chief").click()
    expect(row.get_by_role("alert")).to_contain_text("would leave no admin")
    expect(row.locator(".status-badge")).to_have_text("Active")
    expect(row.get_by_role("button", name="Suspend Chief")).to_be_enabled()


def test_no_serious_violations_on_the_admin_page(browser: Browser, live_server: str, people):
    context = browser.new_context(base_url=live_server, bypass_csp=True, reduced_motion="reduce")
    try:
        page = context.new_page()
        page.goto("/login")
        page.evaluate("localStorage.setItem('theme', 'light')")
        sign_in(page, people["admin"])
        page.goto("/admin")
        expect(page.locator("#admin-accounts-list tr").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        page.add_script_tag(content=AXE)
        found = [f"light: {problem}" for problem in page.evaluate(RUN_AXE)]
        page.get_by_role("button", name="Dark theme").click()
        found += [f"dark: {problem}" for problem in page.evaluate(RUN_AXE, THEME_RULES)]
        assert found == [], "\n".join(found)
    finally:
        context.close()
