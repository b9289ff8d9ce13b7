"""Two-factor authentication through the API: enrolment with a code from the shown
secret, the two-step password sign-in, recovery codes, replay, throttling, the
mfa_token's life, passkeys skipping the code, and the server shell's reset. Codes are
computed by pyotp at the moved clock (accounts.sessions.utcnow)."""

from datetime import UTC, datetime, timedelta

import jwt
import pyotp
import pytest
from pydantic import AnyHttpUrl, SecretStr
from sqlalchemy import func, select, update

import manage
from accounts import email_links, mfa, sessions, totp
from accounts.throttle import MAX_FAILURES_PER_EMAIL
from models import AdminAction, MfaChallenge, SecurityEvent, User, UserSession
from tests.helpers import (
    Account,
    bearer,
    login,
    make_account,
    run_sql,
    scalar,
    settings_changed,
    statuses_in_parallel,
)
from tests.mail_server import Mailbox
from tests.soft_authenticator import SoftAuthenticator
from tests.test_manage import run_manage

ORIGIN = "https://testserver"
pytestmark = pytest.mark.settings(public_url=AnyHttpUrl(ORIGIN))
STEP = timedelta(seconds=30)


@pytest.fixture
def clock(monkeypatch) -> list[datetime]:
    """The sessions' (and so the codes' and mfa_tokens') clock, moved by hand; set
    in the middle of a 30-second step, so one step forward is one step forward."""
    now = datetime.now(UTC)
    now = now.replace(second=15 if now.second < 30 else 45, microsecond=0)
    moved = [now]
    monkeypatch.setattr(sessions, "utcnow", lambda: moved[0])
    return moved


def code_at(secret: str, when: datetime) -> str:
    return pyotp.TOTP(secret).at(when)


def next_code(secret: str, clock: list[datetime]) -> str:
    """Move the clock a step on (a step's code is accepted once) and give its code."""
    clock[0] += STEP
    return code_at(secret, clock[0])


