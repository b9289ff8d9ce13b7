"""Comments on the post page in the browser (templates/_comments.html, static/js/comments.js):
guests read them and are asked to sign in; a reader's first comment waits for the post's
author, who approves it from the page; replies, edits, deletes (a placeholder while
replies remain), reports, and the unverified reader's way out."""

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Page, expect

from comments.service import THREADS_PER_PAGE
from tests.browser.conftest import ConsoleWatch
from tests.helpers import Account, create_post, make_account, sign_in
from tests.live_server import LiveServer
from tests.mail_server import Mailbox, SMTPServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, smtp_server: SMTPServer) -> Iterator[str]:
    """Overrides conftest's: comment limits high enough for a second page of threads."""
    server = LiveServer(
        tmp_path_factory.mktemp("comments"),
        env={"COMMENTS_PER_MINUTE": "100", "COMMENTS_PER_DAY": "1000"},
        smtp_port=smtp_server.port,
        name="localhost",
    )
    try:
        yield server.wait_until_ready()
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def expected_errors(console: ConsoleWatch) -> None:
    # Refusals the tests ask for (403, 409, 422) are logged by Chromium.
    console.allow(r"status of (40[39]|422)")


def verified(api: httpx.Client, mailbox: Mailbox, name: str | None = None) -> Account:
    """A signed-in account whose address is verified, through its mailed link."""
    account = make_account(api, name)
    token = mailbox.wait_for(account.email)[0].token("/verify-email")
    assert api.post("/api/users/verify-email", json={"token": token}).status_code == 204
    return account


