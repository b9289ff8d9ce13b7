"""Verification and password reset by mailed single-use links, through the API, with
a real SMTP server receiving the mail."""

import statistics
import time
from datetime import timedelta

import pytest
from pydantic import AnyHttpUrl
from sqlalchemy import select, update

from accounts import email_links
from config import get_settings
from models import EmailToken
from tests.helpers import (
    STRONG_PASSWORD,
    bearer,
    login,
    make_account,
    outbox_rows,
    register,
    run_sql,
)
from tests.mail_server import Mailbox

NEW_PASSWORD = "Another-Correct-Horse-7"


@pytest.fixture(autouse=True)
def reset_at_once(monkeypatch) -> None:
    """A reset request's follow-up starts at once, not seconds later (how it is
    detached from the request is tested in test_mail_limits.py)."""
    monkeypatch.setattr(email_links, "RESET_DELAY_SECONDS", (0.0, 0.0))


def verification_token(mailbox: Mailbox, address: str, count: int = 1) -> str:
    return mailbox.wait_for(address, count)[count - 1].token("/verify-email")


def reset_token(mailbox: Mailbox, address: str, count: int = 1) -> str:
    mails = [m for m in mailbox.wait_for(address, count) if "/reset-password" in m.text]
    return mails[-1].token("/reset-password")


def stored_tokens(client, purpose: str) -> list[EmailToken]:
    async def read() -> list[EmailToken]:
        async with client.app_state["sessionmaker"]() as session:
            rows = list(
                await session.scalars(select(EmailToken).where(EmailToken.purpose == purpose))
            )
            session.expunge_all()
            return rows

    return client.portal.call(read)


def me(client, headers) -> dict:
    return client.get("/api/users/me", headers=headers).json()


def test_sign_up_mails_a_link_that_verifies_the_address_once(client, mailbox):
    alice = make_account(client, "Alice")
    assert me(client, alice.headers)["email_verified"] is False
    (mail,) = mailbox.wait_for("alice@example.com")
    assert mail.message["Subject"] == "Confirm your email address"
    assert mail.link("/verify-email").startswith(f"{get_settings().site_url}/verify-email?token=")
    token = mail.token("/verify-email")

    assert client.post("/api/users/verify-email", json={"token": token}).status_code == 204
    assert me(client, alice.headers)["email_verified"] is True
    again = client.post("/api/users/verify-email", json={"token": token})
    assert again.status_code == 400
    assert again.json() == {"detail": "This link has already been used", "code": "link_used"}


@pytest.mark.parametrize(
    "token",
    ["x", "A" * 43, "not a token at all", "-" * 128],
    ids=["short", "made-up", "spaces", "long"],
)
def test_a_wrong_verification_token_is_a_clear_400(client, token):
    response = client.post("/api/users/verify-email", json={"token": token})
    assert response.status_code == 400
    assert response.json()["detail"].startswith("This link is not valid")


@pytest.mark.parametrize("body", [{}, {"token": ""}, {"token": "a" * 129}, {"token": 5}])
def test_a_malformed_verification_body_is_422(client, body):
    assert client.post("/api/users/verify-email", json=body).status_code == 422


def test_an_expired_verification_link_says_so(client, mailbox):
    make_account(client, "Alice")
    token = verification_token(mailbox, "alice@example.com")
    run_sql(client, update(EmailToken).values(expires_at=EmailToken.created_at))
    response = client.post("/api/users/verify-email", json={"token": token})
    assert response.status_code == 400
    assert response.json() == {
        "detail": "This link has expired; ask for a new one",
        "code": "link_expired",
    }


def test_a_reset_token_does_not_verify_and_a_verification_token_does_not_reset(client, mailbox):
    make_account(client, "Alice")
    verify = verification_token(mailbox, "alice@example.com")
    client.post("/api/users/password-reset", json={"email": "alice@example.com"})
    reset = reset_token(mailbox, "alice@example.com", 2)
    assert client.post("/api/users/verify-email", json={"token": reset}).status_code == 400
    confirm = {"token": verify, "new_password": NEW_PASSWORD}
    assert client.post("/api/users/password-reset/confirm", json=confirm).status_code == 400


