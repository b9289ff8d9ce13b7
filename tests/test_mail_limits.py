"""No mail cannon: every path that mails spends a budget counted in the database (an
unverified address's, an account's, a client's sign-ups), nothing an account chose is
mailed to an address nobody proved, and a reset's follow-up is detached from its
request. A real SMTP server receives the mail."""

import asyncio
import signal
import threading

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import AnyHttpUrl
from sqlalchemy import create_engine, select

from accounts import account_mail, email_links
from database import sync_url
from models import EmailToken, OutboxMessage
from tests.databases import fresh_database
from tests.helpers import STRONG_PASSWORD, login, make_account, register
from tests.live_server import LiveServer
from tests.mail_server import Mailbox, SMTPServer
from tests.soft_authenticator import SoftAuthenticator
from tests.test_passkeys import ORIGIN, add_passkey

VICTIM = "victim@example.org"
OTHER_PASSWORD = "Another-Correct-Horse-7"
# A name an attacker would like to see in a stranger's inbox (one the username rules let
# through: letters and spaces).
BAIT = "Your Bank Security Desk"
SHIPPED_RESET_DELAY = email_links.RESET_DELAY_SECONDS


# The shipped budgets, whatever the rest of the suite runs with (a test's own marker
# changes one of them).
pytestmark = pytest.mark.settings(
    unverified_mail_per_hour=5, account_mail_per_hour=10, signups_per_hour=10
)


@pytest.fixture(autouse=True)
def prompt_follow_ups(monkeypatch) -> None:
    """Follow-ups of reset requests start at once (a module constant, not a setting:
    the delay is part of the defence, so no deployment may turn it off)."""
    monkeypatch.setattr(email_links, "RESET_DELAY_SECONDS", (0.0, 0.0))


def settle(client: TestClient, mailbox: Mailbox) -> None:
    """Wait until every reset follow-up has run and every queued mail has gone."""

    async def idle() -> None:
        while email_links._pending:
            await asyncio.gather(*email_links._pending, return_exceptions=True)
        for _ in range(100):
            async with client.app_state["sessionmaker"]() as session:
                if await session.scalar(select(OutboxMessage.id).limit(1)) is None:
                    return
            await asyncio.sleep(0.05)
        raise AssertionError("the outbox did not empty")

    client.portal.call(idle)


def refused_for_mail(response) -> None:
    assert response.status_code == 429, response.text
    assert response.json() == {
        "detail": account_mail.MAIL_LIMIT_DETAIL,
        "code": account_mail.MAIL_LIMIT,
    }
    assert int(response.headers["Retry-After"]) > 0


def reset(client: TestClient, email: str) -> None:
    response = client.post("/api/users/password-reset", json={"email": email})
    assert response.status_code == 202, response.text


def verify(client: TestClient, mailbox: Mailbox, address: str) -> None:
    link = next(m for m in reversed(mailbox.wait_for(address)) if "/verify-email" in m.text)
    token = link.token("/verify-email")
    assert client.post("/api/users/verify-email", json={"token": token}).status_code == 204


def reset_tokens(client: TestClient) -> list[int]:
    async def read() -> list[int]:
        async with client.app_state["sessionmaker"]() as session:
            query = select(EmailToken.id).where(EmailToken.purpose == email_links.RESET_PASSWORD)
            return list(await session.scalars(query))

    return client.portal.call(read)


# --- One budget per unverified address, whatever the path -----------------------------