def post_comment(api: httpx.Client, post_id: int, account: Account, text: str, **fields):
    response = api.post(
        f"/api/posts/{post_id}/comments", json={"content": text} | fields, headers=account.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def comment_box(page: Page, text: str):
    """The comment (the article, not its thread) whose text is `text`."""
    return page.locator("article.comment").filter(
        has=page.locator(".comment-content", has_text=text)
    )


def write(page: Page, text: str) -> None:
    page.get_by_label("Your comment").fill(text)
    page.get_by_role("button", name="Post comment").click()


def test_guests_read_comments_and_are_asked_to_sign_in(page: Page, api, mailbox) -> None:
    author = verified(api, mailbox, "Writer")
    post = create_post(api, author, "Talked about", "Words.")
    post_comment(api, post["id"], author, "The *author* says hi")
    page.goto(post["url"])
    expect(page.locator("#comments-heading")).to_have_text("1 comment")
    expect(comment_box(page, "The author says hi")).to_contain_text("Writer")
    expect(comment_box(page, "The author says hi").locator("em")).to_have_text("author")
    link = page.get_by_role("link", name="Sign in to comment")
    expect(link).to_have_attribute("href", f"/login?next={post['url']}%23comments")
    expect(page.locator("#comment-form")).to_be_hidden()
    expect(page.get_by_role("button", name="Reply")).to_have_count(0)
    # The card on the home page counts it and links to it.
    page.goto("/")
    page.get_by_role("link", name=re.compile(r"^1 comment on Talked about")).click()
    expect(page).to_have_url(re.compile(r"#comments$"))


def test_a_first_comment_waits_for_the_author_who_approves_it(
    new_page, api, mailbox: Mailbox
) -> None:
    author = verified(api, mailbox, "Author")
    reader = verified(api, mailbox, "Reader")
    post = create_post(api, author, "Approve me", "Words.")

    page = new_page()
    sign_in(page, reader)
    page.goto(post["url"])
    write(page, "My very first comment")
    expect(page.locator("#comment-success")).to_contain_text("awaits approval")
    mine = comment_box(page, "My very first comment")
    expect(mine).to_contain_text("Awaiting approval: the post's author will review it")
    expect(page.get_by_label("Your comment")).to_have_value("")
    # Still pending after a reload: the page never holds it, the script adds it back.
    page.reload()
    expect(mine).to_contain_text("Awaiting approval")

    guest = new_page()
    guest.goto(post["url"])
    expect(guest.locator("#comments-empty")).to_have_text("No comments yet.")

    owner = new_page()
    sign_in(owner, author)
    owner.goto(post["url"])
    pending = comment_box(owner, "My very first comment")
    expect(pending).to_contain_text("Awaiting approval")
    pending.get_by_role("button", name="Approve").click()
    expect(owner.locator("#comments-status")).to_contain_text("approved")
    expect(pending.locator(".comment-pending")).to_have_count(0)
    expect(owner.locator("#comments-heading")).to_have_text("1 comment")

    guest.reload()
    expect(comment_box(guest, "My very first comment")).to_be_visible()
    expect(guest.locator("#comments-heading")).to_have_text("1 comment")

    # Approved once, the reader's next comment is published at once, in place.
    page.reload()
    write(page, "And a second one")
    expect(page.locator("#comment-success")).to_have_text("Comment posted.")
    expect(comment_box(page, "And a second one")).not_to_contain_text("Awaiting")
    expect(page.locator("#comments-heading")).to_have_text("2 comments")
    guest.reload()
    expect(comment_box(guest, "And a second one")).to_be_visible()


def test_reply_edit_and_delete(new_page, api, mailbox: Mailbox) -> None:
    author = verified(api, mailbox, "Poster")
    post = create_post(api, author, "Threads", "Words.")
    top = post_comment(api, post["id"], author, "Top-level words")
    lonely = post_comment(api, post["id"], author, "Nobody answers this")

    page = new_page()
    sign_in(page, author)
    page.goto(post["url"])
    comment_box(page, "Top-level words").get_by_role("button", name="Reply").click()
    page.get_by_label("Reply to Poster").fill("A reply of mine")
    page.locator(".reply-form").get_by_role("button", name="Reply").click()
    reply = comment_box(page, "A reply of mine")
    expect(reply).to_be_visible()
    thread = page.locator(".comment-thread").filter(has=page.locator(f"#comment-{top['id']}"))
    expect(thread.locator(".comment-replies")).to_contain_text("A reply of mine")

    # A reply to the reply attaches to the same thread (one level).
    reply.get_by_role("button", name="Reply").click()
    page.get_by_label("Reply to Poster").fill("Deeper")
    page.locator(".reply-form").get_by_role("button", name="Reply").click()
    expect(thread.locator(".comment-replies > li")).to_have_count(2)

    reply.get_by_role("button", name="Edit").click()
    page.get_by_label("Edit your comment").fill("A **better** reply")
    page.get_by_role("button", name="Save").click()
    edited = comment_box(page, "A better reply")
    expect(edited.locator("strong")).to_have_text("better")
    expect(edited.locator(".comment-edited")).to_have_text("edited")

    # With replies, a deleted comment stays as a placeholder.
    comment_box(page, "Top-level words").get_by_role("button", name="Delete").click()
    page.locator("#delete-comment-confirm").click()
    expect(page.locator(f"#comment-{top['id']}")).to_have_text("This comment was deleted.")
    # Without, it goes.
    comment_box(page, "Nobody answers this").get_by_role("button", name="Delete").click()
    page.locator("#delete-comment-confirm").click()
    expect(page.locator(f"#comment-{lonely['id']}")).to_have_count(0)
    expect(page.locator("#comments-heading")).to_have_text("2 comments")

    page.reload()
    expect(page.locator(f"#comment-{top['id']}")).to_have_text("This comment was deleted.")
    expect(comment_box(page, "A better reply")).to_contain_text("edited")
    # The last reply gone, the placeholder goes too.
    for text in ("Deeper", "A better reply"):
        comment_box(page, text).get_by_role("button", name="Delete").click()
        page.locator("#delete-comment-confirm").click()
        expect(comment_box(page, text)).to_have_count(0)
    expect(page.locator(f"#comment-{top['id']}")).to_have_count(0)
    page.reload()
    expect(page.locator("#comments-empty")).to_be_visible()


def test_report_once(page: Page, api, mailbox: Mailbox) -> None:
    author = verified(api, mailbox, "Reported")
    reader = make_account(api)
    post = create_post(api, author, "Reportable", "Words.")
    post_comment(api, post["id"], author, "Something rude")
    sign_in(page, reader)
    page.goto(post["url"])
    box = comment_box(page, "Something rude")
    expect(box.get_by_role("button", name="Edit")).to_have_count(0)
    expect(box.get_by_role("button", name="Delete")).to_have_count(0)
    box.get_by_role("button", name="Report").click()
    page.get_by_label("What is wrong with it?").fill("Rude")
    page.locator("#report-comment-submit").click()
    expect(page.locator("#report-comment-dialog")).to_be_hidden()
    expect(page.locator("#comments-status")).to_contain_text("the admins will look at it")

    box.get_by_role("button", name="Report").click()
    page.get_by_label("What is wrong with it?").fill("Still rude")
    page.locator("#report-comment-submit").click()
    expect(page.locator("#report-comment-error")).to_have_text("You reported this comment already")
    page.locator("#report-comment-cancel").click()
    expect(page.locator("#report-comment-dialog")).to_be_hidden()


def test_an_unverified_reader_is_offered_the_link_again(page: Page, api, mailbox) -> None:
    author = verified(api, mailbox, "Host")
    reader = make_account(api)
    post = create_post(api, author, "Verify first", "Words.")
    sign_in(page, reader)
    page.goto(post["url"])
    write(page, "Let me in")
    expect(page.locator("#comment-error")).to_contain_text("Verify your email address")
    resend = page.get_by_role("button", name="Resend the verification link")
    resend.click()
    expect(page.locator("#comments-status")).to_contain_text("Sent")
    assert len(mailbox.wait_for(reader.email, 2)) == 2
    expect(page.get_by_label("Your comment")).to_have_value("Let me in")


def test_the_form_shows_the_texts_faults_at_the_field(page: Page, api, mailbox) -> None:
    author = verified(api, mailbox, "Fussy")
    post = create_post(api, author, "Blank", "Words.")
    sign_in(page, author)
    page.goto(post["url"])
    # Spaces pass the browser's `required`; the API says what is wrong, at the field.
    write(page, "   ")
    field = page.get_by_label("Your comment")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#comment-content-error")).to_have_text("The comment is empty")
    expect(page.locator("#comment-submit")).to_be_enabled()


def test_more_comments_load_in_place(page: Page, api, mailbox: Mailbox) -> None:
    author = verified(api, mailbox, "Chatty")
    post = create_post(api, author, "Many comments", "Words.")
    for n in range(THREADS_PER_PAGE + 2):
        post_comment(api, post["id"], author, f"Number {n}")
    page.goto(post["url"])
    expect(page.locator("article.comment")).to_have_count(THREADS_PER_PAGE)
    expect(page.locator("#comments-heading")).to_have_text(f"{THREADS_PER_PAGE + 2} comments")
    page.get_by_role("button", name="Load more comments").click()
    expect(page.locator("article.comment")).to_have_count(THREADS_PER_PAGE + 2)
    expect(page.locator("#comments-pager")).to_have_count(0)
    last = comment_box(page, f"Number {THREADS_PER_PAGE + 1}")
    expect(last).to_be_visible()
    # Without JavaScript the link leads to the same comments.
    page.goto(post["url"])
    href = page.locator("#more-comments").get_attribute("href")
    page.goto(post["url"] + href)
    expect(page.locator("article.comment")).to_have_count(2)


def test_the_editor_turns_comments_off_and_on(page: Page, api, mailbox: Mailbox) -> None:
    author = verified(api, mailbox, "Closer")
    post = create_post(api, author, "Quiet please", "Words.")
    post_comment(api, post["id"], author, "Said before closing")
    sign_in(page, author)
    page.goto(f"/posts/{post['id']}/edit")
    box = page.get_by_label("Allow comments")
    expect(box).to_be_checked()
    box.uncheck()
    expect(page.locator("#editor-save-status")).to_have_text("Comments are off.")
    assert api.get(f"/api/posts/{post['id']}").json()["comments_enabled"] is False
    page.goto(post["url"])
    expect(page.locator("#comments-closed")).to_have_text("Comments are closed.")
    expect(comment_box(page, "Said before closing")).to_be_visible()
    expect(page.get_by_role("button", name="Reply")).to_have_count(0)

    page.goto(f"/posts/{post['id']}/edit")
    expect(box).not_to_be_checked()
    box.check()
    expect(page.locator("#editor-save-status")).to_have_text("Comments are on.")
    page.goto(post["url"])
    expect(page.get_by_label("Your comment")).to_be_visible()
    # A new post shows the box once it is saved (POST takes no comments_enabled).
    page.goto("/write")
    expect(page.locator("#editor-comments-field")).to_be_hidden()
