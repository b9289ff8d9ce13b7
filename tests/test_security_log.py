"""The security log through the API (GET /api/users/me/security-events), on SQLite and
PostgreSQL: each change that is recorded, with the client's address and browser; a
refused change leaves nothing; pages, cursors, other accounts; the keeping time."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import AnyHttpUrl
from sqlalchemy import func, insert, select

from accounts import email_links, sessions
from content.pagination import encode_id_cursor
from models import SecurityEvent
from tests.helpers import STRONG_PASSWORD, bearer, login, make_account, run_sql, scalar
from tests.mail_server import Mailbox
from tests.soft_authenticator import SoftAuthenticator
from tests.test_admin import make_admin
from tests.test_email_links import reset_token
from tests.test_passkeys import ORIGIN, add_passkey
from tests.test_passkeys import sign_in as passkey_sign_in

pytestmark = pytest.mark.settings(public_url=AnyHttpUrl(ORIGIN))

EVENTS = "/api/users/me/security-events"
NEW_PASSWORD = "Another-Correct-Horse-7"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0"
# TestClient's client address.
CLIENT_IP = "testclient"


@pytest.fixture
def clock(monkeypatch) -> list[datetime]:
    """The sessions' clock, which the security log reads too, moved by hand."""
    now = [datetime.now(UTC)]
    monkeypatch.setattr(sessions, "utcnow", lambda: now[0])
    return now