def test_an_unverified_address_gets_at_most_its_budget_by_every_path(client, mailbox):
    """Sign-up, a link sent again, a reset, an email changed to it, a notice: 5 mails
    in all, then every path is refused (a reset silently), and nothing changes."""
    owner = make_account(client, "Owner", VICTIM)  # 1: the sign-up's link
    resend = client.post("/api/users/me/verify-email/resend", headers=owner.headers)
    assert resend.status_code == 202  # 2
    reset(client, VICTIM)  # 3
    settle(client, mailbox)
    assert client.delete(f"/api/users/{owner.id}", headers=owner.headers).status_code == 204
    taker = make_account(client, "Taker")
    change = {"email": VICTIM, "current_password": STRONG_PASSWORD}
    moved = client.patch(f"/api/users/{taker.id}", json=change, headers=taker.headers)
    assert moved.status_code == 200  # 4: the new address's link
    password = {"current_password": STRONG_PASSWORD, "new_password": OTHER_PASSWORD}
    changed = client.post("/api/users/me/password", json=password, headers=taker.headers)
    assert changed.status_code == 200  # 5: the notice
    taker.token = changed.json()["access_token"]
    settle(client, mailbox)
    assert len(mailbox.to(VICTIM)) == 5

    refused_for_mail(client.post("/api/users/me/verify-email/resend", headers=taker.headers))
    back = {"current_password": OTHER_PASSWORD, "new_password": STRONG_PASSWORD}
    refused_for_mail(client.post("/api/users/me/password", json=back, headers=taker.headers))
    assert login(client, VICTIM, OTHER_PASSWORD).status_code == 200  # unchanged
    reset(client, VICTIM)  # answered as ever, and nothing is sent
    settle(client, mailbox)
    assert reset_tokens(client) == []  # (the first one went with its account)
    assert client.delete(f"/api/users/{taker.id}", headers=taker.headers).status_code == 204
    refused_for_mail(register(client, "Again", VICTIM))
    third = make_account(client, "Third")
    moved = client.patch(f"/api/users/{third.id}", json=change, headers=third.headers)
    refused_for_mail(moved)
    assert client.get("/api/users/me", headers=third.headers).json()["email"] == third.email
    settle(client, mailbox)
    assert len(mailbox.to(VICTIM)) == 5


@pytest.mark.settings(unverified_mail_per_hour=2)
def test_a_reset_to_an_unverified_address_past_its_budget_is_answered_alike(client, mailbox):
    make_account(client, "Alice")  # 1
    answers = [client.post("/api/users/password-reset", json={"email": "alice@example.com"})]
    settle(client, mailbox)  # 2: the first reset's link
    answers.append(client.post("/api/users/password-reset", json={"email": "alice@example.com"}))
    settle(client, mailbox)
    assert [a.status_code for a in answers] == [202, 202]
    assert answers[0].json() == answers[1].json()
    assert answers[0].headers.keys() == answers[1].headers.keys()
    assert sorted(m.message["Subject"] for m in mailbox.to("alice@example.com")) == [
        "Confirm your email address",
        "Reset your password",
    ]
    assert len(reset_tokens(client)) == 1


# --- One budget per account -----------------------------------------------------------


@pytest.mark.settings(account_mail_per_hour=3)
def test_a_loop_of_password_changes_stops_at_the_account_budget(client, mailbox):
    """Even to a verified inbox: the change whose notice may not go is refused."""
    alice = make_account(client, "Alice")
    verify(client, mailbox, alice.email)
    passwords = [STRONG_PASSWORD, OTHER_PASSWORD]
    statuses = []
    for n in range(5):
        body = {"current_password": passwords[n % 2], "new_password": passwords[(n + 1) % 2]}
        response = client.post("/api/users/me/password", json=body, headers=alice.headers)
        statuses.append(response.status_code)
        if response.status_code == 200:
            alice.token = response.json()["access_token"]
        else:
            refused_for_mail(response)
            break
    assert statuses == [200, 200, 200, 429]
    assert login(client, alice.email, OTHER_PASSWORD).status_code == 200  # the third's
    settle(client, mailbox)
    notices = [m for m in mailbox.to(alice.email) if "password" in m.message["Subject"]]
    assert len(notices) == 3


@pytest.mark.settings(account_mail_per_hour=3)
def test_alternating_the_email_between_two_victims_stops_at_the_account_budget(client, mailbox):
    attacker = make_account(client, "Attacker")
    victims = ["one@example.org", "two@example.org"]
    statuses = []
    for n in range(4):
        body = {"email": victims[n % 2], "current_password": STRONG_PASSWORD}
        response = client.patch(f"/api/users/{attacker.id}", json=body, headers=attacker.headers)
        statuses.append(response.status_code)
    assert statuses == [200, 200, 200, 429]
    refused_for_mail(response)
    assert client.get("/api/users/me", headers=attacker.headers).json()["email"] == victims[0]
    settle(client, mailbox)
    assert len(mailbox.to(victims[0])) + len(mailbox.to(victims[1])) == 3


