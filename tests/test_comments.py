"""Comments (comments/): who may write, see, edit, delete and moderate them, replies one
level deep, placeholders, the text's rules, rate limits, reports, counts on posts, the
content version, and what deleting an account or a post does to them. On either
database (TEST_DATABASE_URL)."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from models import Comment, CommentReport, ContentVersion, Post
from tests.helpers import Account, create_post, make_account, mark_verified, run_sql, scalar


def commenter(client, name: str | None = None) -> Account:
    """A signed-in account with a verified address."""
    return mark_verified(client, make_account(client, name))


def admin(client) -> Account:
    account = commenter(client)
    run_sql(client, "UPDATE users SET role = 'admin' WHERE id = :id", id=account.id)
    return account


def suspend(client, account: Account, suspended: bool = True) -> None:
    run_sql(
        client,
        "UPDATE users SET suspended_at = CASE WHEN :on THEN CURRENT_TIMESTAMP END WHERE id = :id",
        on=suspended,
        id=account.id,
    )


def approve(client, account: Account) -> None:
    """Marks `account` as having had a comment approved: its comments publish at once."""
    run_sql(
        client, "UPDATE users SET comments_approved = :yes WHERE id = :id", yes=True, id=account.id
    )


def comment(
    client, post_id: int, account: Account | None, content: str = "Nice post", **fields: Any
):
    headers = account.headers if account else {}
    return client.post(
        f"/api/posts/{post_id}/comments", json={"content": content} | fields, headers=headers
    )


def comments_of(client, post_id: int, account: Account | None = None) -> list[dict[str, Any]]:
    response = client.get(
        f"/api/posts/{post_id}/comments", headers=account.headers if account else {}
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]


def post_json(client, post_id: int) -> dict[str, Any]:
    return client.get(f"/api/posts/{post_id}").json()


@pytest.fixture
def author(client) -> Account:
    return commenter(client, "Author")


@pytest.fixture
def post(client, author) -> dict[str, Any]:
    return create_post(client, author, "Commented", "Say something")


# --- Who may comment ------------------------------------------------------------------


def test_the_permission_matrix_of_writing_a_comment(client, author, post):
    pid = post["id"]
    guest = comment(client, pid, None)
    assert guest.status_code == 401
    assert guest.json()["code"] == "not_authenticated"

    unverified = make_account(client)
    refused = comment(client, pid, unverified)
    assert (refused.status_code, refused.json()["code"]) == (403, "email_not_verified")

    newcomer = commenter(client)
    first = comment(client, pid, newcomer)
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "pending"

    own = comment(client, pid, author)
    assert own.status_code == 201
    assert own.json()["status"] == "published"

    boss = admin(client)
    assert comment(client, pid, boss).json()["status"] == "published"

    # A suspended account's token no longer authenticates at all (auth.py); signing in
    # again says `account_suspended`.
    suspended = commenter(client)
    suspend(client, suspended)
    refused = comment(client, pid, suspended)
    assert (refused.status_code, refused.json()["code"]) == (401, "invalid_token")


def test_drafts_scheduled_and_missing_posts_take_no_comment(client, author):
    reader = commenter(client)
    draft = create_post(client, author, "Draft", "x", status="draft")
    scheduled = create_post(client, author, "Later", "x", publish_at="2999-01-01T00:00:00Z")
    for pid in (draft["id"], scheduled["id"], 999_999):
        refused = comment(client, pid, reader)
        assert (refused.status_code, refused.json()["code"]) == (404, "post_not_found")
    # Its author cannot comment on a draft either: comments are for readers.
    assert comment(client, draft["id"], author).status_code == 404


def test_closed_comments_refuse_new_ones_and_keep_the_old(client, author, post):
    pid = post["id"]
    reader = commenter(client)
    approve(client, reader)
    assert post["comments_enabled"] is True
    assert comment(client, pid, reader, "Before").status_code == 201

    other = make_account(client)
    refused = client.patch(
        f"/api/posts/{pid}", json={"comments_enabled": False}, headers=other.headers
    )
    assert refused.status_code == 403
    closed = client.patch(
        f"/api/posts/{pid}", json={"comments_enabled": False}, headers=author.headers
    )
    assert closed.status_code == 200
    assert closed.json()["comments_enabled"] is False
    assert closed.json()["updated_at"] is None  # not an "Updated" change

    refused = comment(client, pid, reader, "After")
    assert (refused.status_code, refused.json()["code"]) == (403, "comments_closed")
    assert [c["content"] for c in comments_of(client, pid)] == ["Before"]


# --- The text -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "code"),
    [
        ("", "comment_empty"),
        ("   \n\t  ", "comment_empty"),
        ("x" * 5001, "comment_too_long"),
        ("bell \x07", "comment_invalid_characters"),
        ("nul \x00", "comment_invalid_characters"),
        ("escape \x1b[31m", "comment_invalid_characters"),
    ],
)
def test_refused_text_has_a_code_of_its_own(client, post, content, code):
    reader = commenter(client)
    refused = comment(client, post["id"], reader, content)
    assert refused.status_code == 422
    assert refused.json()["code"] == code


def test_text_at_the_limits_and_with_newlines_and_tabs_is_taken(client, post):
    reader = commenter(client)
    assert comment(client, post["id"], reader, "x" * 5000).status_code == 201
    taken = comment(client, post["id"], reader, "  line one\r\n\tline two  ")
    assert taken.status_code == 201
    assert taken.json()["content"] == "line one\n\tline two"


def test_markdown_is_a_safe_subset(client, author, post):
    source = (
        "# Not a heading\n\n*em* **strong** `code` [link](https://example.com)\n\n"
        "![tracker](https://evil.example/pixel.png)\n\n<script>alert(1)</script>\n\n"
        "[js](javascript:alert(1))\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n> quoted\n\n- one\n- two\n"
    )
    html = comment(client, post["id"], author, source).json()["content_html"]
    assert "<h" not in html
    assert "# Not a heading" in html
    assert "<em>em</em>" in html
    assert "<strong>strong</strong>" in html
    assert "<code>code</code>" in html
    assert '<a href="https://example.com" rel="nofollow ugc noopener">link</a>' in html
    assert "<img" not in html
    assert "tracker" in html
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    assert "javascript:" not in html.replace("[js](javascript:alert(1))", "")
    assert "<table" not in html
    assert "<blockquote>" in html
    assert "<li>one</li>" in html


# --- Pending and approval ---------------------------------------------------------------


def test_a_pending_comment_is_seen_by_its_author_the_posts_author_and_admins(client, author, post):
    pid = post["id"]
    newcomer = commenter(client)
    boss = admin(client)
    stranger = commenter(client)
    created = comment(client, pid, newcomer, "Waiting").json()
    for viewer in (newcomer, author, boss):
        assert [c["id"] for c in comments_of(client, pid, viewer)] == [created["id"]]
    for viewer in (None, stranger):
        assert comments_of(client, pid, viewer) == []
    assert post_json(client, pid)["comment_count"] == 0
    # Nobody but the entitled reaches it by id either.
    refused = client.post(
        f"/api/comments/{created['id']}/reports", json={"reason": "x"}, headers=stranger.headers
    )
    assert refused.status_code == 404


def test_approval_publishes_and_trusts_the_account(client, author, post):
    pid = post["id"]
    newcomer = commenter(client)
    stranger = commenter(client)
    first = comment(client, pid, newcomer, "First").json()

    refused = client.post(f"/api/comments/{first['id']}/approval", headers=newcomer.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_a_moderator")
    assert client.post(f"/api/comments/{first['id']}/approval").status_code == 401

    pending = client.get("/api/comments/pending", headers=author.headers).json()["items"]
    assert [c["id"] for c in pending] == [first["id"]]
    assert client.get("/api/comments/pending", headers=stranger.headers).json()["items"] == []

    approved = client.post(f"/api/comments/{first['id']}/approval", headers=author.headers)
    assert approved.status_code == 204
    assert [c["status"] for c in comments_of(client, pid)] == ["published"]
    assert post_json(client, pid)["comment_count"] == 1
    assert client.get("/api/comments/pending", headers=author.headers).json()["items"] == []

    second = comment(client, pid, newcomer, "Second").json()
    assert second["status"] == "published"
    assert post_json(client, pid)["comment_count"] == 2


def test_an_admin_approves_anywhere_and_sees_every_pending_comment(client, author, post):
    other_author = commenter(client)
    other = create_post(client, other_author, "Other", "x")
    newcomer = commenter(client)
    one = comment(client, post["id"], newcomer).json()
    two = comment(client, other["id"], newcomer).json()
    boss = admin(client)
    pending = client.get("/api/comments/pending", headers=boss.headers).json()["items"]
    assert [c["id"] for c in pending] == [one["id"], two["id"]]
    mine = client.get("/api/comments/pending", headers=author.headers).json()["items"]
    assert [c["id"] for c in mine] == [one["id"]]
    assert (
        client.post(f"/api/comments/{two['id']}/approval", headers=boss.headers).status_code == 204
    )


# --- Replies, edits, deletes -------------------------------------------------------------


def test_replies_are_one_level_deep(client, author, post):
    pid = post["id"]
    reader = commenter(client)
    approve(client, reader)
    top = comment(client, pid, reader, "Top").json()
    reply = comment(client, pid, author, "Reply", parent_id=top["id"]).json()
    assert reply["parent_id"] == top["id"]
    deeper = comment(client, pid, reader, "Reply to reply", parent_id=reply["id"]).json()
    assert deeper["parent_id"] == top["id"]
    assert [(c["content"], c["parent_id"]) for c in comments_of(client, pid)] == [
        ("Top", None),
        ("Reply", top["id"]),
        ("Reply to reply", top["id"]),
    ]


def test_a_parent_from_another_post_or_unknown_is_refused(client, author, post):
    other = create_post(client, author, "Other", "x")
    elsewhere = comment(client, other["id"], author, "There").json()
    for parent_id in (elsewhere["id"], 999_999):
        refused = comment(client, post["id"], author, "Reply", parent_id=parent_id)
        assert (refused.status_code, refused.json()["code"]) == (422, "comment_parent_invalid")
    # A pending comment takes no reply yet.
    waiting = comment(client, post["id"], commenter(client)).json()
    refused = comment(client, post["id"], author, "Reply", parent_id=waiting["id"])
    assert refused.json()["code"] == "comment_parent_invalid"


def test_only_its_author_edits_a_comment(client, author, post):
    reader = commenter(client)
    approve(client, reader)
    created = comment(client, post["id"], reader, "Typo").json()
    assert created["updated_at"] is None
    for other in (author, admin(client)):
        refused = client.patch(
            f"/api/comments/{created['id']}", json={"content": "Hacked"}, headers=other.headers
        )
        assert (refused.status_code, refused.json()["code"]) == (403, "not_your_comment")
    edited = client.patch(
        f"/api/comments/{created['id']}", json={"content": "*Fixed*"}, headers=reader.headers
    )
    assert edited.status_code == 200
    assert edited.json()["content"] == "*Fixed*"
    assert edited.json()["content_html"] == "<p><em>Fixed</em></p>\n"
    assert edited.json()["updated_at"] is not None
    empty = client.patch(
        f"/api/comments/{created['id']}", json={"content": " "}, headers=reader.headers
    )
    assert empty.json()["code"] == "comment_empty"


def test_who_may_delete_a_comment(client, author, post):
    pid = post["id"]
    reader = commenter(client)
    approve(client, reader)
    stranger = commenter(client)
    ids = [comment(client, pid, reader, f"c{n}").json()["id"] for n in range(3)]
    refused = client.delete(f"/api/comments/{ids[0]}", headers=stranger.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_your_comment")
    assert client.delete(f"/api/comments/{ids[0]}").status_code == 401
    assert client.delete(f"/api/comments/{ids[0]}", headers=reader.headers).status_code == 204
    assert client.delete(f"/api/comments/{ids[1]}", headers=author.headers).status_code == 204
    assert (
        client.delete(f"/api/comments/{ids[2]}", headers=admin(client).headers).status_code == 204
    )
    assert comments_of(client, pid) == []
    assert client.delete(f"/api/comments/{ids[2]}", headers=reader.headers).status_code == 404
    assert post_json(client, pid)["comment_count"] == 0


def test_a_deleted_comment_with_replies_stays_as_a_placeholder(client, author, post):
    pid = post["id"]
    reader = commenter(client)
    approve(client, reader)
    top = comment(client, pid, reader, "Top").json()
    reply = comment(client, pid, author, "Reply", parent_id=top["id"]).json()
    assert client.delete(f"/api/comments/{top['id']}", headers=reader.headers).status_code == 204
    placeholder, kept = comments_of(client, pid)
    assert placeholder["id"] == top["id"]
    assert placeholder["status"] == "deleted"
    assert (placeholder["author"], placeholder["content"], placeholder["content_html"]) == (
        None,
        "",
        "",
    )
    assert kept["id"] == reply["id"]
    assert post_json(client, pid)["comment_count"] == 1
    # Its last reply gone, the placeholder goes too.
    assert client.delete(f"/api/comments/{reply['id']}", headers=author.headers).status_code == 204
    assert comments_of(client, pid) == []


# --- Reports -----------------------------------------------------------------------------


def test_a_comment_is_reported_once_per_account_and_admins_list_them(client, author, post):
    reader = commenter(client)
    approve(client, reader)
    created = comment(client, post["id"], reader, "Spam").json()
    url = f"/api/comments/{created['id']}/reports"
    assert client.post(url, json={"reason": "spam"}).status_code == 401
    first = client.post(url, json={"reason": "spam"}, headers=author.headers)
    assert first.status_code == 202
    again = client.post(url, json={"reason": "still spam"}, headers=author.headers)
    assert (again.status_code, again.json()["code"]) == (409, "already_reported")
    stranger = make_account(client)
    assert client.post(url, json={"reason": "rude"}, headers=stranger.headers).status_code == 202
    assert client.post(url, json={"reason": ""}, headers=stranger.headers).status_code == 422

    assert client.get("/api/admin/comments/reported").status_code == 401
    refused = client.get("/api/admin/comments/reported", headers=author.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "admin_required")
    listed = client.get("/api/admin/comments/reported", headers=admin(client).headers).json()
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    reports = listed["items"][0]["reports"]
    assert [(r["reporter"]["id"], r["reason"]) for r in reports] == [
        (author.id, "spam"),
        (stranger.id, "rude"),
    ]
    assert listed["next_cursor"] is None


# --- Paging ------------------------------------------------------------------------------


def test_comments_are_keyset_paged_oldest_first(client, author, post):
    ids = [comment(client, post["id"], author, f"c{n}").json()["id"] for n in range(5)]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"/api/posts/{post['id']}/comments", params=params).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    bad = client.get(f"/api/posts/{post['id']}/comments", params={"cursor": "nonsense"})
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_cursor")


# --- Rate limits -------------------------------------------------------------------------


@pytest.mark.settings(comments_per_minute=2)
def test_comments_per_minute(client, author, post):
    statuses = [comment(client, post["id"], author, f"c{n}").status_code for n in range(3)]
    assert statuses == [201, 201, 429]
    refused = comment(client, post["id"], author, "more")
    assert refused.json()["code"] == "comment_limit"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


@pytest.mark.settings(comments_per_day=3)
def test_comments_per_day(client, author, post):
    statuses = [comment(client, post["id"], author, f"c{n}").status_code for n in range(4)]
    assert statuses == [201, 201, 201, 429]
    refused = comment(client, post["id"], author, "more")
    assert 3600 < int(refused.headers["retry-after"]) <= 86_400


# --- Suspension --------------------------------------------------------------------------


def test_a_suspended_accounts_comments_disappear_for_all_but_admins(client, author, post):
    pid = post["id"]
    reader = commenter(client)
    approve(client, reader)
    boss = admin(client)
    top = comment(client, pid, reader, "Mine").json()
    reply = comment(client, pid, author, "A reply", parent_id=top["id"]).json()
    assert post_json(client, pid)["comment_count"] == 2

    suspend(client, reader)
    for viewer in (None, author):
        assert comments_of(client, pid, viewer) == []  # the reply goes with its context
    assert [c["id"] for c in comments_of(client, pid, boss)] == [top["id"], reply["id"]]
    assert post_json(client, pid)["comment_count"] == 1
    home = client.get("/api/posts").json()["items"][0]
    assert home["comment_count"] == 1

    suspend(client, reader, False)
    assert [c["id"] for c in comments_of(client, pid)] == [top["id"], reply["id"]]
    assert post_json(client, pid)["comment_count"] == 2


def test_a_suspended_accounts_pending_comment_is_not_in_the_authors_queue(client, author, post):
    newcomer = commenter(client)
    comment(client, post["id"], newcomer)
    suspend(client, newcomer)
    assert client.get("/api/comments/pending", headers=author.headers).json()["items"] == []
    assert comments_of(client, post["id"], author) == []


# --- Counts, content version, cascades ------------------------------------------------------


def test_comment_count_is_in_every_post_json(client, author, post):
    comment(client, post["id"], author, "one")
    comment(client, post["id"], commenter(client), "pending: not counted")
    assert post_json(client, post["id"])["comment_count"] == 1
    assert client.get("/api/posts").json()["items"][0]["comment_count"] == 1
    own = client.get("/api/users/me/posts", headers=author.headers).json()["items"][0]
    assert own["comment_count"] == 1
    assert client.get(f"/api/users/{author.id}/posts").json()["items"][0]["comment_count"] == 1


def test_visible_comment_changes_turn_cached_pages_over_and_pending_ones_do_not(
    client, author, post
):
    page = post["url"]

    def etag() -> str:
        response = client.get(page)
        assert response.status_code == 200
        return response.headers["etag"]

    newcomer = commenter(client)  # a new account turns pages over itself
    before = etag()
    pending = comment(client, post["id"], newcomer, "Waiting").json()
    assert etag() == before  # a pending comment shows nowhere
    client.patch(
        f"/api/comments/{pending['id']}", json={"content": "Still"}, headers=newcomer.headers
    )
    assert etag() == before

    client.post(f"/api/comments/{pending['id']}/approval", headers=author.headers)
    approved = etag()
    assert approved != before
    client.patch(
        f"/api/comments/{pending['id']}", json={"content": "Edited"}, headers=newcomer.headers
    )
    edited = etag()
    assert edited != approved
    client.delete(f"/api/comments/{pending['id']}", headers=newcomer.headers)
    assert etag() != edited


def test_deleting_an_account_deletes_its_comments_and_reports(client, author, post):
    pid = post["id"]
    leaver = commenter(client)
    approve(client, leaver)
    replied = comment(client, pid, leaver, "Replied to").json()
    comment(client, pid, author, "A reply", parent_id=replied["id"])
    comment(client, pid, leaver, "Alone")
    own_reply = comment(client, pid, leaver, "My reply", parent_id=replied["id"]).json()
    mine_only = comment(client, pid, leaver, "Mine with my reply").json()
    comment(client, pid, leaver, "Self reply", parent_id=mine_only["id"])
    others = comment(client, pid, author, "Author's").json()
    client.post(
        f"/api/comments/{others['id']}/reports", json={"reason": "x"}, headers=leaver.headers
    )
    assert post_json(client, pid)["comment_count"] == 7

    deleted = client.delete(f"/api/users/{leaver.id}", headers=leaver.headers)
    assert deleted.status_code == 204
    left = comments_of(client, pid)
    assert [(c["content"], c["status"]) for c in left] == [
        ("", "deleted"),
        ("A reply", "published"),
        ("Author's", "published"),
    ]
    assert left[0]["id"] == replied["id"]
    assert own_reply["id"] not in [c["id"] for c in left]
    assert scalar(client, select(func.count()).select_from(CommentReport)) == 0
    assert post_json(client, pid)["comment_count"] == 2


def test_deleting_a_post_deletes_its_comments(client, author, post):
    reader = commenter(client)
    approve(client, reader)
    top = comment(client, post["id"], reader).json()
    comment(client, post["id"], author, "reply", parent_id=top["id"])
    client.post(f"/api/comments/{top['id']}/reports", json={"reason": "x"}, headers=author.headers)
    assert client.delete(f"/api/posts/{post['id']}", headers=author.headers).status_code == 204
    assert scalar(client, select(func.count()).select_from(Comment)) == 0
    assert scalar(client, select(func.count()).select_from(CommentReport)) == 0
    assert client.get(f"/api/posts/{post['id']}/comments").status_code == 404


def test_comment_count_survives_a_posts_other_writes(client, author, post):
    comment(client, post["id"], author)
    client.patch(f"/api/posts/{post['id']}", json={"title": "Renamed"}, headers=author.headers)
    assert scalar(client, select(Post.comment_count).where(Post.id == post["id"])) == 1


def test_comments_written_at_once_are_all_counted(client, author, post):
    readers = [commenter(client) for _ in range(8)]
    for reader in readers:
        approve(client, reader)
    with ThreadPoolExecutor(max_workers=len(readers)) as pool:
        statuses = list(pool.map(lambda who: comment(client, post["id"], who).status_code, readers))
    assert statuses == [201] * len(readers)
    assert post_json(client, post["id"])["comment_count"] == len(readers)


def test_approving_twice_changes_nothing_and_placeholders_take_no_action(client, author, post):
    reader = commenter(client)
    approve(client, reader)
    top = comment(client, post["id"], reader, "Top").json()
    comment(client, post["id"], author, "Reply", parent_id=top["id"])
    url = f"/api/comments/{top['id']}"
    assert client.post(f"{url}/approval", headers=author.headers).status_code == 204
    assert client.delete(url, headers=reader.headers).status_code == 204  # a placeholder now
    assert client.post(f"{url}/approval", headers=author.headers).status_code == 404
    report = client.post(f"{url}/reports", json={"reason": "x"}, headers=author.headers)
    assert (report.status_code, report.json()["code"]) == (404, "comment_not_found")
    edit = client.patch(url, json={"content": "back"}, headers=reader.headers)
    assert edit.status_code == 403
    assert client.delete(url, headers=author.headers).status_code == 404


def test_the_triggers_hold_for_writes_made_straight_to_the_database(client, author, post):
    """An operator's SQL counts and turns pages over as the API does (migration 0018)."""
    version = select(ContentVersion.version).where(ContentVersion.id == 1)
    count = select(Post.comment_count).where(Post.id == post["id"])
    before = scalar(client, version)
    insert = (
        "INSERT INTO comments (post_id, user_id, content, content_html, status, created_at) "
        "VALUES (:post, :user, 'sql', '<p>sql</p>', :status, CURRENT_TIMESTAMP)"
    )
    run_sql(client, insert, post=post["id"], user=author.id, status="pending")
    assert scalar(client, version) == before
    assert scalar(client, count) == 0
    run_sql(client, "UPDATE comments SET status = 'published'")
    assert scalar(client, version) > before
    assert scalar(client, count) == 1
    after = scalar(client, version)
    run_sql(client, "DELETE FROM comments")
    assert scalar(client, version) > after
    assert scalar(client, count) == 0


