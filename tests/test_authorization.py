"""Who may write what: 401 without a token, 403 for someone else's things, 404 for nothing."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from accounts import sessions
from accounts.throttle import MAX_FAILURES_PER_EMAIL
from auth import OptionalUser
from config import get_settings
from tests.helpers import STRONG_PASSWORD, bearer, create_post, login, statuses_in_parallel


@pytest.mark.parametrize(
    ("method", "body"),
    [("put", {"title": "t", "content": "c"}), ("patch", {"title": "t"}), ("delete", None)],
)
def test_post_writes_401_403_404(client, alice, bob, method, body):
    post = create_post(client, alice)
    url = f"/api/posts/{post['id']}"
    kwargs = {"json": body} if body else {}
    assert client.request(method, url, **kwargs).status_code == 401
    forbidden = client.request(method, url, headers=bob.headers, **kwargs)
    assert forbidden.status_code == 403
    assert forbidden.json()["detail"].startswith("Not authorized to")
    assert (
        client.request(method, "/api/posts/999", headers=bob.headers, **kwargs).status_code == 404
    )
    assert client.get(url).json() == post  # nothing changed
    assert client.request(method, url, headers=alice.headers, **kwargs).status_code in (200, 204)


def test_creating_a_post_needs_a_token_and_the_author_comes_from_it(client, alice, bob):
    body = {"title": "t", "content": "c"}
    assert client.post("/api/posts", json=body).status_code == 401
    forged = client.post("/api/posts", json=body | {"user_id": alice.id}, headers=bob.headers)
    assert forged.status_code == 422
    made = client.post("/api/posts", json=body, headers=bob.headers).json()
    assert made["user_id"] == bob.id


@pytest.mark.parametrize(("method", "body"), [("patch", {"username": "Mallory"}), ("delete", None)])
def test_users_change_only_themselves(client, alice, bob, method, body):
    url = f"/api/users/{alice.id}"
    kwargs = {"json": body} if body else {}
    assert client.request(method, url, **kwargs).status_code == 401
    assert client.request(method, url, headers=bob.headers, **kwargs).status_code == 403
    assert (
        client.request(method, "/api/users/999", headers=bob.headers, **kwargs).status_code == 404
    )
    assert client.get(url).json()["username"] == "Alice"


def test_update_own_account_with_case_insensitive_conflicts(client, alice, bob):
    url = f"/api/users/{alice.id}"
    taken_name = client.patch(url, json={"username": "BOB"}, headers=alice.headers)
    assert taken_name.status_code == 409
    assert taken_name.json() == {"detail": "Username already exists", "code": "username_taken"}
    taken = {"email": "Bob@Example.com", "current_password": alice.password}
    taken_email = client.patch(url, json=taken, headers=alice.headers)
    assert taken_email.json() == {"detail": "Email already registered", "code": "email_taken"}
    # Changing only the casing of one's own name is fine.
    change = {"username": "ALICE", "email": "New@Example.com", "current_password": alice.password}
    renamed = client.patch(url, json=change, headers=alice.headers)
    assert renamed.status_code == 200
    assert (renamed.json()["username"], renamed.json()["email"]) == ("ALICE", "new@example.com")
    assert login(client, "new@example.com").status_code == 200
    assert client.patch(url, json={"email": None}, headers=alice.headers).status_code == 422


def test_deleting_an_account_deletes_its_posts(client, alice, bob):
    mine = create_post(client, alice)
    theirs = create_post(client, bob)
    assert client.delete(f"/api/users/{alice.id}", headers=alice.headers).status_code == 204
    assert client.get(f"/api/posts/{mine['id']}").status_code == 404
    assert [p["id"] for p in client.get("/api/posts").json()["items"]] == [theirs["id"]]


def test_password_change_rehashes_and_ends_every_other_session(client, alice):
    elsewhere = bearer(login(client, alice.email).json()["access_token"])
    new_password = "a-completely-different-phrase-42"
    change = {"current_password": STRONG_PASSWORD, "new_password": new_password}
    response = client.post("/api/users/me/password", json=change, headers=alice.headers)
    assert response.status_code == 200
    fresh = response.json()["access_token"]
    assert client.get("/api/users/me", headers=elsewhere).status_code == 401
    assert client.get("/api/users/me", headers=alice.headers).status_code == 200
    assert client.get("/api/users/me", headers=bearer(fresh)).status_code == 200
    assert login(client, alice.email).status_code == 401
    assert login(client, alice.email, new_password).status_code == 200


def test_password_change_needs_the_current_password_and_a_strong_new_one(client, alice):
    url = "/api/users/me/password"
    mistaken = {"current_password": "nope-nope-nope", "new_password": "x" * 20}
    wrong = client.post(url, json=mistaken, headers=alice.headers)
    assert wrong.status_code == 400
    assert wrong.json() == {
        "detail": "Current password is incorrect",
        "code": "current_password_incorrect",
    }
    weak = {"current_password": STRONG_PASSWORD, "new_password": "password123"}
    assert client.post(url, json=weak, headers=alice.headers).status_code == 422
    named = {"current_password": STRONG_PASSWORD, "new_password": "alice-is-my-name"}
    assert client.post(url, json=named, headers=alice.headers).status_code == 422
    fine = {"current_password": STRONG_PASSWORD, "new_password": "a" * 20}
    assert client.post(url, json=fine).status_code == 401
    assert client.get("/api/users/me", headers=alice.headers).status_code == 200


def test_current_password_guesses_are_throttled_like_logins(client, alice):
    """A stolen token used to allow unlimited guesses at the password (40 at once,
    40 x 400). They spend the account's login budget now, so login is locked too."""
    guess = {"current_password": "is-it-this-one?", "new_password": "Another-strong-pass-42"}
    statuses = statuses_in_parallel(
        lambda: client.post("/api/users/me/password", json=guess, headers=alice.headers), 40
    )
    assert statuses == [400] * MAX_FAILURES_PER_EMAIL + [429] * (40 - MAX_FAILURES_PER_EMAIL)
    right = {"current_password": alice.password, "new_password": "Another-strong-pass-42"}
    locked = client.post("/api/users/me/password", json=right, headers=alice.headers)
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert login(client, alice.email).status_code == 429