def test_resend_mails_a_fresh_link_and_is_throttled(client, mailbox):
    alice = make_account(client, "Alice")
    first = verification_token(mailbox, "alice@example.com")
    resend = client.post("/api/users/me/verify-email/resend", headers=alice.headers)
    assert resend.status_code == 202
    assert resend.json() == {"detail": "A new link is on its way to alice@example.com."}
    second = verification_token(mailbox, "alice@example.com", 2)
    assert second != first
    for _ in range(2):  # three an hour
        assert client.post("/api/users/me/verify-email/resend", headers=alice.headers).is_success
    refused = client.post("/api/users/me/verify-email/resend", headers=alice.headers)
    assert refused.status_code == 429
    assert 3500 <= int(refused.headers["Retry-After"]) <= 3601
    # Either link works (once).
    assert client.post("/api/users/verify-email", json={"token": first}).status_code == 204


def test_resend_needs_a_sign_in_and_an_unverified_address(client, mailbox):
    assert client.post("/api/users/me/verify-email/resend").status_code == 401
    alice = make_account(client, "Alice")
    token = verification_token(mailbox, "alice@example.com")
    client.post("/api/users/verify-email", json={"token": token})
    response = client.post("/api/users/me/verify-email/resend", headers=alice.headers)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "Your email address is already verified",
        "code": "email_already_verified",
    }


def test_a_new_email_is_unverified_and_gets_its_own_link(client, mailbox):
    alice = make_account(client, "Alice")
    old_link = verification_token(mailbox, "alice@example.com")
    client.post("/api/users/verify-email", json={"token": old_link})
    assert me(client, alice.headers)["email_verified"] is True

    changed = client.patch(
        f"/api/users/{alice.id}",
        json={"email": "alice@new.example", "current_password": STRONG_PASSWORD},
        headers=alice.headers,
    )
    assert changed.status_code == 200
    assert changed.json()["email_verified"] is False
    token = verification_token(mailbox, "alice@new.example")
    assert client.post("/api/users/verify-email", json={"token": token}).status_code == 204
    assert me(client, alice.headers)["email_verified"] is True


def test_a_link_mailed_to_a_former_address_no_longer_verifies(client, mailbox):
    alice = make_account(client, "Alice")
    token = verification_token(mailbox, "alice@example.com")
    client.patch(
        f"/api/users/{alice.id}",
        json={"email": "alice@new.example", "current_password": STRONG_PASSWORD},
        headers=alice.headers,
    )
    response = client.post("/api/users/verify-email", json={"token": token})
    assert response.status_code == 400
    assert "no longer uses" in response.json()["detail"]
    assert me(client, alice.headers)["email_verified"] is False


def test_a_rename_keeps_the_address_verified(client, mailbox):
    alice = make_account(client, "Alice")
    client.post("/api/users/verify-email", json={"token": verification_token(mailbox, alice.email)})
    response = client.patch(
        f"/api/users/{alice.id}", json={"username": "Alicia"}, headers=alice.headers
    )
    assert response.json()["email_verified"] is True


def test_a_refused_sign_up_mails_nothing(client, mailbox, database_url):
    make_account(client, "Alice")
    mailbox.wait_for("alice@example.com")
    assert register(client, "Alice", "other@example.com").status_code == 409
    # Mail is queued in the request's transaction and leaves the outbox only once the
    # SMTP server has it: read in this order, a message is seen wherever it is.
    assert outbox_rows(database_url, "other@example.com") == 0
    assert mailbox.to("other@example.com") == []