# --- Moderation in the admin-actions log -------------------------------------------------


def logged(client, boss: Account) -> list[tuple[str, int | None, str, str]]:
    """The admin-actions log, newest first: (action, actor_id, target_name, detail)."""
    response = client.get("/api/admin/actions", headers=boss.headers)
    assert response.status_code == 200, response.text
    return [
        (row["action"], row["actor_id"], row["target_name"], row["detail"])
        for row in response.json()["items"]
    ]


def test_an_admin_deleting_someone_elses_comment_is_logged(client, author, post):
    pid = post["id"]
    reader = commenter(client, "Reader")
    approve(client, reader)
    boss = admin(client)
    theirs = comment(client, pid, reader, "Buy cheap watches").json()
    assert client.delete(f"/api/comments/{theirs['id']}", headers=boss.headers).status_code == 204
    detail = f"comment {theirs['id']} on post {pid} (Commented): Buy cheap watches"
    assert logged(client, boss) == [("delete_comment", boss.id, "Reader", detail)]

    # Not admin actions: an admin's own comment, a comment on an admin's own post, and
    # a post's author moderating their post's comments.
    own = comment(client, pid, boss, "Mine").json()
    assert client.delete(f"/api/comments/{own['id']}", headers=boss.headers).status_code == 204
    boss_post = create_post(client, boss, "The admin's", "x")
    on_own_post = comment(client, boss_post["id"], reader).json()
    url = f"/api/comments/{on_own_post['id']}"
    assert client.delete(url, headers=boss.headers).status_code == 204
    by_author = comment(client, pid, reader).json()
    url = f"/api/comments/{by_author['id']}"
    assert client.delete(url, headers=author.headers).status_code == 204
    assert len(logged(client, boss)) == 1