def enrol(client, account: Account) -> dict:
    response = client.post("/api/users/me/totp", headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


def confirm(client, account: Account, code: str):
    return client.post(
        "/api/users/me/totp/confirmation", json={"code": code}, headers=account.headers
    )


def turn_on(client, account: Account, clock: list[datetime]) -> tuple[str, list[str]]:
    """2FA on for `account`: its secret and its recovery codes."""
    secret = enrol(client, account)["secret"]
    response = confirm(client, account, code_at(secret, clock[0]))
    assert response.status_code == 200, response.text
    return secret, response.json()["recovery_codes"]


def mfa_token(client, account: Account) -> str:
    """The first step of a password sign-in on an account with 2FA."""
    response = login(client, account.email, account.password)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "mfa_required"
    return response.json()["mfa_token"]


def second_step(client, token: str, code: str):
    return client.post("/api/users/token/mfa", json={"mfa_token": token, "code": code})


def rows(client, statement) -> list:
    """All rows a query reads from the app's database."""

    async def read() -> list:
        async with client.app_state["sessionmaker"]() as session:
            return list((await session.execute(statement)).all())

    return client.portal.call(read)


def events(client, account: Account, kind: str) -> list[str]:
    """The details of `account`'s security events of type `kind`, oldest first."""
    query = (
        select(SecurityEvent.detail)
        .where(SecurityEvent.user_id == account.id, SecurityEvent.type == kind)
        .order_by(SecurityEvent.id)
    )
    return [detail for (detail,) in rows(client, query)]


def session_method(client, access_token: str) -> str:
    """How the session an access token belongs to signed in."""
    sid = jwt.decode(access_token, options={"verify_signature": False})["sid"]
    return scalar(client, select(UserSession.auth_method).where(UserSession.id == sid))


def me(client, account: Account) -> dict:
    response = client.get("/api/users/me", headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


def subjects(mailbox: Mailbox, account: Account, count: int) -> list[str]:
    return [mail.message["Subject"] for mail in mailbox.wait_for(account.email, count)]


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert "access_token" not in response.json()
    assert "set-cookie" not in response.headers


# --- Enrolment ------------------------------------------------------------------------


def test_enrolment_shows_a_secret_and_turns_on_with_its_first_code(client, mailbox, clock):
    alice = make_account(client, "Alice")
    started = enrol(client, alice)
    assert set(started) == {"secret", "otpauth_uri", "qr_svg"}
    secret = started["secret"]
    assert len(secret) == 32
    assert pyotp.TOTP(secret).now()
    uri = pyotp.parse_uri(started["otpauth_uri"])
    assert uri.secret == secret
    assert uri.issuer == "Inkwell"
    assert uri.name == alice.email
    svg = started["qr_svg"]
    assert svg.startswith("<svg")
    assert "<title>" in svg
    assert "script" not in svg.lower()
    assert "style" not in svg.lower()
    # Pending: nothing is enforced yet, and the secret is kept sealed only.
    assert me(client, alice)["totp_enabled"] is False
    assert login(client, alice.email).status_code == 200
    stored = rows(
        client,
        select(User.totp_secret, User.totp_pending_secret).where(User.id == alice.id),
    )[0]
    assert stored.totp_secret is None
    assert secret not in stored.totp_pending_secret

    response = confirm(client, alice, code_at(secret, clock[0]))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    codes = response.json()["recovery_codes"]
    assert len(codes) == len(set(codes)) == 10
    assert all(len(code) == 14 and code.count("-") == 2 for code in codes)
    assert (me(client, alice)["totp_enabled"], me(client, alice)["recovery_codes_left"]) == (
        True,
        10,
    )
    stored_codes = scalar(client, select(User.recovery_codes).where(User.id == alice.id))
    assert not any(code.replace("-", "") in stored_codes for code in codes)
    assert events(client, alice, "totp_enabled") == [""]
    assert "Two-factor authentication is on" in subjects(mailbox, alice, 2)[-1]
    # Its code claimed its step: it cannot sign in as well.
    refused(
        second_step(client, mfa_token(client, alice), code_at(secret, clock[0])),
        401,
        "mfa_code_invalid",
    )


def test_a_new_enrolment_replaces_a_pending_one(client, clock):
    alice = make_account(client)
    first = enrol(client, alice)["secret"]
    second = enrol(client, alice)["secret"]
    assert first != second
    refused(confirm(client, alice, code_at(first, clock[0])), 400, "totp_code_invalid")
    assert confirm(client, alice, code_at(second, clock[0])).status_code == 200


def test_enrolling_or_confirming_while_on_is_a_conflict(client, clock):
    alice = make_account(client)
    secret, _ = turn_on(client, alice, clock)
    refused(client.post("/api/users/me/totp", headers=alice.headers), 409, "totp_already_enabled")
    refused(confirm(client, alice, next_code(secret, clock)), 409, "totp_already_enabled")


def test_a_confirmation_without_an_enrolment_is_a_conflict(client, clock):
    alice = make_account(client)
    refused(confirm(client, alice, "123456"), 409, "totp_not_pending")
    assert me(client, alice)["totp_enabled"] is False


@pytest.mark.parametrize("code", ["000000", "12345", "1234567", "abcdef", "１２３４５６", " "])
def test_a_wrong_or_malformed_code_does_not_turn_it_on(client, clock, code):
    alice = make_account(client)
    secret = enrol(client, alice)["secret"]
    if code == "000000" and code_at(secret, clock[0]) == code:  # pragma: no cover
        clock[0] += 3 * STEP
    refused(confirm(client, alice, code), 400, "totp_code_invalid")
    assert me(client, alice)["totp_enabled"] is False


@pytest.mark.parametrize(
    "body", [{}, {"code": ""}, {"code": "1" * 41}, {"code": 123456}, {"code": "123456", "extra": 1}]
)
def test_a_malformed_confirmation_body_is_422(client, body):
    alice = make_account(client)
    enrol(client, alice)
    response = client.post("/api/users/me/totp/confirmation", json=body, headers=alice.headers)
    assert response.status_code == 422, response.text


def test_wrong_confirmation_codes_spend_the_login_throttle(client, clock):
    alice = make_account(client)
    secret = enrol(client, alice)["secret"]
    for _ in range(MAX_FAILURES_PER_EMAIL):
        refused(confirm(client, alice, "abcdef"), 400, "totp_code_invalid")
    locked = confirm(client, alice, code_at(secret, clock[0]))
    refused(locked, 429, "too_many_attempts")
    assert int(locked.headers["retry-after"]) > 0
    assert me(client, alice)["totp_enabled"] is False
    refused(login(client, alice.email), 429, "too_many_attempts")


def test_enrolments_are_rate_limited_per_account(client):
    alice = make_account(client)
    for _ in range(mfa.ENROLMENTS_PER_HOUR):
        enrol(client, alice)
    refused(client.post("/api/users/me/totp", headers=alice.headers), 429, "rate_limited")


def test_every_change_needs_a_recent_sign_in(client, clock):
    alice = make_account(client)
    secret, _ = turn_on(client, alice, clock)
    clock[0] += timedelta(minutes=11)
    for method, path in [
        ("POST", "/api/users/me/totp"),
        ("DELETE", "/api/users/me/totp"),
        ("POST", "/api/users/me/recovery-codes"),
    ]:
        refused(
            client.request(method, path, headers=alice.headers), 401, "reauthentication_required"
        )
    refused(confirm(client, alice, code_at(secret, clock[0])), 401, "reauthentication_required")
    assert me(client, alice)["recovery_codes_left"] == 10
    assert events(client, alice, "totp_disabled") == []
    for method, path in [("POST", "/api/users/me/totp"), ("DELETE", "/api/users/me/totp")]:
        refused(client.request(method, path), 401, "not_authenticated")


# --- Signing in in two steps -----------------------------------------------------------


def test_a_password_sign_in_asks_for_the_code_then_answers_as_a_login(client, clock):
    alice = make_account(client, "Alice")
    secret, _ = turn_on(client, alice, clock)
    client.cookies.clear()
    first = login(client, alice.email)
    refused(first, 401, "mfa_required")
    assert set(first.json()) == {"detail", "code", "mfa_token"}
    assert first.headers["cache-control"] == "no-store"
    assert "refresh_token" not in client.cookies
    sessions_before = scalar(client, select(func.count()).select_from(UserSession))
    token = first.json()["mfa_token"]
    assert len(token) >= 43
    stored = scalar(client, select(MfaChallenge.token_hash))
    assert stored != token
    assert len(stored) == 64

    response = second_step(client, token, next_code(secret, clock))
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["token_type"] == "bearer"
    assert "refresh_token" in client.cookies
    access = bearer(response.json()["access_token"])
    assert client.get("/api/users/me", headers=access).json()["email"] == alice.email
    assert scalar(client, select(func.count()).select_from(UserSession)) == sessions_before + 1
    listed = client.get("/api/users/me/sessions", headers=access).json()
    assert sum(item["current"] for item in listed) == 1
    assert client.post("/api/users/token/refresh").status_code == 200
    assert session_method(client, response.json()["access_token"]) == "password+totp"
    assert events(client, alice, "sign_in")[-1] == "password+totp"
    # The token worked once.
    refused(second_step(client, token, next_code(secret, clock)), 401, "mfa_token_invalid")
    assert scalar(client, select(func.count()).select_from(MfaChallenge)) == 0


@pytest.mark.parametrize("steps", [-1, 0, 1])
def test_a_code_one_step_off_either_way_is_accepted(client, clock, steps):
    alice = make_account(client)
    secret, _ = turn_on(client, alice, clock)
    clock[0] += 3 * STEP
    token = mfa_token(client, alice)
    response = second_step(client, token, code_at(secret, clock[0] + steps * STEP))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("steps", [-2, 2])
def test_a_code_two_steps_off_is_refused(client, clock, steps):
    alice = make_account(client)
    secret, _ = turn_on(client, alice, clock)
    clock[0] += 3 * STEP
    code = code_at(secret, clock[0] + steps * STEP)
    if code in {code_at(secret, clock[0] + n * STEP) for n in (-1, 0, 1)}:  # pragma: no cover
        pytest.skip("a code that happens to repeat within the window")
    refused(second_step(client, mfa_token(client, alice), code), 401, "mfa_code_invalid")


def test_a_code_used_once_is_refused_within_its_window(client, clock):
    alice = make_account(client)
    secret, _ = turn_on(client, alice, clock)
    code = next_code(secret, clock)
    assert second_step(client, mfa_token(client, alice), code).status_code == 200
    clock[0] += timedelta(seconds=10)  # same window
    refused(second_step(client, mfa_token(client, alice), code), 401, "mfa_code_invalid")
    # An earlier step's code, still within the skew, is refused too: steps only go on.
    earlier = code_at(secret, clock[0] - STEP)
    refused(second_step(client, mfa_token(client, alice), earlier), 401, "mfa_code_invalid")
    assert (
        second_step(client, mfa_token(client, alice), next_code(secret, clock)).status_code == 200
    )


def test_a_wrong_password_says_nothing_of_2fa(client, clock):
    with_2fa = make_account(client, "Alice")
    turn_on(client, with_2fa, clock)
    without = make_account(client, "Bob")
    answers = [
        login(client, account.email, "wrong password!") for account in (with_2fa, without)
    ] + [login(client, "nobody@example.com", "wrong password!")]
    assert {response.status_code for response in answers} == {401}
    assert {tuple(sorted(response.json().items())) for response in answers} == {
        (("code", "invalid_credentials"), ("detail", "Incorrect email or password"))
    }
    assert len({tuple(sorted(response.headers.keys())) for response in answers}) == 1
    assert scalar(client, select(func.count()).select_from(MfaChallenge)) == 0
    assert events(client, with_2fa, "sign_in_failed") == ["password"]
    assert events(client, without, "sign_in_failed") == ["password"]


def test_a_recovery_code_signs_in_once_and_is_mailed(client, mailbox, clock):
    alice = make_account(client)
    _, codes = turn_on(client, alice, clock)
    # Typed loosely: upper case, without its dashes, with spaces around.
    typed = f" {codes[3].replace('-', '').upper()} "
    response = second_step(client, mfa_token(client, alice), typed)
    assert response.status_code == 200, response.text
    access = bearer(response.json()["access_token"])
    assert client.get("/api/users/me", headers=access).json()["recovery_codes_left"] == 9
    assert events(client, alice, "recovery_code_used") == ["9"]
    assert events(client, alice, "sign_in")[-1] == "password+recovery_code"
    mail = mailbox.wait_for(alice.email, 3)[-1]
    assert mail.message["Subject"] == "A recovery code was used to sign in"
    assert "9 unused recovery codes are left" in mail.text
    # Single use.
    refused(second_step(client, mfa_token(client, alice), codes[3]), 401, "mfa_code_invalid")
    assert second_step(client, mfa_token(client, alice), codes[4]).status_code == 200
    assert me(client, alice)["recovery_codes_left"] == 8


@pytest.mark.settings(account_mail_per_hour=1)
def test_a_recovery_code_signs_in_when_the_accounts_mail_budget_is_spent(client, mailbox, clock):
    """Locked out of the authenticator, the owner is not refused their way back because
    the account sent other mail this hour: that notice is apart from the budget."""
    alice = make_account(client)
    _, codes = turn_on(client, alice, clock)  # its notice spends the hour's one mail
    refused(client.post("/api/users/me/recovery-codes", headers=alice.headers), 429, "mail_limit")
    response = second_step(client, mfa_token(client, alice), codes[0])
    assert response.status_code == 200, response.text
    assert mailbox.wait_for(alice.email, 3)[-1].message["Subject"] == (
        "A recovery code was used to sign in"
    )


def test_five_wrong_codes_end_the_token_and_spend_the_login_budget(client, clock):
    alice = make_account(client)
    secret, _ = turn_on(client, alice, clock)
    token = mfa_token(client, alice)
    for _ in range(mfa.CHALLENGE_MAX_FAILURES):
        refused(second_step(client, token, "000000x"), 401, "mfa_code_invalid")
    assert events(client, alice, "sign_in_failed") == ["code"] * mfa.CHALLENGE_MAX_FAILURES
    # The token is dead even for the right code, and the account's budget is spent.
    refused(second_step(client, token, next_code(secret, clock)), 401, "mfa_token_invalid")
    refused(login(client, alice.email), 429, "too_many_attempts")


def test_a_right_password_does_not_forgive_wrong_codes(client, clock):
    """Else each new mfa_token would bring a fresh budget of guesses."""
    alice = make_account(client)
    secret, _ = turn_on(client, alice, clock)
    for _ in range(MAX_FAILURES_PER_EMAIL - 1):
        refused(second_step(client, mfa_token(client, alice), "999999x"), 401, "mfa_code_invalid")
    token = mfa_token(client, alice)  # the right password: still 4 failures counted
    refused(second_step(client, token, "999999x"), 401, "mfa_code_invalid")
    refused(second_step(client, token, next_code(secret, clock)), 429, "too_many_attempts")


def test_a_right_code_clears_the_count(client, clock):
    alice = make_account(client)
    secret, _ = turn_on(client, alice, clock)
    token = mfa_token(client, alice)
    for _ in range(MAX_FAILURES_PER_EMAIL - 1):
        refused(second_step(client, token, "999999x"), 401, "mfa_code_invalid")
    assert second_step(client, token, next_code(secret, clock)).status_code == 200
    for _ in range(MAX_FAILURES_PER_EMAIL - 1):
        refused(second_step(client, mfa_token(client, alice), "99x"), 401, "mfa_code_invalid")


def test_one_token_sent_twice_at_once_signs_in_once(client, clock):
    alice = make_account(client)
    secret, codes = turn_on(client, alice, clock)
    token = mfa_token(client, alice)
    answers = iter([next_code(secret, clock), codes[0], codes[1], codes[2]])
    statuses = statuses_in_parallel(lambda: second_step(client, token, next(answers)), 4)
    assert statuses == [200, 401, 401, 401]
    signed_in = events(client, alice, "sign_in")
    assert len(signed_in) == 2  # make_account's, and one of these


def test_an_mfa_token_lives_five_minutes(client, clock):
    alice = make_account(client)
    secret, _ = turn_on(client, alice, clock)
    token = mfa_token(client, alice)
    clock[0] += mfa.CHALLENGE_LIFETIME + timedelta(seconds=1)
    refused(second_step(client, token, code_at(secret, clock[0])), 401, "mfa_token_invalid")
    # Expired ones are purged as new ones are made.
    mfa_token(client, alice)
    assert scalar(client, select(func.count()).select_from(MfaChallenge)) == 1
    clock[0] += STEP
    token = mfa_token(client, alice)
    clock[0] += mfa.CHALLENGE_LIFETIME - timedelta(seconds=1)
    assert second_step(client, token, code_at(secret, clock[0])).status_code == 200


@pytest.mark.parametrize("token", ["x", "A" * 43, "é" * 20, "A" * 128])
def test_an_unknown_or_malformed_mfa_token_is_refused(client, clock, token):
    alice = make_account(client)
    secret, _ = turn_on(client, alice, clock)
    mfa_token(client, alice)
    refused(second_step(client, token, next_code(secret, clock)), 401, "mfa_token_invalid")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"mfa_token": "x"},
        {"code": "123456"},
        {"mfa_token": "A" * 129, "code": "123456"},
        {"mfa_token": "x", "code": "1" * 41},
        {"mfa_token": "x", "code": ""},
        {"mfa_token": ["x"], "code": "123456"},
    ],
)
def test_a_malformed_second_step_is_422(client, body):
    response = client.post("/api/users/token/mfa", json=body)
    assert response.status_code == 422, response.text
    assert "set-cookie" not in response.headers