def events(client, account, **params) -> list[dict]:
    """The account's events on the first page (newest first)."""
    response = client.get(EVENTS, params=params, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


def types(client, account) -> list[str]:
    return [event["type"] for event in events(client, account, limit=100)]


def from_browser(account) -> dict[str, str]:
    return account.headers | {"User-Agent": BROWSER}


def assert_from_browser(event: dict, type_: str, detail: str = "") -> None:
    assert event["type"] == type_
    assert event["ip"] == CLIENT_IP
    assert event["user_agent"] == BROWSER
    assert event["detail"] == detail
    created = datetime.fromisoformat(event["created_at"])
    assert abs(created - datetime.now(UTC)) < timedelta(minutes=1)


# --- What is recorded ---------------------------------------------------------------


def test_a_sign_in_is_recorded_with_its_method_address_and_browser(client, alice):
    response = client.post(
        "/api/users/token",
        data={"username": alice.email, "password": STRONG_PASSWORD},
        headers={"User-Agent": BROWSER},
    )
    assert response.status_code == 200
    newest, first = events(client, alice)
    assert_from_browser(newest, "sign_in", "password")
    assert first["type"] == "sign_in"  # the fixture's own login
    assert set(newest) == {"id", "type", "created_at", "ip", "user_agent", "detail"}
    assert newest["id"] > first["id"]


def test_a_wrong_password_at_login_records_a_failure_and_no_sign_in(client, alice):
    assert login(client, alice.email, "Wrong-password-123").status_code == 401
    assert types(client, alice) == ["sign_in_failed", "sign_in"]


def test_a_password_change_is_recorded_and_a_refused_one_is_not(client, alice):
    refused = client.post(
        "/api/users/me/password",
        json={"current_password": "Wrong-password-123", "new_password": NEW_PASSWORD},
        headers=from_browser(alice),
    )
    assert refused.status_code == 400
    too_guessable = client.post(
        "/api/users/me/password",
        json={"current_password": STRONG_PASSWORD, "new_password": "alice-password-1"},
        headers=from_browser(alice),
    )
    assert too_guessable.status_code == 422
    assert types(client, alice) == ["sign_in"]

    changed = client.post(
        "/api/users/me/password",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        headers=from_browser(alice),
    )
    assert changed.status_code == 200, changed.text
    alice.token = changed.json()["access_token"]
    assert_from_browser(events(client, alice)[0], "password_changed")
    assert types(client, alice) == ["password_changed", "sign_in"]


def test_an_email_change_is_recorded_with_the_new_address(client, alice):
    url = f"/api/users/{alice.id}"
    refused = client.patch(
        url,
        json={"email": "new@example.com", "current_password": "Wrong-password-123"},
        headers=from_browser(alice),
    )
    assert refused.status_code == 400
    renamed = client.patch(url, json={"username": "Alicia"}, headers=from_browser(alice))
    assert renamed.status_code == 200
    assert types(client, alice) == ["sign_in"]  # a rename is no security event

    changed = client.patch(
        url,
        json={"email": "new@example.com", "current_password": STRONG_PASSWORD},
        headers=from_browser(alice),
    )
    assert changed.status_code == 200, changed.text
    assert_from_browser(events(client, alice)[0], "email_changed", "new@example.com")


def test_an_email_change_refused_by_the_mail_limit_records_nothing(make_app, mailbox):
    with TestClient(make_app(account_mail_per_hour=1), base_url="https://testserver") as client:
        alice = make_account(client, "Alice")
        statuses = [
            client.patch(
                f"/api/users/{alice.id}",
                json={"email": address, "current_password": STRONG_PASSWORD},
                headers=alice.headers,
            ).status_code
            for address in ("new@example.com", "newer@example.com")
        ]
        assert statuses == [200, 429]  # the second link is past the account's budget
        assert types(client, alice) == ["email_changed", "sign_in"]


def test_a_password_reset_is_recorded(client, mailbox: Mailbox, monkeypatch):
    monkeypatch.setattr(email_links, "RESET_DELAY_SECONDS", (0.0, 0.0))
    alice = make_account(client, "Alice")
    client.post("/api/users/password-reset", json={"email": alice.email})
    token = reset_token(mailbox, alice.email, 2)
    bad = client.post(
        "/api/users/password-reset/confirm",
        json={"token": token + "x", "new_password": NEW_PASSWORD},
        headers={"User-Agent": BROWSER},
    )
    assert bad.status_code == 400
    confirmed = client.post(
        "/api/users/password-reset/confirm",
        json={"token": token, "new_password": NEW_PASSWORD},
        headers={"User-Agent": BROWSER},
    )
    assert confirmed.status_code == 204, confirmed.text
    alice.password = NEW_PASSWORD
    alice.token = login(client, alice.email, NEW_PASSWORD).json()["access_token"]
    newest, reset, first = events(client, alice)
    assert (newest["type"], first["type"]) == ("sign_in", "sign_in")
    assert_from_browser(reset, "password_reset")


def test_passkeys_added_and_removed_are_recorded_by_name(client, alice):
    device = SoftAuthenticator(origin=ORIGIN)
    client.headers["User-Agent"] = BROWSER
    passkey = add_passkey(client, alice, device, name="Laptop")
    assert_from_browser(events(client, alice)[0], "passkey_added", "Laptop")

    other = make_account(client, "Bob")
    stranger = client.delete(f"/api/users/me/passkeys/{passkey['id']}", headers=other.headers)
    assert stranger.status_code == 404
    assert types(client, other) == ["sign_in"]

    removed = client.delete(f"/api/users/me/passkeys/{passkey['id']}", headers=alice.headers)
    assert removed.status_code == 204
    assert_from_browser(events(client, alice)[0], "passkey_removed", "Laptop")
    assert types(client, alice) == ["passkey_removed", "passkey_added", "sign_in"]


def test_ending_sessions_is_recorded(client, alice):
    second = login(client, alice.email).json()["access_token"]
    login(client, alice.email)
    listed = client.get("/api/users/me/sessions", headers=alice.headers).json()
    other_id = next(row["id"] for row in listed if not row["current"])

    missing = client.delete("/api/users/me/sessions/nope", headers=from_browser(alice))
    assert missing.status_code == 404
    assert types(client, alice) == ["sign_in"] * 3

    ended = client.delete(f"/api/users/me/sessions/{other_id}", headers=from_browser(alice))
    assert ended.status_code == 204
    assert_from_browser(events(client, alice)[0], "session_ended")

    everywhere = client.delete(
        "/api/users/me/sessions", headers=bearer(second) | from_browser(alice)
    )
    assert everywhere.status_code == 204
    assert_from_browser(events(client, alice)[0], "other_sessions_ended")


def test_suspension_and_restoring_are_recorded_without_the_admins_address(client, alice):
    admin = make_admin(client, "Root")
    headers = admin.headers | {"User-Agent": BROWSER}
    url = f"/api/admin/users/{alice.id}/suspension"
    assert client.post(url, headers=headers).status_code == 204
    assert client.post(url, headers=headers).status_code == 204  # already: nothing new
    assert client.delete(url, headers=headers).status_code == 204
    assert client.delete(url, headers=headers).status_code == 204  # not suspended: nothing
    log_in_again = login(client, alice.email)
    alice.token = log_in_again.json()["access_token"]
    newest, restored, suspended, first = events(client, alice)
    assert [newest["type"], first["type"]] == ["sign_in", "sign_in"]
    for event, type_ in ((restored, "restored"), (suspended, "suspended")):
        assert (event["type"], event["ip"], event["user_agent"], event["detail"]) == (
            type_,
            "",
            "",
            "",
        )
    assert types(client, admin) == ["sign_in"]  # the admin's own log has none of it


# --- Reading it ---------------------------------------------------------------------


def test_pages_follow_the_cursor_newest_first(client, alice):
    for _ in range(4):
        login(client, alice.email)
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = client.get(EVENTS, params=params, headers=alice.headers)
        assert response.status_code == 200
        body = response.json()
        seen += [event["id"] for event in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == 5
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == 5


@pytest.mark.parametrize(
    "make_cursor",
    [
        lambda: "nonsense",
        lambda: "a" * 500,
        lambda: encode_id_cursor("admin-actions", 5),  # another list's
        lambda: encode_id_cursor("security-events", 5) + "x",
        lambda: encode_id_cursor("security-events", 0),
    ],
    ids=["nonsense", "long", "another_list", "edited", "zero"],
)
def test_a_bad_cursor_is_400(client, alice, make_cursor):
    cursor = make_cursor()
    response = client.get(EVENTS, params={"cursor": cursor}, headers=alice.headers)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


@pytest.mark.parametrize("limit", [0, 101, "x"])
def test_a_bad_limit_is_422(client, alice, limit):
    assert client.get(EVENTS, params={"limit": limit}, headers=alice.headers).status_code == 422


def test_only_the_callers_own_events_are_shown(client, alice, bob):
    client.post(
        "/api/users/me/password",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        headers=alice.headers,
    )
    assert types(client, bob) == ["sign_in"]
    # A cursor below Alice's events walks Bob's only.
    top = scalar(client, select(func.max(SecurityEvent.id)))
    cursor = encode_id_cursor("security-events", top + 1)
    page = client.get(EVENTS, params={"cursor": cursor}, headers=bob.headers).json()
    assert [event["type"] for event in page["items"]] == ["sign_in"]
    assert client.get(EVENTS).status_code == 401


def test_events_past_the_keeping_time_are_never_shown_and_go_when_one_is_written(
    client, alice, clock
):
    now = clock[0]
    for days in (95, 89):
        run_sql(
            client,
            insert(SecurityEvent).values(
                user_id=alice.id,
                type="password_changed",
                created_at=now - timedelta(days=days),
                ip="203.0.113.9",
                user_agent="old",
            ),
        )
    stored = select(func.count()).select_from(SecurityEvent)
    assert scalar(client, stored) == 3  # nothing written since: nothing purged yet
    # By id, as the pages go (the old rows were written last); the 95-day one hidden.
    assert types(client, alice) == ["password_changed", "sign_in"]

    clock[0] = now + timedelta(days=2)  # the 89-day one is 91 days old now
    assert types(client, alice) == ["sign_in"]
    confirmed = client.post(
        "/api/users/me/reauthentication", json={"password": alice.password}, headers=alice.headers
    )
    assert confirmed.status_code == 204
    assert scalar(client, stored) == 2  # written: the two old ones purged
    newest = events(client, alice)[0]
    assert newest["type"] == "reauthenticated"
    assert datetime.fromisoformat(newest["created_at"]) == clock[0]


@pytest.mark.settings(security_log_days=1)
def test_the_keeping_time_is_a_setting(client, alice, clock):
    assert types(client, alice) == ["sign_in"]
    clock[0] += timedelta(days=1, minutes=1)
    assert types(client, alice) == []


# --- The sessions list --------------------------------------------------------------


def test_the_sessions_list_says_how_each_session_signed_in(client, alice):
    device = SoftAuthenticator(origin=ORIGIN)
    add_passkey(client, alice, device)
    assert passkey_sign_in(client, device).status_code == 200
    listed = client.get("/api/users/me/sessions", headers=alice.headers).json()
    assert sorted(row["auth_method"] for row in listed) == ["passkey", "password"]
    current = next(row for row in listed if row["current"])
    assert current["auth_method"] == "password"
    assert types(client, alice)[0] == "sign_in"
    assert events(client, alice)[0]["detail"] == "passkey"
