"""Admins (issue 24): who may use /api/admin, suspending and restoring accounts (no
sign-in by any method, sessions and access tokens ended, the account's posts gone from
every public read and back after), deleting any post, the last-admin rule, the accounts
list and the append-only admin-actions log."""

from concurrent.futures import ThreadPoolExecutor
from http.cookies import SimpleCookie

import pytest
import sqlalchemy.exc
from sqlalchemy import func, select

from models import AdminAction, Post, User, UserSession
from tests.helpers import (
    bearer,
    create_post,
    log_in,
    login,
    make_account,
    mark_verified,
    run_sql,
    scalar,
)
from tests.test_queries import counting_statements


def make_admin(client, username: str | None = None):
    """An account made admin as `manage promote` would, straight in the database."""
    account = make_account(client, username)
    run_sql(client, "UPDATE users SET role = 'admin' WHERE id = :id", id=account.id)
    return account


@pytest.fixture
def admin(client):
    return make_admin(client, "Root")


def suspend(client, admin, account, expected: int = 204):
    response = client.post(f"/api/admin/users/{account.id}/suspension", headers=admin.headers)
    assert response.status_code == expected, response.text
    return response


def restore(client, admin, account, expected: int = 204):
    response = client.delete(f"/api/admin/users/{account.id}/suspension", headers=admin.headers)
    assert response.status_code == expected, response.text
    return response