def test_a_token_of_an_account_whose_2fa_went_off_is_refused(client, clock):
    alice = make_account(client)
    secret, _ = turn_on(client, alice, clock)
    token = mfa_token(client, alice)
    assert client.delete("/api/users/me/totp", headers=alice.headers).status_code == 204
    refused(second_step(client, token, next_code(secret, clock)), 401, "mfa_token_invalid")


def test_a_suspended_account_gets_no_session_with_a_code(client, clock):
    alice = make_account(client)
    secret, _ = turn_on(client, alice, clock)
    token = mfa_token(client, alice)
    run_sql(client, update(User).where(User.id == alice.id).values(suspended_at=clock[0]))
    refused(second_step(client, token, next_code(secret, clock)), 403, "account_suspended")


def test_sign_ins_reaching_the_second_step_are_rate_limited(client, clock, monkeypatch):
    monkeypatch.setattr(mfa, "CHALLENGES_PER_HOUR", 2)
    alice = make_account(client)
    turn_on(client, alice, clock)
    mfa_token(client, alice)
    mfa_token(client, alice)
    refused(login(client, alice.email), 429, "rate_limited")


# --- Passkeys, resets -------------------------------------------------------------------


def test_a_passkey_signs_in_without_a_code(client, clock):
    device = SoftAuthenticator(origin=ORIGIN)
    alice = make_account(client)
    turn_on(client, alice, clock)
    options = client.post(
        "/api/users/me/passkeys/options",
        json={"current_password": alice.password},
        headers=alice.headers,
    ).json()
    added = client.post(
        "/api/users/me/passkeys",
        json={"credential": device.create(options), "name": "Phone"},
        headers=alice.headers,
    )
    assert added.status_code == 201, added.text
    client.cookies.clear()
    options = client.post("/api/users/token/passkey/options").json()
    response = client.post("/api/users/token/passkey", json={"credential": device.get(options)})
    assert response.status_code == 200, response.text
    assert events(client, alice, "sign_in")[-1] == "passkey"
    assert session_method(client, response.json()["access_token"]) == "passkey"