def test_changing_the_email_on_an_old_session_needs_the_current_password(
    client, alice, monkeypatch
):
    """Step-up (tests/test_step_up.py has the rest): past REAUTH_WINDOW_MINUTES a new
    email needs a reauthentication, or `current_password` as before."""
    later = sessions.utcnow() + timedelta(minutes=get_settings().reauth_window_minutes + 1)
    monkeypatch.setattr(sessions, "utcnow", lambda: later)
    url = f"/api/users/{alice.id}"
    missing = client.patch(url, json={"email": "new@example.com"}, headers=alice.headers)
    assert missing.status_code == 401
    assert missing.json()["code"] == "reauthentication_required"
    wrong = {"email": "new@example.com", "current_password": "not-my-password"}
    refused = client.patch(url, json=wrong, headers=alice.headers)
    assert refused.status_code == 400
    assert refused.json() == {
        "detail": "Current password is incorrect",
        "code": "current_password_incorrect",
    }
    assert client.get("/api/users/me", headers=alice.headers).json()["email"] == alice.email
    # A rename, or the same email in another case, needs no password.
    same = {"username": "Alicia", "email": alice.email.upper()}
    assert client.patch(url, json=same, headers=alice.headers).status_code == 200
    right = {"email": "new@example.com", "current_password": alice.password}
    changed = client.patch(url, json=right, headers=alice.headers)
    assert changed.status_code == 200
    assert changed.json()["email"] == "new@example.com"
    assert "current_password" not in changed.json()


def test_wrong_passwords_on_email_changes_are_throttled(client, alice):
    wrong = {"email": "new@example.com", "current_password": "not-my-password"}
    url = f"/api/users/{alice.id}"
    statuses = statuses_in_parallel(
        lambda: client.patch(url, json=wrong, headers=alice.headers), 12
    )
    assert statuses == [400] * MAX_FAILURES_PER_EMAIL + [429] * (12 - MAX_FAILURES_PER_EMAIL)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/users/{user}", {"username": None}),
        ("/api/users/{user}", {"email": None}),
        ("/api/users/{user}", {"email": "n@example.com", "current_password": None}),
        ("/api/posts/{post}", {"title": None}),
        ("/api/posts/{post}", {"content": None}),
        ("/api/users/{user}", {"comment_mail": None}),
        ("/api/posts/{post}", {"comments_enabled": None}),
    ],
)
def test_patch_fields_may_be_left_out_but_never_null(client, alice, path, body):
    """The schema and the API agree: no PATCH field is nullable, and null gets 422."""
    post = create_post(client, alice)
    url = path.format(user=alice.id, post=post["id"])
    response = client.patch(url, json=body, headers=alice.headers)
    assert response.status_code == 422
    assert "may be omitted but not null" in response.text
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("UserUpdate", "PostUpdate"):
        for field, schema in schemas[name]["properties"].items():
            assert "anyOf" not in schema, (name, field)
            expected = {"tags": "array", "comment_mail": "boolean", "comments_enabled": "boolean"}
            assert schema["type"] == expected.get(field, "string"), (name, field)
            assert "default" not in schema, (name, field)