@pytest.mark.settings(public_url=AnyHttpUrl(ORIGIN), account_mail_per_hour=3)
def test_adding_and_removing_passkeys_stops_at_the_account_budget(client, mailbox):
    alice = make_account(client, "Alice")
    verify(client, mailbox, alice.email)
    first = add_passkey(client, alice, SoftAuthenticator(origin=ORIGIN))
    second = add_passkey(client, alice, SoftAuthenticator(origin=ORIGIN))
    gone = client.delete(f"/api/users/me/passkeys/{first['id']}", headers=alice.headers)
    assert gone.status_code == 204
    refused_for_mail(client.delete(f"/api/users/me/passkeys/{second['id']}", headers=alice.headers))
    kept = client.get("/api/users/me/passkeys", headers=alice.headers).json()
    assert [passkey["id"] for passkey in kept] == [second["id"]]
    settle(client, mailbox)
    assert len(mailbox.to(alice.email)) == 4  # the sign-up's link, then 3 notices


@pytest.mark.settings(account_mail_per_hour=1)
def test_the_reset_flow_stays_open_when_the_account_budget_is_spent(client, mailbox):
    """Whoever holds the account cannot spend its owner's way back in."""
    alice = make_account(client, "Alice")
    verify(client, mailbox, alice.email)
    body = {"current_password": STRONG_PASSWORD, "new_password": OTHER_PASSWORD}
    assert (
        client.post("/api/users/me/password", json=body, headers=alice.headers).status_code == 200
    )
    reset(client, alice.email)
    settle(client, mailbox)
    link = next(m for m in mailbox.to(alice.email) if "/reset-password" in m.text)
    confirm = {"token": link.token("/reset-password"), "new_password": STRONG_PASSWORD}
    assert client.post("/api/users/password-reset/confirm", json=confirm).status_code == 204
    settle(client, mailbox)
    assert [m.message["Subject"] for m in mailbox.to(alice.email)][-1] == (
        "Your password was changed"
    )


# --- Sign-ups per client ----------------------------------------------------------------


@pytest.mark.settings(signups_per_hour=3)
def test_sign_ups_are_limited_per_client_address(client, mailbox):
    statuses = [register(client, f"User{n}", f"user{n}@example.com").status_code for n in range(4)]
    assert statuses == [201, 201, 201, 429]
    refused = register(client, "Late", "late@example.com")
    assert refused.status_code == 429
    assert refused.json()["code"] == "sign_up_limit"
    assert int(refused.headers["Retry-After"]) > 0
    # Another client address has its own.
    with TestClient(
        client.app, base_url="https://testserver", client=("192.0.2.7", 40000)
    ) as other:
        assert register(other, "Elsewhere", "elsewhere@example.com").status_code == 201
    settle(client, mailbox)
    assert mailbox.to("late@example.com") == []


# --- No text an account chose, to an unproven address ---------------------------------


@pytest.mark.settings(public_url=AnyHttpUrl(ORIGIN))
def test_an_unverified_address_is_mailed_no_text_the_account_chose(client, mailbox):
    account = make_account(client, BAIT, VICTIM)
    add_passkey(client, account, SoftAuthenticator(origin=ORIGIN), name="Call +1 555 0100 now")
    reset(client, VICTIM)
    settle(client, mailbox)
    mails = mailbox.to(VICTIM)
    assert len(mails) == 3  # the link, the passkey notice, the reset's link
    for received in mails:
        assert received.message["To"] == VICTIM
        assert received.text.splitlines()[0] == "Hello,"
        assert BAIT not in received.message.as_string()
        assert "555" not in received.text
    assert any("A passkey was added" in received.text for received in mails)

    # Once the owner proved the address, mails greet them by name.
    verify(client, mailbox, VICTIM)
    add_passkey(client, account, SoftAuthenticator(origin=ORIGIN), name="Work laptop")
    settle(client, mailbox)
    notice = mailbox.to(VICTIM)[-1]
    assert notice.message["To"].addresses[0].display_name == BAIT
    assert notice.text.splitlines()[0] == f"Hello {BAIT},"
    assert 'A passkey named "Work laptop" was added' in notice.text


