"""The admin page in Chromium: exactly the 404 page for guests and members, and for an
admin (made by `manage promote`) the comments waiting for approval and the reported
ones, the accounts, searched by the GET form, suspended and restored with the buttons,
and the log; axe-core finds nothing serious on it, its sections filled."""

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

import manage
from tests.browser.test_accessibility import AXE, RUN_AXE, THEME_RULES, comment, verify
from tests.helpers import Account, create_post, make_account, settings_changed, sign_in
from tests.live_server import LiveServer
from tests.mail_server import SMTPServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, smtp_server: SMTPServer
) -> Iterator[LiveServer]:
    """A live Inkwell of this module's own: the test reaches its database (manage.py);
    its mail (commenters verify their address) goes to the test SMTP server."""
    server = LiveServer(tmp_path_factory.mktemp("admin"), smtp_port=smtp_server.port)
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


def moderation_work(api: httpx.Client, smtp_server: SMTPServer, tag: str) -> dict[str, int]:
    """A post by a verified author, a newcomer's first comment on it (waiting for
    approval) and the author's own comment, reported by a third account."""
    author = verify(api, smtp_server, make_account(api, f"Gardener{tag}"))
    newcomer = verify(api, smtp_server, make_account(api, f"Newcomer{tag}"))
    reporter = make_account(api, f"Watchful{tag}")
    post = create_post(api, author, f"Tomatoes {tag}", "Words.")
    waiting = comment(api, post["id"], newcomer, f"A *first* comment {tag}")
    rude = comment(api, post["id"], author, f"Something rude {tag}")
    reported = api.post(
        f"/api/comments/{rude}/reports", json={"reason": "Very rude"}, headers=reporter.headers
    )
    assert reported.status_code == 202, reported.text
    return {"post": post["id"], "waiting": waiting, "rude": rude}


def test_an_admin_approves_a_waiting_comment_and_deletes_a_reported_one(
    page: Page, new_page, api, people, smtp_server: SMTPServer
):
    work = moderation_work(api, smtp_server, "A")
    sign_in(page, people["admin"])
    page.goto("/admin")

    waiting = page.locator("#admin-pending-list li").filter(has_text="first comment A")
    expect(waiting).to_contain_text("NewcomerA")
    expect(waiting.locator(".comment-content em")).to_have_text("first")
    link = waiting.get_by_role("link", name=re.compile("^Comment by NewcomerA on its post"))
    expect(link).to_have_attribute("href", f"/posts/{work['post']}#comment-{work['waiting']}")
    waiting.get_by_role("button", name="Approve the comment by NewcomerA").click()
    expect(waiting).to_have_count(0)
    expect(page.locator("#admin-pending-empty")).to_have_text("Nothing waiting.")
    expect(page.locator("#admin-log-list li").first).to_contain_text(
        "Chief approved a comment of NewcomerA"
    )
    guest = new_page()
    guest.goto(f"/posts/{work['post']}")
    expect(guest.locator(f"#comment-{work['waiting']}")).to_contain_text("A first comment A")

    reported = page.locator("#admin-reported-list li").filter(has_text="Something rude A")
    expect(reported.locator(".admin-report")).to_have_count(1)
    expect(reported.locator(".admin-report")).to_contain_text("WatchfulA: Very rude")
    delete = reported.get_by_role("button", name="Delete the comment by GardenerA")
    dialog = page.locator("#admin-delete-comment-dialog")
    delete.click()  # asks first: Cancel keeps it
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(reported).to_have_count(1)
    delete.click()
    dialog.get_by_role("button", name="Delete").click()
    expect(dialog).to_be_hidden()
    expect(reported).to_have_count(0)
    expect(page.locator("#admin-reported-empty")).to_have_text("No reports.")
    expect(page.locator("#admin-log-list li").first).to_contain_text(
        "Chief deleted a comment of GardenerA"
    )
    left = api.get(f"/api/posts/{work['post']}/comments").json()["items"]
    assert [item["id"] for item in left] == [work["waiting"]]


def test_an_admin_dismisses_the_reports_on_a_comment_and_keeps_it(
    page: Page, api, people, smtp_server
):
    work = moderation_work(api, smtp_server, "C")
    sign_in(page, people["admin"])
    page.goto("/admin")
    reported = page.locator("#admin-reported-list li").filter(has_text="Something rude C")
    reported.get_by_role("button", name="Dismiss reports on the comment by GardenerC").click()
    expect(reported).to_have_count(0)
    expect(page.locator("#admin-reported-empty")).to_have_text("No reports.")
    expect(page.locator("#admin-log-list li").first).to_contain_text(
        "Chief dismissed the reports on a comment of GardenerC"
    )
    kept = api.get(f"/api/posts/{work['post']}/comments").json()["items"]
    assert work["rude"] in [item["id"] for item in kept]


def test_more_waiting_comments_load_with_load_more(page: Page, api, people, smtp_server):
    author = make_account(api, "Popular")
    post = create_post(api, author, "Much discussed", "Words.")
    for n in range(5):  # five comments each: the per-minute limit
        newcomer = verify(api, smtp_server, make_account(api, f"Crowd{n}"))
        for m in range(5):
            comment(api, post["id"], newcomer, f"Crowd comment {n}-{m}")
    sign_in(page, people["admin"])
    page.goto("/admin")
    crowd = page.locator("#admin-pending-list li").filter(has_text="Crowd comment")
    expect(page.locator("#admin-pending-list li")).to_have_count(20)
    more = page.locator("#admin-pending-more")
    expect(more).to_be_visible()
    before = crowd.count()
    more.click()
    expect(crowd).to_have_count(25)
    assert before < 25
    expect(page.locator("#admin-pending-pager")).to_be_hidden()
    # Approved again through the API: the next test's comments are on the first page.
    headers = people["admin"].headers
    for item in api.get("/api/comments/pending?limit=100", headers=headers).json()["items"]:
        answer = api.post(f"/api/comments/{item['id']}/approval", headers=headers)
        assert answer.status_code == 204, answer.text


def test_no_serious_violations_on_the_admin_page(
    browser: Browser, live_server: str, api, people, smtp_server: SMTPServer
):
    moderation_work(api, smtp_server, "B")  # both moderation sections have an item
    context = browser.new_context(base_url=live_server, bypass_csp=True, reduced_motion="reduce")
    try:
        page = context.new_page()
        page.goto("/login")
        page.evaluate("localStorage.setItem('theme', 'light')")
        sign_in(page, people["admin"])
        page.goto("/admin")
        expect(page.locator("#admin-accounts-list tr").first).to_be_visible()
        expect(page.locator("#admin-pending-list li").filter(has_text="comment B")).to_be_visible()
        reported = page.locator("#admin-reported-list li").filter(has_text="rude B")
        expect(reported.locator(".admin-report")).to_have_count(1)
        page.wait_for_load_state("networkidle")
        page.add_script_tag(content=AXE)
        found = [f"light: {problem}" for problem in page.evaluate(RUN_AXE)]
        page.get_by_role("button", name="Dark theme").click()
        found += [f"dark: {problem}" for problem in page.evaluate(RUN_AXE, THEME_RULES)]
        assert found == [], "\n".join(found)
    finally:
        context.close()
