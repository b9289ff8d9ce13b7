"""The account page's "Import posts": a zip chosen and sent, the count and the skipped
items shown (as text), the posts then in the author's list; axe-core finds nothing
serious in the section, its result shown, in either theme."""

import io
import zipfile
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ConsoleWatch
from tests.browser.test_totp import audit
from tests.helpers import make_account, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def audited_page(browser: Browser, live_server: str, console: ConsoleWatch) -> Iterator[Page]:
    """A page whose context lifts the CSP for the injected audit script only."""
    context = browser.new_context(base_url=live_server, bypass_csp=True, reduced_motion="reduce")
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    yield page
    context.close()
    assert console.unexpected() == []


def archive() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr(
            "blog/posts/kept.md",
            "---\ntitle: Imported from Hugo\ndate: 2020-02-03T04:05:06Z\n"
            "tags: [travel]\n---\nA trip, long ago.\n",
        )
        zipped.writestr("blog/posts/second.md", "# A Bear note\n\nWritten in Bear.\n")
        zipped.writestr(
            "blog/posts/<b>bad</b>.md", "---\ntitle: !!python/object:os.system x\n---\n"
        )
    return out.getvalue()


def test_import_a_zip_from_the_account_page(audited_page: Page, api) -> None:
    page = audited_page
    user = make_account(api)
    sign_in(page, user)
    page.goto("/account")
    section = page.locator("section", has=page.get_by_role("heading", name="Import posts"))
    section.get_by_label("Archive or Markdown file").set_input_files(
        {"name": "blog.zip", "mimeType": "application/zip", "buffer": archive()}
    )
    section.get_by_label("Publish imported posts").check()
    section.get_by_role("button", name="Import").click()
    expect(page.locator("#import-summary")).to_have_text(
        "Imported 2 posts. Not imported or changed: 1 item, listed below."
    )
    skipped = page.locator("#import-skipped > li")
    expect(skipped).to_have_count(1)
    # The file's name is shown as text, never as markup.
    expect(skipped.locator("strong")).to_have_text("blog/posts/<b>bad</b>.md")
    expect(skipped).to_contain_text("not valid YAML")
    expect(page.locator("#import-skipped b")).to_have_count(0)
    assert audit(page, "import result") == []

    posts = api.get("/api/users/me/posts", headers=user.headers).json()["items"]
    by_title = {post["title"]: post for post in posts}
    assert set(by_title) == {"Imported from Hugo", "A Bear note"}
    assert by_title["Imported from Hugo"]["status"] == "published"
    assert by_title["Imported from Hugo"]["date_posted"].startswith("2020-02-03T04:05:06")
    page.goto("/me/posts")
    expect(page.get_by_text("Imported from Hugo")).to_be_visible()
    expect(page.get_by_text("A Bear note")).to_be_visible()
    page.goto(by_title["Imported from Hugo"]["url"])
    expect(page.get_by_text("A trip, long ago.")).to_be_visible()


def test_a_refused_file_shows_the_error(audited_page: Page, api, console: ConsoleWatch) -> None:
    console.allow(r"status of 415 .*/api/users/me/import")
    page = audited_page
    sign_in(page, make_account(api))
    page.goto("/account")
    page.get_by_label("Archive or Markdown file").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"plain text"}
    )
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-error")).to_contain_text("a .zip archive or a single .md file")
    expect(page.locator("#import-result")).to_be_hidden()