def test_an_admin_approving_on_someone_elses_post_is_logged(client, author, post):
    pid = post["id"]
    boss = admin(client)
    first = comment(client, pid, commenter(client, "Newcomer"), "Hello there").json()
    url = f"/api/comments/{first['id']}/approval"
    assert client.post(url, headers=boss.headers).status_code == 204
    detail = f"comment {first['id']} on post {pid} (Commented): Hello there"
    assert logged(client, boss) == [("approve_comment", boss.id, "Newcomer", detail)]
    # Approving it again changes nothing, and logs nothing.
    assert client.post(url, headers=boss.headers).status_code == 204
    # The post's author approving, or an admin on their own post: not admin actions.
    second = comment(client, pid, commenter(client)).json()
    assert (
        client.post(f"/api/comments/{second['id']}/approval", headers=author.headers).status_code
        == 204
    )
    boss_post = create_post(client, boss, "The admin's", "x")
    third = comment(client, boss_post["id"], commenter(client)).json()
    assert (
        client.post(f"/api/comments/{third['id']}/approval", headers=boss.headers).status_code
        == 204
    )
    assert len(logged(client, boss)) == 1


def test_a_refused_moderation_logs_nothing(client, author, post):
    reader = commenter(client)
    approve(client, reader)
    boss = admin(client)
    created = comment(client, post["id"], reader).json()
    stranger = commenter(client)
    url = f"/api/comments/{created['id']}"
    assert client.delete(url, headers=stranger.headers).status_code == 403
    assert client.post(f"{url}/approval", headers=stranger.headers).status_code == 403
    assert logged(client, boss) == []