def test_a_password_reset_does_not_turn_2fa_off(client, mailbox, clock, monkeypatch):
    monkeypatch.setattr(email_links, "RESET_DELAY_SECONDS", (0.0, 0.0))
    alice = make_account(client)
    secret, _ = turn_on(client, alice, clock)
    client.post("/api/users/password-reset", json={"email": alice.email})
    mail = next(
        m for m in mailbox.wait_for(alice.email, 3) if m.message["Subject"] == "Reset your password"
    )
    new_password = "Another-Correct-Horse-7"
    confirmed = client.post(
        "/api/users/password-reset/confirm",
        json={"token": mail.token("/reset-password"), "new_password": new_password},
    )
    assert confirmed.status_code == 204, confirmed.text
    first = login(client, alice.email, new_password)
    refused(first, 401, "mfa_required")
    assert (
        second_step(client, first.json()["mfa_token"], next_code(secret, clock)).status_code == 200
    )


# --- Off, replaced codes, the server's shell -----------------------------------------


def test_turning_off_ends_the_second_step(client, mailbox, clock):
    alice = make_account(client)
    turn_on(client, alice, clock)
    response = client.delete("/api/users/me/totp", headers=alice.headers)
    assert response.status_code == 204, response.text
    assert (me(client, alice)["totp_enabled"], me(client, alice)["recovery_codes_left"]) == (
        False,
        0,
    )
    stored = rows(
        client,
        select(
            User.totp_secret, User.totp_pending_secret, User.recovery_codes, User.totp_last_step
        ).where(User.id == alice.id),
    )[0]
    assert tuple(stored) == (None, None, "", None)
    assert login(client, alice.email).status_code == 200
    assert events(client, alice, "totp_disabled") == [""]
    assert subjects(mailbox, alice, 3)[-1] == "Two-factor authentication is off"
    refused(client.delete("/api/users/me/totp", headers=alice.headers), 409, "totp_not_enabled")
    refused(
        client.post("/api/users/me/recovery-codes", headers=alice.headers), 409, "totp_not_enabled"
    )
    # And on again, with a new secret.
    turn_on(client, alice, clock)
    assert me(client, alice)["totp_enabled"] is True


