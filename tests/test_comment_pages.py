"""The comments under a post on its page (templates/_comments.html): rendered on the
server for everyone alike, so only what everyone may see is in it (never a pending
comment, never a suspended account's), fresh at once after a change, in a bounded
number of statements. On either database (TEST_DATABASE_URL)."""

from typing import Any

import pytest

from comments.service import THREADS_PER_PAGE
from content.markdown_render import render_html
from tests.helpers import Account, create_post, settings_changed
from tests.test_comments import approve, comment, commenter, suspend
from tests.test_markdown import Ids
from tests.test_queries import counting_statements


@pytest.fixture
def author(client) -> Account:
    return commenter(client, "Author")


@pytest.fixture
def post(client, author) -> dict[str, Any]:
    return create_post(client, author, "Commented", "Say something")


def trusted(client, name: str | None = None) -> Account:
    """A verified reader whose comments publish at once."""
    reader = commenter(client, name)
    approve(client, reader)
    return reader


def page(client, post: dict[str, Any], query: str = "") -> str:
    response = client.get(post["url"] + query)
    assert response.status_code == 200, response.text
    return response.text


def comment_ids(html: str) -> list[str]:
    return [name for name in Ids(html).ids if name.startswith("comment-") and name[8:].isdigit()]


def test_guests_read_published_comments_and_replies_in_order(client, author, post):
    pid = post["id"]
    reader = trusted(client, "Reader")
    first = comment(client, pid, reader, "First *words*").json()
    second = comment(client, pid, author, "Second").json()
    reply = comment(client, pid, author, "A reply", parent_id=first["id"]).json()
    # A reply to a reply attaches to the top-level comment: still under `first`.
    nested = comment(client, pid, reader, "Again", parent_id=reply["id"]).json()
    assert nested["parent_id"] == first["id"]

    html = page(client, post)
    assert comment_ids(html) == [
        f"comment-{first['id']}",
        f"comment-{reply['id']}",
        f"comment-{nested['id']}",
        f"comment-{second['id']}",
    ]
    assert "<p>First <em>words</em></p>" in html
    assert '<h2 id="comments-heading">4 comments</h2>' in html
    assert f'href="/users/{reader.id}/posts"' in html
    # The form is for signed-in readers (comments.js shows it); guests get a link.
    assert 'id="comment-signin"><a href="/login?next=' in html
    assert 'id="comment-form" hidden' in html


def test_a_pending_comment_is_never_in_the_page(client, author, post):
    newcomer = commenter(client)
    pending = comment(client, post["id"], newcomer, "Wait for me").json()
    assert pending["status"] == "pending"
    html = page(client, post)
    assert "Wait for me" not in html
    assert f"comment-{pending['id']}" not in html
    assert "No comments yet." in html

    assert (
        client.post(f"/api/comments/{pending['id']}/approval", headers=author.headers).status_code
        == 204
    )
    assert "Wait for me" in page(client, post)


def test_a_suspended_authors_comments_are_not_in_the_page(client, author, post):
    pid = post["id"]
    reader = trusted(client)
    mine = comment(client, pid, author, "Stays").json()
    comment(client, pid, reader, "Goes")
    comment(client, pid, reader, "Goes too", parent_id=mine["id"])
    assert "Goes" in page(client, post)
    suspend(client, reader)
    html = page(client, post)
    assert "Stays" in html
    assert "Goes" not in html
    suspend(client, reader, False)
    assert "Goes too" in page(client, post)


def test_a_deleted_comment_with_replies_stays_as_a_placeholder(client, author, post):
    pid = post["id"]
    reader = trusted(client)
    top = comment(client, pid, reader, "Deleted soon").json()
    comment(client, pid, author, "Answer", parent_id=top["id"])
    assert client.delete(f"/api/comments/{top['id']}", headers=reader.headers).status_code == 204
    html = page(client, post)
    assert "Deleted soon" not in html
    assert "This comment was deleted." in html
    assert "Answer" in html


def test_the_page_changes_at_once_after_a_published_comment(client, author, post):
    first = client.get(post["url"])
    etag = first.headers["ETag"]
    assert client.get(post["url"], headers={"If-None-Match": etag}).status_code == 304

    assert comment(client, post["id"], author, "Fresh").json()["status"] == "published"
    fresh = client.get(post["url"], headers={"If-None-Match": etag})
    assert fresh.status_code == 200
    assert fresh.headers["ETag"] != etag
    assert "Fresh" in fresh.text
    # A card says how many, and links to them.
    home = client.get("/").text
    assert f'href="{post["url"]}#comments"' in home
    assert ">1 comment</a>" in home


def test_closed_comments_show_the_old_ones_and_no_form(client, author, post):
    comment(client, post["id"], author, "Before closing")
    closed = client.patch(
        f"/api/posts/{post['id']}", json={"comments_enabled": False}, headers=author.headers
    )
    assert closed.status_code == 200
    html = page(client, post)
    assert "Before closing" in html
    assert "Comments are closed." in html
    assert 'id="comment-form"' not in html
    assert 'id="comment-signin"' not in html


def test_threads_are_paged_with_a_link_that_works_without_javascript(client, author, post):
    pid = post["id"]
    with settings_changed(comments_per_minute=1000, comments_per_day=1000):
        for n in range(THREADS_PER_PAGE + 1):
            assert comment(client, pid, author, f"n{n}").status_code == 201
    html = page(client, post)
    shown = comment_ids(html)
    assert len(shown) == THREADS_PER_PAGE
    link = html.split('id="more-comments" href="')[1].split('"')[0]
    assert link.startswith("?cursor=")
    assert link.endswith("#comments")
    rest = page(client, post, link.removesuffix("#comments").replace("&amp;", "&"))
    more = comment_ids(rest)
    assert len(more) == 1
    assert not set(more) & set(shown)
    assert 'id="more-comments"' not in rest


def test_the_post_page_costs_the_same_for_one_comment_or_many(client, author, post):
    pid = post["id"]
    comment(client, pid, author, "One")

    def cost(query: str) -> int:
        with counting_statements(client) as statements:
            assert client.get(post["url"] + query).status_code == 200
        return len(statements)

    with_one = cost("?a=1")
    readers = [trusted(client) for _ in range(4)]
    for n, reader in enumerate(readers):
        top = comment(client, pid, reader, f"Top {n}").json()
        for other in readers[:2]:
            comment(client, pid, other, "Reply", parent_id=top["id"])
    with_many = cost("?a=2")
    assert with_many == with_one


def test_no_heading_of_a_post_takes_a_comments_id():
    """`#comment-42` is the comment's, whatever the post's headings say."""
    html = render_html("# Comment 42\n\n# Reply content 7\n\n# Comment 42 b\n")
    assert Ids(html).ids == ["comment-42-1", "reply-content-7-1", "comment-42-b"]