def actions(client, admin) -> list[dict]:
    response = client.get("/api/admin/actions", headers=admin.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


# --- Who may ----------------------------------------------------------------------


def admin_routes(target_id: int) -> list[tuple[str, str, int]]:
    """Every /api/admin route, with what an admin gets."""
    return [
        ("GET", "/api/admin/users", 200),
        ("GET", "/api/admin/users?q=bob", 200),
        ("GET", "/api/admin/actions", 200),
        ("GET", f"/api/admin/users/{target_id}/posts", 200),
        ("POST", f"/api/admin/users/{target_id}/suspension", 204),
        ("DELETE", f"/api/admin/users/{target_id}/suspension", 204),
    ]


def test_every_admin_route_is_401_for_guests_403_for_members_and_open_to_admins(
    client, admin, alice, bob
):
    for method, path, answer in admin_routes(bob.id):
        guest = client.request(method, path)
        assert (guest.status_code, guest.json()["code"]) == (401, "not_authenticated"), path
        member = client.request(method, path, headers=alice.headers)
        assert (member.status_code, member.json()["code"]) == (403, "admin_required"), path
        assert client.request(method, path, headers=admin.headers).status_code == answer, path


def test_the_openapi_schema_names_the_admin_routes(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/admin/users" in paths
    assert set(paths["/api/admin/users/{user_id}/suspension"]) == {"post", "delete"}
    assert "/api/admin/actions" in paths
    assert all("post" not in item for path, item in paths.items() if path.endswith("actions"))


def test_an_admin_deletes_anyones_post_a_member_does_not(client, admin, alice, bob):
    post = create_post(client, alice, title="Spam, spam")
    refused = client.delete(f"/api/posts/{post['id']}", headers=bob.headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "not_your_post")
    assert client.delete(f"/api/posts/{post['id']}", headers=admin.headers).status_code == 204
    assert client.get(f"/api/posts/{post['id']}").status_code == 404
    [logged] = actions(client, admin)
    assert logged["action"] == "delete_post"
    assert (logged["actor_id"], logged["actor_name"]) == (admin.id, "Root")
    assert (logged["target_id"], logged["target_name"]) == (alice.id, alice.username)
    assert logged["detail"] == f"post {post['id']}: Spam, spam"
    # An author deleting their own post is no admin action, admin or not.
    own = create_post(client, admin)
    assert client.delete(f"/api/posts/{own['id']}", headers=admin.headers).status_code == 204
    assert len(actions(client, admin)) == 1


def test_an_admin_cannot_reach_someone_elses_draft(client, admin, alice):
    draft = create_post(client, alice, status="draft")
    assert client.delete(f"/api/posts/{draft['id']}", headers=admin.headers).status_code == 404


def test_unknown_accounts_are_404(client, admin):
    for method in ("POST", "DELETE"):
        response = client.request(
            method, "/api/admin/users/999999/suspension", headers=admin.headers
        )
        assert (response.status_code, response.json()["code"]) == (404, "user_not_found")
    assert client.get("/api/admin/users/999999/posts", headers=admin.headers).status_code == 404


# --- Suspension: no way in ----------------------------------------------------------


def test_a_suspended_account_cannot_log_in_but_a_wrong_password_says_nothing(client, admin, alice):
    suspend(client, admin, alice)
    right = login(client, alice.email)
    assert (right.status_code, right.json()["code"]) == (403, "account_suspended")
    assert "access_token" not in right.json()
    assert "refresh_token" not in SimpleCookie(right.headers.get("set-cookie", ""))
    wrong = login(client, alice.email, "not the password at all")
    assert (wrong.status_code, wrong.json()["code"]) == (401, "invalid_credentials")
    restore(client, admin, alice)
    assert login(client, alice.email).status_code == 200


def test_suspending_ends_every_session_and_its_access_tokens_at_once(client, admin, alice):
    second = login(client, alice.email)
    cookie = SimpleCookie(second.headers["set-cookie"])["refresh_token"].value
    tokens = [alice.token, second.json()["access_token"]]
    for token in tokens:
        assert client.get("/api/users/me", headers=bearer(token)).status_code == 200
    suspend(client, admin, alice)
    for token in tokens:
        me = client.get("/api/users/me", headers=bearer(token))
        assert (me.status_code, me.json()["code"]) == (401, "invalid_token")
    live = select(func.count()).where(
        UserSession.user_id == alice.id, UserSession.revoked_at.is_(None)
    )
    assert scalar(client, live) == 0
    client.cookies.clear()
    client.cookies.set("refresh_token", cookie)
    refreshed = client.post("/api/users/token/refresh")
    assert refreshed.status_code == 401
    # Restored, the ended sessions stay ended: a new sign-in is needed.
    restore(client, admin, alice)
    assert client.get("/api/users/me", headers=bearer(tokens[0])).status_code == 401


def test_a_session_that_outlived_a_suspension_made_by_hand_is_refused(client, alice):
    """Suspending through SQL ends no session: access tokens and the refresh still stop."""
    response = login(client, alice.email)
    cookie = SimpleCookie(response.headers["set-cookie"])["refresh_token"].value
    run_sql(client, "UPDATE users SET suspended_at = CURRENT_TIMESTAMP WHERE id = :id", id=alice.id)
    token = response.json()["access_token"]
    assert client.get("/api/users/me", headers=bearer(token)).status_code == 401
    client.cookies.clear()
    client.cookies.set("refresh_token", cookie)
    refreshed = client.post("/api/users/token/refresh")
    assert (refreshed.status_code, refreshed.json()["code"]) == (403, "account_suspended")


# --- Suspension: the account's posts leave the site ----------------------------------


def public_reads(post: dict, author_id: int) -> dict[str, str]:
    """Every public place a post shows, and what marks it there."""
    return {
        "/": post["title"],
        "/api/posts": post["title"],
        "/api/posts?tag=mytag": post["title"],
        f"/users/{author_id}/posts": post["title"],
        f"/api/users/{author_id}/posts": post["title"],
        "/feed.xml": post["title"],
        f"/users/{author_id}/feed.xml": post["title"],
        "/api/tags": "mytag",
        "/api/search?q=zanzibar": post["title"],
        "/search?q=zanzibar": post["title"],
        "/sitemap.xml": f"/posts/{post['id']}/",
    }


def test_a_suspended_authors_posts_leave_every_public_read_and_come_back(client, admin, alice, bob):
    older = create_post(client, bob, title="Bob before")
    post = create_post(client, alice, title="Zanzibar notes", content="zanzibar", tags=["mytag"])
    newer = create_post(client, bob, title="Bob after")
    reads = public_reads(post, alice.id)
    pages = {
        f"/posts/{post['id']}/{post['slug']}": 200,
        "/tags/mytag": 200,
        "/tags/mytag/feed.xml": 200,
    }

    def shown(path: str) -> bool:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return reads[path] in response.text

    # Rendered and cached first: the suspension must turn every cached copy over.
    assert all(shown(path) for path in reads)
    for path, answer in pages.items():
        assert client.get(path).status_code == answer
    neighbours = f"/posts/{older['id']}/{older['slug']}"
    assert post["title"] in client.get(neighbours).text  # its "Next post"
    assert client.get(f"/api/posts/{post['id']}").status_code == 200

    suspend(client, admin, alice)
    assert not any(shown(path) for path in reads), [path for path in reads if shown(path)]
    for path in pages:
        assert client.get(path).status_code == 404, path
    assert post["title"] not in client.get(neighbours).text
    assert newer["title"] in client.get(neighbours).text  # the next one along instead
    assert client.get(f"/users/{alice.id}/posts").status_code == 200  # the author page stays
    for viewer in ({}, bob.headers):
        assert client.get(f"/api/posts/{post['id']}", headers=viewer).status_code == 404
    # Admins still read it through the API.
    assert client.get(f"/api/posts/{post['id']}", headers=admin.headers).status_code == 200
    listed = client.get(f"/api/admin/users/{alice.id}/posts", headers=admin.headers).json()
    assert [item["id"] for item in listed["items"]] == [post["id"]]

    restore(client, admin, alice)
    assert all(shown(path) for path in reads)
    for path, answer in pages.items():
        assert client.get(path).status_code == answer
    assert post["title"] in client.get(neighbours).text


def test_a_post_written_for_a_suspended_account_starts_hidden(client, admin, alice):
    """The database keeps the copy exact whoever writes: here, an insert by hand."""
    create_post(client, alice, title="Before")
    suspend(client, admin, alice)
    run_sql(
        client,
        "INSERT INTO posts (title, content, content_html, search_text, status, slug, "
        "slug_fixed, user_id, date_posted, changed_at, reading_minutes) VALUES ('By hand', "
        "'x', '<p>x</p>', 'x', 'published', 'by-hand', true, :id, CURRENT_TIMESTAMP, "
        "CURRENT_TIMESTAMP, 1)",
        id=alice.id,
    )
    assert scalar(client, select(func.count()).where(Post.author_suspended)) == 2
    assert client.get("/api/posts").json()["items"] == []
    restore(client, admin, alice)
    assert {item["title"] for item in client.get("/api/posts").json()["items"]} == {
        "Before",
        "By hand",
    }


def test_the_home_page_costs_the_same_statements_with_a_suspended_author(client, admin, alice, bob):
    create_post(client, bob)
    create_post(client, alice)
    with counting_statements(client) as before:
        assert client.get("/api/posts").status_code == 200
    suspend(client, admin, alice)
    with counting_statements(client) as after:
        assert client.get("/api/posts").status_code == 200
    assert len(after) == len(before) == 3


# --- The last admin -------------------------------------------------------------------


def test_the_last_admin_cannot_be_suspended(client, admin):
    refused = suspend(client, admin, admin, 409)
    assert refused.json()["code"] == "last_admin"
    assert client.get("/api/users/me", headers=admin.headers).status_code == 200

    second = make_admin(client, "Second")
    suspend(client, admin, second)  # another admin remains: allowed
    refused = suspend(client, admin, admin, 409)  # the only admin who can sign in
    assert refused.json()["code"] == "last_admin"
    restore(client, admin, second)
    log_in(client, second)  # its sessions ended with the suspension
    suspend(client, second, admin)  # now one may suspend the other, or themselves
    assert client.get("/api/users/me", headers=admin.headers).status_code == 401
    assert suspend(client, second, second, 409).json()["code"] == "last_admin"


def test_suspending_twice_or_restoring_an_active_account_changes_nothing(client, admin, alice):
    restore(client, admin, alice)
    suspend(client, admin, alice)
    suspend(client, admin, alice)
    assert [action["action"] for action in actions(client, admin)] == ["suspend"]


# --- The log ---------------------------------------------------------------------------


def test_the_log_records_each_action_newest_first_and_pages(client, admin, alice, bob):
    for account in (alice, bob):
        suspend(client, admin, account)
        restore(client, admin, account)
    logged = actions(client, admin)
    assert [(a["action"], a["target_name"]) for a in logged] == [
        ("restore", bob.username),
        ("suspend", bob.username),
        ("restore", alice.username),
        ("suspend", alice.username),
    ]
    assert all(a["actor_name"] == "Root" and a["created_at"] for a in logged)
    first = client.get("/api/admin/actions?limit=3", headers=admin.headers).json()
    rest = client.get(
        f"/api/admin/actions?limit=3&cursor={first['next_cursor']}", headers=admin.headers
    ).json()
    assert [a["id"] for a in first["items"] + rest["items"]] == [a["id"] for a in logged]
    assert rest["next_cursor"] is None


def test_the_log_cannot_be_changed_or_deleted_and_outlives_accounts(client, admin, alice):
    suspend(client, admin, alice)
    for statement in (
        "UPDATE admin_actions SET detail = 'nothing happened'",
        "DELETE FROM admin_actions",
    ):
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="append-only"):
            run_sql(client, statement)
    run_sql(client, "DELETE FROM users WHERE id = :id", id=alice.id)
    [logged] = actions(client, admin)
    assert (logged["target_id"], logged["target_name"]) == (alice.id, alice.username)
    assert scalar(client, select(func.count()).select_from(AdminAction)) == 1


def test_a_cursor_of_one_list_is_refused_by_the_other(client, admin, alice, bob):
    for account in (alice, bob):
        suspend(client, admin, account)
    cursor = client.get("/api/admin/actions?limit=1", headers=admin.headers).json()["next_cursor"]
    response = client.get(f"/api/admin/users?cursor={cursor}", headers=admin.headers)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")
    response = client.get("/api/admin/actions?cursor=nonsense", headers=admin.headers)
    assert (response.status_code, response.json()["code"]) == (400, "invalid_cursor")


# --- The accounts list -------------------------------------------------------------------


def test_the_accounts_list_searches_names_and_emails_in_any_case(client, admin):
    maya = make_account(client, "MayaChen", "maya.chen@example.com")
    jonas = make_account(client, "Jonas", "jb@Example.org")
    create_post(client, maya)
    create_post(client, maya, title="Two")
    create_post(client, maya, title="Draft", status="draft")
    # Two comments of Maya's: the first waits for approval, and both count.
    mark_verified(client, maya)
    post_id = create_post(client, admin, title="Open")["id"]
    for text in ("First", "Second"):
        response = client.post(
            f"/api/posts/{post_id}/comments", json={"content": text}, headers=maya.headers
        )
        assert response.status_code == 201, response.text
    suspend(client, admin, jonas)

    def found(q: str) -> list[str]:
        response = client.get("/api/admin/users", params={"q": q}, headers=admin.headers)
        assert response.status_code == 200, response.text
        return [item["username"] for item in response.json()["items"]]

    assert found("mayac") == ["MayaChen"]
    assert found("EXAMPLE.ORG") == ["Jonas"]
    assert found("%") == []  # a LIKE wildcard is a plain character here
    assert found("") == ["Jonas", "MayaChen", "Root"]  # newest first
    items = {
        item["username"]: item
        for item in client.get("/api/admin/users", headers=admin.headers).json()["items"]
    }
    assert set(items["MayaChen"]) == {
        "id", "username", "email", "verified", "role", "created_at", "suspended", "post_count",
        "comment_count",
    }  # fmt: skip
    assert items["MayaChen"]["post_count"] == 2  # published ones
    assert items["MayaChen"]["comment_count"] == 2
    assert items["Jonas"]["comment_count"] == 0
    assert items["MayaChen"]["email"] == "maya.chen@example.com"
    assert (items["Jonas"]["suspended"], items["Jonas"]["role"]) == (True, "member")
    assert (items["Root"]["suspended"], items["Root"]["role"]) == (False, "admin")
    assert items["Root"]["verified"] is False


def test_the_accounts_list_pages_in_one_statement_whatever_its_size(client, admin):
    def page_cost() -> int:
        with counting_statements(client) as statements:
            response = client.get("/api/admin/users?limit=100", headers=admin.headers)
            assert response.status_code == 200
        return len(statements)

    alone = page_cost()
    for n in range(12):
        create_post(client, make_account(client, f"Writer{n}"))
    assert page_cost() == alone == 2  # the token's session, then the page

    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/admin/users", params=params, headers=admin.headers).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == 13


def test_two_admins_suspending_each_other_at_once_leave_one_admin(client):
    first, second = make_admin(client, "First"), make_admin(client, "Second")

    def suspend_other(pair) -> int:
        actor, target = pair
        path = f"/api/admin/users/{target.id}/suspension"
        return client.post(path, headers=actor.headers).status_code

    for _attempt in range(3):
        with ThreadPoolExecutor(2) as pool:
            statuses = sorted(pool.map(suspend_other, [(first, second), (second, first)]))
        active = select(func.count()).where(User.role == "admin", User.suspended_at.is_(None))
        assert scalar(client, active) == 1, statuses
        assert statuses[0] == 204, statuses
        # The other was refused: the last admin (409), or its own session already ended.
        assert statuses[1] in (401, 409), statuses
        run_sql(client, "UPDATE users SET suspended_at = NULL")
        for account in (first, second):
            log_in(client, account)