# --- A reset's follow-up is detached from its request -----------------------------------


def test_a_resets_follow_up_waits_for_no_answer_and_no_next_request(client, mailbox, monkeypatch):
    """The answer, and the next request, are served before the account is even looked
    up: a gate holds the follow-up until the test opens it. (Done right after the
    answer on the request's own cycle, the answer itself would wait for the gate, up to
    its 5 s timeout, and find a token row written.)"""
    make_account(client, "Alice")
    gate = threading.Event()
    original = email_links.queue_password_reset_for

    async def gated(*args: object) -> None:
        await asyncio.to_thread(gate.wait, 5)
        await original(*args)

    monkeypatch.setattr(email_links, "queue_password_reset_for", gated)
    reset(client, "alice@example.com")
    assert client.get("/api/posts?limit=1&n=1").status_code == 200
    assert reset_tokens(client) == []
    assert not gate.is_set()
    gate.set()
    settle(client, mailbox)
    assert len(reset_tokens(client)) == 1
    assert "/reset-password" in mailbox.wait_for("alice@example.com", 2)[1].text


def test_a_resets_follow_up_starts_seconds_later_at_random(monkeypatch):
    monkeypatch.setattr(email_links, "RESET_DELAY_SECONDS", SHIPPED_RESET_DELAY)
    delays = [email_links.reset_delay() for _ in range(20)]
    low, high = SHIPPED_RESET_DELAY
    assert low >= 0.5
    assert all(low <= delay <= high for delay in delays)
    assert len(set(delays)) == len(delays)


def test_a_stopping_worker_does_the_waiting_follow_ups_at_once(client, mailbox, monkeypatch):
    """Called by the lifespan as a worker stops: a reset still in its random wait is
    done then, not lost with the process."""
    monkeypatch.setattr(email_links, "RESET_DELAY_SECONDS", (600.0, 600.0))
    make_account(client, "Alice")
    reset(client, "alice@example.com")
    assert reset_tokens(client) == []
    client.portal.call(email_links.run_pending_resets)
    assert len(reset_tokens(client)) == 1
    assert "/reset-password" in mailbox.wait_for("alice@example.com", 2)[1].text


def test_a_worker_stopping_before_the_follow_up_does_it_as_it_stops(
    tmp_path, smtp_server: SMTPServer, mailbox: Mailbox
):
    """SIGTERM while a reset request waits out its random delay: the worker does it as
    it stops (the lifespan's shutdown), so a graceful restart loses no request."""
    with fresh_database(tmp_path, migrated=True) as database_url:
        server = LiveServer(
            tmp_path, smtp_port=smtp_server.port, env={"DATABASE_URL": database_url}
        )
        try:
            with httpx.Client(base_url=server.wait_until_ready(), timeout=10) as http:
                body = {"username": "Alice", "email": "alice@example.com"}
                created = http.post("/api/users", json=body | {"password": STRONG_PASSWORD})
                assert created.status_code == 201
                mailbox.wait_for("alice@example.com")
                asked = http.post("/api/users/password-reset", json={"email": body["email"]})
                assert asked.status_code == 202
            server.process.send_signal(signal.SIGTERM)
            server.process.wait(timeout=15)
            engine = create_engine(sync_url(database_url))
            try:
                with engine.connect() as connection:
                    tokens = connection.scalars(
                        select(EmailToken.id).where(EmailToken.purpose == "reset-password")
                    ).all()
                    waiting = connection.scalars(select(OutboxMessage.recipient)).all()
            finally:
                engine.dispose()
            delivered = [m for m in mailbox.to(body["email"]) if "/reset-password" in m.text]
            assert len(tokens) == 1
            assert len(delivered) + waiting.count(body["email"]) == 1
        finally:
            server.stop()
