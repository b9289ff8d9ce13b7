"""Personal access tokens through the API, on SQLite and PostgreSQL: made, listed,
revoked; shown once and stored as a hash; the 50 cap; expiry, revocation, a password
reset or change, suspension and deletion ending them; what each scope opens, and every
other bearer route answering 403 `insufficient_scope`; the security log and the
notices."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from accounts import access_tokens, sessions
from config import get_settings
from models import PersonalAccessToken
from routers.access_tokens import CREATED_PER_HOUR
from tests.helpers import (
    STRONG_PASSWORD,
    bearer,
    create_post,
    make_account,
    mark_verified,
    png,
    run_sql,
    scalar,
)
from tests.test_admin import make_admin
from tests.test_email_links import reset_token

TOKENS = "/api/users/me/tokens"
ALL_SCOPES = ["posts:read", "posts:write", "comments:write"]
NEW_PASSWORD = "Another-Correct-Horse-7"
TOKEN_FORMAT = re.compile(r"ink_[A-Za-z0-9_-]{43}")


@pytest.fixture
def clock(monkeypatch) -> list[datetime]:
    """The sessions' clock (tokens' expiry, recent authentication), moved by hand."""
    now = [datetime.now(UTC)]
    monkeypatch.setattr(sessions, "utcnow", lambda: now[0])
    return now


def make_token(client, account, scopes=None, name="script", expires_in_days=None) -> dict:
    body = {"name": name, "scopes": ALL_SCOPES if scopes is None else scopes}
    if expires_in_days is not None:
        body["expires_in_days"] = expires_in_days
    made = client.post(TOKENS, json=body, headers=account.headers)
    assert made.status_code == 201, made.text
    return made.json()


def listed(client, account) -> list[dict]:
    response = client.get(TOKENS, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


def event_types(client, account) -> list[str]:
    response = client.get("/api/users/me/security-events?limit=100", headers=account.headers)
    return [event["type"] for event in response.json()["items"]]


def subjects(mailbox, address: str, count: int) -> list[str]:
    return [mail.message["Subject"] for mail in mailbox.wait_for(address, count)]


def me(client, token: str):
    return client.get("/api/users/me", headers=bearer(token))


# --- Made, listed, revoked -----------------------------------------------------------


def test_a_token_is_made_shown_once_and_stored_only_as_its_hash(client, alice):
    made = make_token(client, alice, ["posts:read", "posts:write"], expires_in_days=30)
    assert set(made) == {"id", "name", "scopes", "token", "created_at", "expires_at"}
    assert TOKEN_FORMAT.fullmatch(made["token"])
    assert made["name"] == "script"
    assert made["scopes"] == ["posts:read", "posts:write"]
    lifetime = datetime.fromisoformat(made["expires_at"]) - datetime.fromisoformat(
        made["created_at"]
    )
    assert lifetime == timedelta(days=30)

    (row,) = listed(client, alice)
    assert set(row) == {"id", "name", "scopes", "created_at", "expires_at", "last_used_at"}
    assert row["id"] == made["id"]
    assert row["last_used_at"] is None
    assert made["token"] not in str(listed(client, alice))

    stored = scalar(client, select(PersonalAccessToken.token_hash))
    assert stored == access_tokens.tokens.digest(made["token"])
    assert made["token"] not in stored
    assert me(client, made["token"]).json()["id"] == alice.id
    assert listed(client, alice)[0]["last_used_at"] is not None


def test_two_tokens_differ_and_a_token_without_expiry_has_none(client, alice):
    first, second = make_token(client, alice), make_token(client, alice)
    assert first["token"] != second["token"]
    assert first["expires_at"] is None
    assert [row["id"] for row in listed(client, alice)] == [second["id"], first["id"]]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "scopes": ["posts:delete"]},
        {"name": "x", "scopes": ["admin"]},
        {"name": "x", "scopes": []},
        {"name": "", "scopes": ["posts:read"]},
        {"name": "x" * 101, "scopes": ["posts:read"]},
        {"name": "two\nlines", "scopes": ["posts:read"]},
        {"name": "x", "scopes": ["posts:read"], "expires_in_days": 0},
        {"name": "x", "scopes": ["posts:read"], "expires_in_days": 366},
        {"name": "x", "scopes": ["posts:read"], "owner": 1},
        {"scopes": ["posts:read"]},
    ],
)
def test_bad_requests_make_nothing(client, alice, body):
    response = client.post(TOKENS, json=body, headers=alice.headers)
    assert response.status_code == 422, response.text
    assert listed(client, alice) == []


def test_making_a_token_needs_recent_authentication(client, alice, clock):
    clock[0] += timedelta(minutes=get_settings().reauth_window_minutes + 1)
    body = {"name": "x", "scopes": ["posts:read"]}
    refused = client.post(TOKENS, json=body, headers=alice.headers)
    assert refused.status_code == 401
    assert refused.json()["code"] == "reauthentication_required"
    assert client.post(TOKENS, json=body).status_code == 401
    assert listed(client, alice) == []
    # Listing and revoking need only a live session.
    client.post(
        "/api/users/me/reauthentication", json={"password": STRONG_PASSWORD}, headers=alice.headers
    )
    made = make_token(client, alice)
    clock[0] += timedelta(minutes=get_settings().reauth_window_minutes + 1)
    assert client.delete(f"{TOKENS}/{made['id']}", headers=alice.headers).status_code == 204


def test_at_most_50_tokens(client, alice):
    run_sql(
        client,
        "INSERT INTO personal_access_tokens (user_id, name, scopes, token_hash, created_at,"
        " used_from) SELECT :user_id, 'old', 'posts:read', :prefix || n, :now, '' FROM"
        " (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 49)"
        " SELECT n FROM c) AS numbers",
        user_id=alice.id,
        prefix="h" * 60,
        now=datetime.now(UTC),
    )
    last = make_token(client, alice)
    refused = client.post(TOKENS, json={"name": "x", "scopes": ALL_SCOPES}, headers=alice.headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "too_many_access_tokens"
    assert len(listed(client, alice)) == 50
    client.delete(f"{TOKENS}/{last['id']}", headers=alice.headers)
    make_token(client, alice)


def test_revoking_ends_a_token_at_once_and_only_ones_own(client, alice, bob):
    made = make_token(client, alice)
    assert me(client, made["token"]).status_code == 200
    url = f"{TOKENS}/{made['id']}"
    assert client.delete(url).status_code == 401
    not_bobs = client.delete(url, headers=bob.headers)
    assert not_bobs.status_code == 404
    assert not_bobs.json()["code"] == "access_token_not_found"
    assert me(client, made["token"]).status_code == 200
    assert client.delete(url, headers=alice.headers).status_code == 204
    gone = me(client, made["token"])
    assert gone.status_code == 401
    assert gone.json()["code"] == "invalid_token"
    assert client.delete(url, headers=alice.headers).status_code == 404
    assert listed(client, alice) == []


def test_a_token_expires(client, alice, clock):
    made = make_token(client, alice, expires_in_days=1)
    clock[0] += timedelta(hours=23)
    assert me(client, made["token"]).status_code == 200
    clock[0] += timedelta(hours=1)
    assert me(client, made["token"]).status_code == 401


@pytest.mark.parametrize(
    "token",
    ["ink_", "ink_" + "A" * 43, "ink_" + "%" * 43, "ink_" + "A" * 500, "ink_ spaces"],
)
def test_made_up_tokens_are_refused(client, alice, token):
    make_token(client, alice)
    response = me(client, token)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


# --- What ends them ------------------------------------------------------------------


def test_a_password_reset_ends_every_token(client, alice, bob, mailbox):
    made, bobs = make_token(client, alice), make_token(client, bob)
    client.post("/api/users/password-reset", json={"email": alice.email})
    token = reset_token(mailbox, alice.email, 3)  # verification, token made, reset
    confirm = {"token": token, "new_password": NEW_PASSWORD}
    assert client.post("/api/users/password-reset/confirm", json=confirm).status_code == 204
    assert me(client, made["token"]).status_code == 401
    assert me(client, bobs["token"]).status_code == 200


def test_a_password_change_ends_every_token(client, alice):
    made = make_token(client, alice)
    changed = client.post(
        "/api/users/me/password", json={"new_password": NEW_PASSWORD}, headers=alice.headers
    )
    assert changed.status_code == 200, changed.text
    assert me(client, made["token"]).status_code == 401
    assert scalar(client, select(func.count()).select_from(PersonalAccessToken)) == 0


def test_a_suspended_account_is_refused_and_its_tokens_end(client, alice):
    admin = make_admin(client)
    made = make_token(client, alice)
    # Even with `suspended_at` set by hand (no tokens deleted), a token is refused.
    run_sql(
        client,
        "UPDATE users SET suspended_at = :at WHERE id = :id",
        at=datetime.now(UTC),
        id=alice.id,
    )
    assert me(client, made["token"]).status_code == 401
    run_sql(client, "UPDATE users SET suspended_at = NULL WHERE id = :id", id=alice.id)
    assert me(client, made["token"]).status_code == 200
    url = f"/api/admin/users/{alice.id}/suspension"
    assert client.post(url, headers=admin.headers).status_code in (200, 204)
    assert client.delete(url, headers=admin.headers).status_code in (200, 204)
    assert me(client, made["token"]).status_code == 401  # restoring does not bring it back


def test_a_deleted_account_takes_its_tokens_with_it(client, alice):
    made = make_token(client, alice)
    deleted = client.delete(f"/api/users/{alice.id}", headers=alice.headers)
    assert deleted.status_code == 204, deleted.text
    assert me(client, made["token"]).status_code == 401
    assert scalar(client, select(func.count()).select_from(PersonalAccessToken)) == 0


# --- Scopes --------------------------------------------------------------------------


def test_posts_read_opens_me_and_ones_own_posts_of_every_status(client, alice, bob):
    draft = create_post(client, alice, "Draft", status="draft")
    bobs_draft = create_post(client, bob, "Bob's", status="draft")
    reader = make_token(client, alice, ["posts:read"])["token"]
    assert me(client, reader).json()["username"] == "Alice"
    own = client.get("/api/users/me/posts", headers=bearer(reader))
    assert [post["id"] for post in own.json()["items"]] == [draft["id"]]
    assert client.get(f"/api/posts/{draft['id']}", headers=bearer(reader)).status_code == 200
    assert client.get(f"/api/posts/{bobs_draft['id']}", headers=bearer(reader)).status_code == 404
    body = {"title": "t", "content": "c"}
    refused = client.post("/api/posts", json=body, headers=bearer(reader))
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"


def test_posts_write_creates_edits_publishes_deletes_and_uploads(client, alice, bob):
    writer = bearer(make_token(client, alice, ["posts:write"])["token"])
    made = client.post(
        "/api/posts", json={"title": "By script", "content": "c", "status": "draft"}, headers=writer
    )
    assert made.status_code == 201
    assert made.json()["user_id"] == alice.id
    url = f"/api/posts/{made.json()['id']}"
    assert client.patch(url, json={"status": "published"}, headers=writer).json()["status"] == (
        "published"
    )
    replaced = client.put(url, json={"title": "New", "content": "d"}, headers=writer)
    assert replaced.status_code == 200
    preview = client.post("/api/posts/preview", json={"content": "*hi*"}, headers=writer)
    assert preview.status_code == 200
    upload = client.post(
        "/api/media", files={"file": ("a.png", png(20, 20), "image/png")}, headers=writer
    )
    assert upload.status_code == 201, upload.text
    bobs = create_post(client, bob)
    assert client.delete(f"/api/posts/{bobs['id']}", headers=writer).status_code == 403
    assert client.delete(url, headers=writer).status_code == 204
    for read in (
        client.get("/api/users/me", headers=writer),
        client.get("/api/users/me/posts", headers=writer),
    ):
        assert read.status_code == 403
        assert read.json()["code"] == "insufficient_scope"


def test_comments_write_writes_edits_and_deletes_ones_own_comments(client, alice, bob):
    post = create_post(client, bob)
    mark_verified(client, alice)
    commenter = bearer(make_token(client, alice, ["comments:write"])["token"])
    made = client.post(
        f"/api/posts/{post['id']}/comments", json={"content": "Nice"}, headers=commenter
    )
    assert made.status_code == 201, made.text
    url = f"/api/comments/{made.json()['id']}"
    assert client.patch(url, json={"content": "Very nice"}, headers=commenter).status_code == 200
    assert client.delete(url, headers=commenter).status_code == 204
    refused = client.post("/api/posts", json={"title": "t", "content": "c"}, headers=commenter)
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"


def test_a_token_of_an_admin_has_no_admin_powers(client, alice):
    admin = make_admin(client)
    post = create_post(client, alice)
    token = bearer(make_token(client, admin)["token"])
    refused = client.delete(f"/api/posts/{post['id']}", headers=token)
    assert refused.status_code == 403
    assert refused.json()["code"] == "not_your_post"
    refused = client.get("/api/admin/users", headers=token)
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"
    assert client.get(f"/api/posts/{post['id']}").status_code == 200


# What a token with every scope may use; every other bearer route answers 403.
TOKEN_ROUTES = {
    ("GET", "/api/users/me"),
    ("GET", "/api/users/me/posts"),
    ("GET", "/api/posts/{post_id}"),
    ("POST", "/api/posts"),
    ("POST", "/api/posts/preview"),
    ("PUT", "/api/posts/{post_id}"),
    ("PATCH", "/api/posts/{post_id}"),
    ("DELETE", "/api/posts/{post_id}"),
    ("POST", "/api/media"),
    ("POST", "/api/posts/{post_id}/comments"),
    ("PATCH", "/api/comments/{comment_id}"),
    ("DELETE", "/api/comments/{comment_id}"),
}


def test_openapi_offers_the_token_on_exactly_its_routes(client):
    schema = client.get("/openapi.json").json()
    offered = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if {"PersonalAccessToken": []} in operation.get("security", [])
    }
    assert offered == TOKEN_ROUTES
    scheme = schema["components"]["securitySchemes"]["PersonalAccessToken"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    assert "OAuth2PasswordBearer" in schema["components"]["securitySchemes"]


def _session_only_routes(client) -> list[tuple[str, str]]:
    schema = client.get("/openapi.json").json()
    return sorted(
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if operation.get("security") and (method.upper(), path) not in TOKEN_ROUTES
    )


def test_every_other_bearer_route_refuses_a_token_whatever_its_scopes(client, alice):
    """The email, the password, tokens, sessions, passkeys, 2FA, the account's deletion,
    admin routes: all 403 `insufficient_scope`, and nothing changed."""
    post = create_post(client, alice)
    token = make_token(client, alice)
    routes = _session_only_routes(client)
    for needed in [
        ("PATCH", "/api/users/{user_id}"),
        ("DELETE", "/api/users/{user_id}"),
        ("POST", "/api/users/me/password"),
        ("GET", "/api/users/me/sessions"),
        ("POST", "/api/users/me/passkeys/options"),
        ("POST", "/api/users/me/totp"),
        ("GET", "/api/admin/users"),
    ]:
        assert needed in routes
    ids = {"user_id": alice.id, "post_id": post["id"]}
    for method, path in routes:
        url = re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), 1)), path)
        response = client.request(method, url, json={}, headers=bearer(token["token"]))
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "insufficient_scope", (method, path)
    for method, path in [("GET", TOKENS), ("POST", TOKENS), ("DELETE", f"{TOKENS}/{token['id']}")]:
        response = client.request(
            method, path, json={"name": "x", "scopes": ALL_SCOPES}, headers=bearer(token["token"])
        )
        assert response.status_code == 403
        assert response.json()["code"] == "insufficient_scope"
    assert me(client, token["token"]).json()["email"] == alice.email
    assert len(listed(client, alice)) == 1
    assert client.get(f"/api/users/{alice.id}").status_code == 200


# --- The security log and the notices ------------------------------------------------


def test_made_revoked_and_used_from_a_new_address_are_logged_and_mailed(client, alice, mailbox):
    made = make_token(client, alice, name="Deploy bot")
    assert subjects(mailbox, alice.email, 2)[-1] == "An access token was made for your account"
    assert "Deploy bot" not in mailbox.wait_for(alice.email, 2)[-1].text  # unverified address
    me(client, made["token"])
    me(client, made["token"])  # the same address: nothing more
    assert subjects(mailbox, alice.email, 3)[-1] == "An access token was used from a new address"
    client.delete(f"{TOKENS}/{made['id']}", headers=alice.headers)
    assert subjects(mailbox, alice.email, 4)[-1] == "An access token was revoked"
    assert len(mailbox.to(alice.email)) == 4
    logged = event_types(client, alice)
    assert logged[:3] == [
        "access_token_revoked",
        "access_token_new_address",
        "access_token_created",
    ]
    response = client.get("/api/users/me/security-events", headers=alice.headers)
    assert response.json()["items"][0]["detail"] == "Deploy bot"


def test_last_used_is_written_at_most_once_a_minute(client, alice, clock):
    token = make_token(client, alice)["token"]
    me(client, token)
    first = listed(client, alice)[0]["last_used_at"]
    clock[0] += timedelta(seconds=30)
    me(client, token)
    assert listed(client, alice)[0]["last_used_at"] == first
    clock[0] += timedelta(seconds=31)
    me(client, token)
    assert listed(client, alice)[0]["last_used_at"] != first


@pytest.mark.settings(account_mail_per_hour=1000)
def test_making_tokens_is_rate_limited(client, alice):
    mark_verified(client, alice)
    for _ in range(CREATED_PER_HOUR):
        make_token(client, alice)
        client.delete(f"{TOKENS}/{listed(client, alice)[0]['id']}", headers=alice.headers)
    refused = client.post(TOKENS, json={"name": "x", "scopes": ALL_SCOPES}, headers=alice.headers)
    assert refused.status_code == 429
    other = make_account(client)
    make_token(client, other)