# --- Small rules found in review ---------------------------------------------------------


def test_a_post_can_be_created_with_comments_off(client, author):
    closed = create_post(client, author, "Quiet", "x", comments_enabled=False)
    assert closed["comments_enabled"] is False
    refused = comment(client, closed["id"], author)
    assert (refused.status_code, refused.json()["code"]) == (403, "comments_closed")
    assert create_post(client, author, "Open", "x")["comments_enabled"] is True


def test_deleting_a_placeholder_is_404_for_everyone(client, author, post):
    reader = commenter(client)
    approve(client, reader)
    top = comment(client, post["id"], reader, "Top").json()
    comment(client, post["id"], author, "Reply", parent_id=top["id"])
    url = f"/api/comments/{top['id']}"
    assert client.delete(url, headers=reader.headers).status_code == 204  # a placeholder
    boss = admin(client)
    for who in (commenter(client), reader, author, boss):
        refused = client.delete(url, headers=who.headers)
        assert (refused.status_code, refused.json()["code"]) == (404, "comment_not_found")
    assert logged(client, boss) == []


def test_ones_own_comment_cannot_be_reported(client, author, post):
    created = comment(client, post["id"], author, "Mine").json()
    url = f"/api/comments/{created['id']}/reports"
    refused = client.post(url, json={"reason": "spam"}, headers=author.headers)
    assert (refused.status_code, refused.json()["code"]) == (422, "cannot_report_own_comment")
    assert scalar(client, select(func.count()).select_from(CommentReport)) == 0
    assert (
        client.post(url, json={"reason": "spam"}, headers=commenter(client).headers).status_code
        == 202
    )