@pytest.mark.settings(public_url=AnyHttpUrl("https://blog.example.com/"))
def test_links_come_from_public_url_never_from_the_host_header(client, mailbox):
    headers = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    created = client.post(
        "/api/users",
        json={"username": "Alice", "email": "alice@example.com", "password": STRONG_PASSWORD},
        headers=headers,
    )
    assert created.status_code == 201
    client.post("/api/users/password-reset", json={"email": "alice@example.com"}, headers=headers)
    mails = mailbox.wait_for("alice@example.com", 2)
    for mail in mails:
        assert "evil.example" not in mail.text
    assert mails[0].link("/verify-email").startswith("https://blog.example.com/verify-email?token=")
    assert reset_token(mailbox, "alice@example.com", 2)
    assert "https://blog.example.com/reset-password?token=" in mails[1].text


# --- Password reset ----------------------------------------------------------------


def test_password_reset_end_to_end(client, mailbox):
    alice = make_account(client, "Alice")
    second_session = login(client, alice.email).json()["access_token"]
    refresh_cookie = client.cookies.get("refresh_token")

    asked = client.post("/api/users/password-reset", json={"email": "ALICE@example.com"})
    assert asked.status_code == 202
    (mail,) = [
        m for m in mailbox.wait_for(alice.email, 2) if m.message["Subject"] == "Reset your password"
    ]
    assert "60 minutes" in mail.text
    token = mail.token("/reset-password")

    confirm = {"token": token, "new_password": NEW_PASSWORD}
    assert client.post("/api/users/password-reset/confirm", json=confirm).status_code == 204

    # Every session ended: old access tokens and the refresh cookie answer 401.
    for token_ in (alice.token, second_session):
        assert client.get("/api/users/me", headers=bearer(token_)).status_code == 401
    client.cookies.set("refresh_token", refresh_cookie, path="/api/users")
    assert client.post("/api/users/token/refresh").status_code == 401
    # The old password is gone, the new one works, and the link proved the address.
    assert login(client, alice.email).status_code == 401
    fresh = login(client, alice.email, NEW_PASSWORD)
    assert fresh.status_code == 200
    assert me(client, bearer(fresh.json()["access_token"]))["email_verified"] is True
    # A notice, and the link works once.
    notice = mailbox.wait_for(alice.email, 3)[2]
    assert notice.message["Subject"] == "Your password was changed"
    again = client.post("/api/users/password-reset/confirm", json=confirm)
    assert again.status_code == 400
    assert again.json() == {"detail": "This link has already been used", "code": "link_used"}


