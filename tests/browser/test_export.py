"""The account page's "Download your data", and the delete dialog's offer of it first."""

import io
import json
import zipfile
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from portability import front_matter
from tests.browser.test_accessibility import AXE, RUN_AXE
from tests.browser.test_step_up import signed_in_long_ago
from tests.helpers import create_post, make_account, sign_in
from tests.live_server import LiveServer
from tests.mail_server import SMTPServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, smtp_server: SMTPServer
) -> Iterator[LiveServer]:
    """A live Inkwell of this module's own: the step-up test reaches its database."""
    server = LiveServer(tmp_path_factory.mktemp("export"), smtp_port=smtp_server.port)
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def live_server(server: LiveServer) -> str:
    return server.base_url


def downloaded_zip(page: Page, button_name: str, scope=None) -> tuple[str, zipfile.ZipFile]:
    with page.expect_download() as waiting:
        (scope or page).get_by_role("button", name=button_name).click()
    download = waiting.value
    path = download.path()
    assert path is not None
    with open(path, "rb") as file:
        return download.suggested_filename, zipfile.ZipFile(io.BytesIO(file.read()))


def test_the_button_downloads_the_accounts_zip(page: Page, api) -> None:
    user = make_account(api)
    create_post(api, user, "Out in the open", "Published words", tags=["mine"])
    create_post(api, user, "Kept back", "A draft", status="draft")
    other = make_account(api)
    create_post(api, other, "Someone else's", "Not in it")
    sign_in(page, user)
    page.goto("/account")
    expect(page.locator("#account-username")).to_have_text(user.username)

    name, archive = downloaded_zip(page, "Download your data")
    assert name.startswith(f"inkwell-{user.username}-")
    assert name.endswith(".zip")
    assert archive.testzip() is None
    names = archive.namelist()
    assert {"account.json", "comments.json"} <= set(names)
    posts = {
        meta["title"]: (meta, body)
        for meta, body in (
            front_matter.parse(archive.read(entry).decode())
            for entry in names
            if entry.startswith("posts/")
        )
    }
    assert set(posts) == {"Out in the open", "Kept back"}
    assert posts["Out in the open"][0]["tags"] == ["mine"]
    assert posts["Kept back"][0]["status"] == "draft"
    assert posts["Kept back"][1] == "A draft"
    account = json.loads(archive.read("account.json"))
    assert account["profile"]["username"] == user.username
    expect(page.locator("#export-success")).to_have_text("Your data is downloading.")
    expect(page.locator("#export-error")).to_be_hidden()


def test_an_old_session_confirms_it_is_you_then_downloads(
    page: Page, api, server: LiveServer, console
) -> None:
    console.allow(r"status of 401 .*/api/users/me/export$")  # the step-up, as designed
    user = make_account(api)
    create_post(api, user, "Mine", "Words")
    sign_in(page, user)
    signed_in_long_ago(server, user)
    page.goto("/account")
    expect(page.locator("#account-username")).to_have_text(user.username)
    # The page's own reads (sessions, tokens, the security log...) done first: on a
    # loaded machine they can keep the one live server busy past expect's 5 s.
    page.wait_for_load_state("networkidle")
    page.get_by_role("button", name="Download your data").click()
    dialog = page.get_by_role("dialog", name="Confirm it is you")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Your password").fill(user.password)
    with page.expect_download() as waiting:
        dialog.get_by_role("button", name="Confirm").click()
    path = waiting.value.path()
    with zipfile.ZipFile(path) as archive:
        assert any(entry.startswith("posts/") for entry in archive.namelist())
    expect(page.get_by_role("dialog")).to_have_count(0)


def test_the_delete_dialog_offers_the_download_first(page: Page, api) -> None:
    user = make_account(api)
    create_post(api, user, "Before I go", "Last words")
    sign_in(page, user)
    page.goto("/account")
    page.get_by_role("button", name="Delete account").click()
    dialog = page.get_by_role("dialog", name="Delete your account?")
    expect(dialog).to_be_visible()
    _name, archive = downloaded_zip(page, "Download your data first", dialog)
    assert any(entry.startswith("posts/") for entry in archive.namelist())
    # Still there, and the account too: downloading deletes nothing.
    expect(dialog).to_be_visible()
    assert api.get("/api/users/me", headers=user.headers).status_code == 200


def test_a_refused_export_says_why(page: Page, api, console) -> None:
    console.allow(r"status of 429 .*/api/users/me/export")
    user = make_account(api)
    sign_in(page, user)
    page.goto("/account")
    # The limit (EXPORTS_PER_HOUR, 3) spent through the API first.
    for _ in range(3):
        assert api.get("/api/users/me/export", headers=user.headers).status_code == 200
    page.get_by_role("button", name="Download your data").click()
    expect(page.locator("#export-error")).to_contain_text("exports an hour")
    expect(page.locator("#export-success")).to_be_hidden()


def test_the_export_section_and_delete_dialog_pass_axe(browser: Browser, live_server, api) -> None:
    user = make_account(api)
    context = browser.new_context(base_url=live_server, bypass_csp=True, reduced_motion="reduce")
    try:
        page = context.new_page()
        sign_in(page, user)
        page.goto("/account")
        expect(page.get_by_role("button", name="Download your data")).to_be_visible()
        page.add_script_tag(content=AXE)
        assert page.evaluate(RUN_AXE) == []
        page.get_by_role("button", name="Delete account").click()
        expect(page.get_by_role("dialog", name="Delete your account?")).to_be_visible()
        assert page.evaluate(RUN_AXE) == []
    finally:
        context.close()