def test_an_admin_dismisses_a_comments_reports_and_keeps_it(client, author, post):
    reader = commenter(client, "Reader")
    approve(client, reader)
    created = comment(client, post["id"], reader, "Borderline").json()
    reports = f"/api/comments/{created['id']}/reports"
    assert client.post(reports, json={"reason": "meh"}, headers=author.headers).status_code == 202
    url = f"/api/admin/comments/{created['id']}/reports"
    guest = client.delete(url)
    assert (guest.status_code, guest.json()["code"]) == (401, "not_authenticated")
    for member in (author, reader):
        refused = client.delete(url, headers=member.headers)
        assert (refused.status_code, refused.json()["code"]) == (403, "admin_required")
    boss = admin(client)
    assert client.delete(url, headers=boss.headers).status_code == 204
    listed = client.get("/api/admin/comments/reported", headers=boss.headers).json()
    assert listed["items"] == []
    assert [c["id"] for c in comments_of(client, post["id"])] == [created["id"]]
    detail = f"comment {created['id']} on post {post['id']} (Commented): Borderline"
    assert logged(client, boss) == [("dismiss_reports", boss.id, "Reader", detail)]
    # Nothing left to dismiss: nothing changes, nothing is logged; it may be reported again.
    assert client.delete(url, headers=boss.headers).status_code == 204
    assert len(logged(client, boss)) == 1
    assert client.post(reports, json={"reason": "meh"}, headers=author.headers).status_code == 202
    missing = client.delete("/api/admin/comments/999999/reports", headers=boss.headers)
    assert (missing.status_code, missing.json()["code"]) == (404, "comment_not_found")