def test_optional_user_personalises_without_refusing(alice, client):
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, object]]:
        yield {"hot_reads": client.app_state["hot_reads"]}

    probe = FastAPI(lifespan=lifespan)

    @probe.get("/hello")
    async def hello(user: OptionalUser) -> dict[str, str]:
        return {"hello": user.username if user else "stranger"}

    with TestClient(probe) as probe_client:
        assert probe_client.get("/hello").json() == {"hello": "stranger"}
        assert probe_client.get("/hello", headers=bearer("junk")).json() == {"hello": "stranger"}
        assert probe_client.get("/hello", headers=alice.headers).json() == {"hello": "Alice"}


def test_openapi_locks_exactly_the_protected_operations(client):
    schema = client.get("/openapi.json").json()
    locked = {
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if operation.get("security")
    }
    assert locked == {
        ("GET", "/api/users/me"),
        ("GET", "/api/users/me/sessions"),
        ("DELETE", "/api/users/me/sessions"),
        ("DELETE", "/api/users/me/sessions/{session_id}"),
        ("GET", "/api/users/me/security-events"),
        ("POST", "/api/users/me/tokens"),
        ("GET", "/api/users/me/tokens"),
        ("DELETE", "/api/users/me/tokens/{token_id}"),
        ("POST", "/api/users/me/totp"),
        ("POST", "/api/users/me/totp/confirmation"),
        ("DELETE", "/api/users/me/totp"),
        ("POST", "/api/users/me/recovery-codes"),
        ("POST", "/api/users/logout"),
        ("POST", "/api/users/me/password"),
        ("POST", "/api/users/me/verify-email/resend"),
        ("PUT", "/api/users/me/picture"),
        ("DELETE", "/api/users/me/picture"),
        ("POST", "/api/media"),
        ("POST", "/api/users/me/passkeys/options"),
        ("POST", "/api/users/me/passkeys"),
        ("GET", "/api/users/me/passkeys"),
        ("PATCH", "/api/users/me/passkeys/{passkey_id}"),
        ("DELETE", "/api/users/me/passkeys/{passkey_id}"),
        ("GET", "/api/users/me/identities"),
        ("POST", "/api/users/me/identities"),
        ("DELETE", "/api/users/me/identities/{identity_id}"),
        ("GET", "/api/users/me/export"),
        ("POST", "/api/users/me/reauthentication/oidc"),
        ("POST", "/api/users/me/reauthentication"),
        ("POST", "/api/users/me/reauthentication/passkey/options"),
        ("POST", "/api/users/me/reauthentication/passkey"),
        ("PATCH", "/api/users/{user_id}"),
        ("DELETE", "/api/users/{user_id}"),
        ("POST", "/api/posts"),
        ("POST", "/api/posts/preview"),
        # Optional there: a signed-in author also sees their own draft.
        ("GET", "/api/posts/{post_id}"),
        ("GET", "/api/users/me/posts"),
        ("POST", "/api/users/me/import"),
        ("PUT", "/api/posts/{post_id}"),
        ("PATCH", "/api/posts/{post_id}"),
        ("DELETE", "/api/posts/{post_id}"),
        ("GET", "/api/admin/users"),
        ("POST", "/api/admin/users/{user_id}/suspension"),
        ("DELETE", "/api/admin/users/{user_id}/suspension"),
        ("GET", "/api/admin/users/{user_id}/posts"),
        ("GET", "/api/admin/actions"),
        # Optional there: pending comments are shown to those entitled to them.
        ("GET", "/api/posts/{post_id}/comments"),
        ("POST", "/api/posts/{post_id}/comments"),
        ("GET", "/api/comments/pending"),
        ("PATCH", "/api/comments/{comment_id}"),
        ("DELETE", "/api/comments/{comment_id}"),
        ("POST", "/api/comments/{comment_id}/approval"),
        ("POST", "/api/comments/{comment_id}/reports"),
        ("GET", "/api/admin/comments/reported"),
        ("DELETE", "/api/admin/comments/{comment_id}/reports"),
    }
    flows = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
    assert flows["password"]["tokenUrl"] == "api/users/token"