def test_reset_answers_the_same_for_known_and_unknown_addresses(client, mailbox):
    make_account(client, "Alice")
    known = client.post("/api/users/password-reset", json={"email": "alice@example.com"})
    unknown = client.post("/api/users/password-reset", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert known.headers.keys() == unknown.headers.keys()
    reset_token(mailbox, "alice@example.com", 2)
    assert mailbox.to("nobody@example.com") == []


def test_reset_takes_about_as_long_for_known_and_unknown_addresses(client, mailbox, monkeypatch):
    """No SMTP and no hashing on the request path: a slow mail server changes nothing.
    (Loose bounds: the point is that a 300 ms send never shows, not a benchmark.)"""
    monkeypatch.setattr("routers.email_links.RESETS_PER_EMAIL", 1000)
    monkeypatch.setattr("routers.email_links.RESETS_PER_CLIENT", 1000)
    make_account(client, "Alice")
    mailbox.delay = 0.3

    def timed(email: str) -> float:
        started = time.perf_counter()
        response = client.post("/api/users/password-reset", json={"email": email})
        assert response.status_code == 202
        return time.perf_counter() - started

    known = [timed("alice@example.com") for _ in range(8)]
    unknown = [timed(f"nobody{n}@example.com") for n in range(8)]
    assert statistics.median(known) < 0.15
    assert statistics.median(unknown) < 0.15
    assert abs(statistics.median(known) - statistics.median(unknown)) < 0.05


def test_reset_is_throttled_per_address_and_per_client(client, mailbox):
    for _ in range(3):
        assert (
            client.post("/api/users/password-reset", json={"email": "x@example.com"}).status_code
            == 202
        )
    refused = client.post("/api/users/password-reset", json={"email": "X@Example.com"})
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    # Other addresses from this client go on, up to the client's own limit.
    for n in range(7):
        assert (
            client.post(
                "/api/users/password-reset", json={"email": f"y{n}@example.com"}
            ).status_code
            == 202
        )
    assert (
        client.post("/api/users/password-reset", json={"email": "z@example.com"}).status_code == 429
    )


@pytest.mark.parametrize("body", [{}, {"email": "not an email"}, {"email": "a@b.c", "extra": 1}])
def test_a_malformed_reset_request_is_422(client, body):
    assert client.post("/api/users/password-reset", json=body).status_code == 422


def test_a_password_change_kills_an_outstanding_reset_link(client, mailbox):
    alice = make_account(client, "Alice")
    client.post("/api/users/password-reset", json={"email": alice.email})
    token = reset_token(mailbox, alice.email, 2)
    changed = client.post(
        "/api/users/me/password",
        json={"current_password": STRONG_PASSWORD, "new_password": NEW_PASSWORD},
        headers=alice.headers,
    )
    assert changed.status_code == 200
    notice = mailbox.wait_for(alice.email, 3)[2]
    assert notice.message["Subject"] == "Your password was changed"
    response = client.post(
        "/api/users/password-reset/confirm",
        json={"token": token, "new_password": "Yet-Another-9-pass"},
    )
    assert response.status_code == 400
    assert "password has changed" in response.json()["detail"]
    assert login(client, alice.email, NEW_PASSWORD).status_code == 200


def test_a_reset_kills_the_other_reset_links(client, mailbox):
    alice = make_account(client, "Alice")
    client.post("/api/users/password-reset", json={"email": alice.email})
    first = reset_token(mailbox, alice.email, 2)
    client.post("/api/users/password-reset", json={"email": alice.email})
    second = reset_token(mailbox, alice.email, 3)
    assert (
        client.post(
            "/api/users/password-reset/confirm",
            json={"token": second, "new_password": NEW_PASSWORD},
        ).status_code
        == 204
    )
    stale = client.post(
        "/api/users/password-reset/confirm",
        json={"token": first, "new_password": "Yet-Another-9-pass"},
    )
    assert stale.status_code == 400


def test_an_expired_reset_link_says_so(client, mailbox):
    alice = make_account(client, "Alice")
    client.post("/api/users/password-reset", json={"email": alice.email})
    token = reset_token(mailbox, alice.email, 2)
    (row,) = stored_tokens(client, email_links.RESET_PASSWORD)
    assert row.expires_at - row.created_at == timedelta(minutes=60)
    run_sql(client, update(EmailToken).values(expires_at=EmailToken.created_at))
    response = client.post(
        "/api/users/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "This link has expired; ask for a new one",
        "code": "link_expired",
    }
    assert login(client, alice.email).status_code == 200


@pytest.mark.parametrize(
    ("new_password", "status"),
    [("short", 422), ("x" * 129, 422), ("password123", 422), ("Alice-is-my-name", 422)],
)
def test_reset_applies_the_sign_up_password_rules(client, mailbox, new_password, status):
    alice = make_account(client, "Alice")
    client.post("/api/users/password-reset", json={"email": alice.email})
    token = reset_token(mailbox, alice.email, 2)
    response = client.post(
        "/api/users/password-reset/confirm", json={"token": token, "new_password": new_password}
    )
    assert response.status_code == status
    # The link was not spent on a refused password.
    assert (
        client.post(
            "/api/users/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
        ).status_code
        == 204
    )


def test_tokens_are_stored_only_as_hashes(client, mailbox):
    alice = make_account(client, "Alice")
    client.post("/api/users/password-reset", json={"email": alice.email})
    tokens = [verification_token(mailbox, alice.email), reset_token(mailbox, alice.email, 2)]

    async def stored() -> list[str]:
        async with client.app_state["sessionmaker"]() as session:
            return list(await session.scalars(select(EmailToken.token_hash)))

    hashes = client.portal.call(stored)
    assert len(hashes) == 2
    for token in tokens:
        assert token not in hashes
        assert all(token not in value for value in hashes)