def test_turning_off_what_is_off_changes_nothing(client, clock):
    alice = make_account(client)
    enrol(client, alice)  # pending only
    refused(client.delete("/api/users/me/totp", headers=alice.headers), 409, "totp_not_enabled")
    assert scalar(client, select(User.totp_pending_secret).where(User.id == alice.id))
    assert events(client, alice, "totp_disabled") == []


def test_replaced_recovery_codes_void_the_old_ones(client, mailbox, clock):
    alice = make_account(client)
    _, old = turn_on(client, alice, clock)
    response = client.post("/api/users/me/recovery-codes", headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    new = response.json()["recovery_codes"]
    assert len(new) == 10
    assert not set(new) & set(old)
    assert events(client, alice, "recovery_codes_replaced") == [""]
    assert subjects(mailbox, alice, 3)[-1] == "Your recovery codes were replaced"
    refused(second_step(client, mfa_token(client, alice), old[0]), 401, "mfa_code_invalid")
    assert second_step(client, mfa_token(client, alice), new[0]).status_code == 200


def test_changes_are_rate_limited_per_account(client, clock, monkeypatch):
    monkeypatch.setattr(mfa, "TOTP_CHANGES_PER_HOUR", 3)  # below the mail budgets
    alice = make_account(client)
    turn_on(client, alice, clock)
    for _ in range(3):
        assert client.post("/api/users/me/recovery-codes", headers=alice.headers).status_code == 200
    refused(client.post("/api/users/me/recovery-codes", headers=alice.headers), 429, "rate_limited")
    refused(client.delete("/api/users/me/totp", headers=alice.headers), 429, "rate_limited")


def test_the_server_shell_resets_2fa(client, mailbox, database_url, clock, capsys):
    alice = make_account(client, "Alice")
    turn_on(client, alice, clock)
    assert run_manage(database_url, "reset-2fa", alice.email.upper()) == 0
    assert "Alice <" in capsys.readouterr().out
    assert me(client, alice)["totp_enabled"] is False
    assert login(client, alice.email).status_code == 200
    assert events(client, alice, "totp_disabled") == ["by an admin"]
    ip = scalar(client, select(SecurityEvent.ip).where(SecurityEvent.type == "totp_disabled"))
    assert ip == ""
    mail = mailbox.wait_for(alice.email, 3)[-1]
    assert mail.message["Subject"] == "Two-factor authentication is off"
    assert "An administrator turned two-factor authentication off" in mail.text
    logged = rows(client, select(AdminAction.action, AdminAction.target_name, AdminAction.actor_id))
    assert [tuple(row) for row in logged] == [("reset_2fa", "Alice", None)]
    # Nothing to do the second time; an unknown email is refused.
    assert run_manage(database_url, "reset-2fa", alice.email) == 0
    assert "off already" in capsys.readouterr().out
    assert run_manage(database_url, "reset-2fa", "nobody@example.com") == 1
    assert "No account has the email" in capsys.readouterr().err
    assert len(rows(client, select(AdminAction.id))) == 1


@pytest.mark.parametrize("argv", [["reset-2fa"], ["reset-2fa", "a@example.com", "b@example.com"]])
def test_reset_2fa_usage_errors_exit_2(argv):
    with pytest.raises(SystemExit) as exited:
        manage.parse_args(argv)
    assert exited.value.code == 2


def test_an_admin_sees_the_reset_in_the_actions_log(client, database_url, clock):
    admin = make_account(client)
    run_manage(database_url, "promote", admin.email)
    alice = make_account(client, "Carol")
    turn_on(client, alice, clock)
    run_manage(database_url, "reset-2fa", alice.email)
    logged = client.get("/api/admin/actions", headers=admin.headers)
    assert logged.status_code == 200, logged.text
    assert logged.json()["items"][0]["action"] == "reset_2fa"


def test_a_sealed_secret_needs_the_servers_key(client, clock):
    """A copy of the database alone mints no codes: under another SECRET_KEY the
    stored secret does not open, and no code is accepted."""
    alice = make_account(client)
    secret, _ = turn_on(client, alice, clock)
    sealed = scalar(client, select(User.totp_secret).where(User.id == alice.id))
    assert totp.unseal(sealed) == secret
    with settings_changed(secret_key=SecretStr("another key, another seal, 32 chars or more!")):
        assert totp.unseal(sealed) is None
