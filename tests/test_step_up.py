"""Step-up through the API: sensitive actions need a session that authenticated within
REAUTH_WINDOW_MINUTES (signing in counts, so does POST /api/users/me/reauthentication
with a password, password and code, or a passkey), or `current_password` where a body
carried it before. The sessions' clock is moved by hand; on SQLite and PostgreSQL."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest
from fastapi.testclient import TestClient
from pydantic import AnyHttpUrl
from sqlalchemy import func, select

from accounts import passkeys, sessions, totp
from accounts.throttle import MAX_FAILURES_PER_EMAIL
from config import get_settings
from models import Passkey, PasskeyChallenge, SecurityEvent, User, UserSession
from tests.helpers import (
    STRONG_PASSWORD,
    Account,
    bearer,
    log_in,
    login,
    make_account,
    run_sql,
    scalar,
)
from tests.soft_authenticator import SoftAuthenticator

ORIGIN = "https://testserver"  # the test client's own address, as PUBLIC_URL
REAUTH = "/api/users/me/reauthentication"
NEW_PASSWORD = "a-completely-different-phrase-42"

pytestmark = pytest.mark.settings(public_url=AnyHttpUrl(ORIGIN))


@pytest.fixture
def clock(monkeypatch) -> list[datetime]:
    """The sessions' clock, moved by hand (as in tests/test_sessions.py)."""
    now = [datetime.now(UTC)]
    monkeypatch.setattr(sessions, "utcnow", lambda: now[0])
    return now


@pytest.fixture
def device() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN)


def window() -> timedelta:
    return timedelta(minutes=get_settings().reauth_window_minutes)


def age(clock: list[datetime], by: timedelta) -> None:
    clock[0] += by


def expire_window(clock: list[datetime]) -> None:
    """Every session signed in so far is past the reauthentication window now."""
    age(clock, window() + timedelta(seconds=1))


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json() == {
        "detail": "Confirm it is you (your password or a passkey) to do this",
        "code": "reauthentication_required",
    }


def reauthenticate(client: TestClient, account: Account, **body: str) -> httpx.Response:
    return client.post(REAUTH, json={"password": account.password} | body, headers=account.headers)


def add_passkey(client: TestClient, account: Account, device: SoftAuthenticator) -> dict:
    """A passkey for `account` (whose session must be recent)."""
    options = client.post("/api/users/me/passkeys/options", json={}, headers=account.headers)
    assert options.status_code == 200, options.text
    answer = device.create(options.json())
    response = client.post(
        "/api/users/me/passkeys", json={"credential": answer}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


def passkey_count(client: TestClient, account: Account) -> int:
    return scalar(client, select(func.count()).where(Passkey.user_id == account.id))


def turn_on_2fa(client: TestClient, account: Account) -> tuple[str, list[str]]:
    """2FA on, straight in the database (the TOTP routes have their own tests): the
    secret and the recovery codes."""
    secret = totp.new_secret()
    codes, stored = totp.new_recovery_codes()
    run_sql(
        client,
        "UPDATE users SET totp_secret = :sealed, recovery_codes = :codes WHERE id = :id",
        sealed=totp.seal(secret),
        codes=stored,
        id=account.id,
    )
    return secret, codes


def code_at(secret: str, clock: list[datetime]) -> str:
    return pyotp.TOTP(secret).at(clock[0])


def wrong_code(secret: str, clock: list[datetime]) -> str:
    """Six digits that are none of the codes accepted now (one step either side)."""
    totp_now = pyotp.TOTP(secret)
    taken = {totp_now.at(clock[0], counter_offset=offset) for offset in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in taken)


def events(client: TestClient, account: Account, kind: str) -> list[str]:
    """The details of the account's security events of this kind, oldest first."""
    query = (
        select(SecurityEvent.detail)
        .where(SecurityEvent.user_id == account.id, SecurityEvent.type == kind)
        .order_by(SecurityEvent.id)
    )

    async def read() -> list[str]:
        async with client.app_state["sessionmaker"]() as session:
            return list(await session.scalars(query))

    return client.portal.call(read)


# --- Each sensitive action: refused outside the window, nothing changed -------------


@dataclass
class Action:
    """A sensitive action: `send(client, account, extra_body)` makes the request;
    `done(client, account)` says whether it took effect; `password_body` is whether its
    body takes `current_password`."""

    send: Callable[[TestClient, Account, dict], httpx.Response]
    # None: the action leaves nothing to check (options only make a challenge).
    done: Callable[[TestClient, Account], bool] | None
    password_body: bool
    prepare: Callable[[TestClient, Account, SoftAuthenticator], object] | None = None


def _email_of(client: TestClient, account: Account) -> str:
    return scalar(client, select(User.email).where(User.id == account.id))


def _other_sessions(client: TestClient, account: Account) -> int:
    live = (
        UserSession.user_id == account.id,
        UserSession.revoked_at.is_(None),
    )
    return scalar(client, select(func.count()).where(*live))


STATE: dict[str, object] = {}


def _prepare_passkey(client: TestClient, account: Account, device: SoftAuthenticator) -> None:
    STATE["passkey"] = add_passkey(client, account, device)


def _prepare_registration(client: TestClient, account: Account, device: SoftAuthenticator) -> None:
    """Options asked for while recent; the answer is sent once the window is over."""
    options = client.post("/api/users/me/passkeys/options", json={}, headers=account.headers)
    assert options.status_code == 200, options.text
    STATE["answer"] = device.create(options.json())


def _prepare_other_session(client: TestClient, account: Account, _device: object) -> None:
    assert login(client, account.email).status_code == 200


ACTIONS = {
    "change the email": Action(
        send=lambda c, a, extra: c.patch(
            f"/api/users/{a.id}", json={"email": "new@example.com"} | extra, headers=a.headers
        ),
        done=lambda c, a: _email_of(c, a) == "new@example.com",
        password_body=True,
    ),
    "change the password": Action(
        send=lambda c, a, extra: c.post(
            "/api/users/me/password", json={"new_password": NEW_PASSWORD} | extra, headers=a.headers
        ),
        done=lambda c, a: login(c, a.email, NEW_PASSWORD).status_code == 200,
        password_body=True,
    ),
    "delete the account": Action(
        send=lambda c, a, _extra: c.delete(f"/api/users/{a.id}", headers=a.headers),
        done=lambda c, a: c.get(f"/api/users/{a.id}").status_code == 404,
        password_body=False,
    ),
    "start adding a passkey": Action(
        send=lambda c, a, extra: c.post(
            "/api/users/me/passkeys/options", json=extra, headers=a.headers
        ),
        done=None,
        password_body=True,
    ),
    "finish adding a passkey": Action(
        send=lambda c, a, _extra: c.post(
            "/api/users/me/passkeys", json={"credential": STATE["answer"]}, headers=a.headers
        ),
        done=lambda c, a: passkey_count(c, a) == 1,
        password_body=False,
        prepare=_prepare_registration,
    ),
    "remove a passkey": Action(
        send=lambda c, a, _extra: c.delete(
            f"/api/users/me/passkeys/{STATE['passkey']['id']}", headers=a.headers
        ),
        done=lambda c, a: passkey_count(c, a) == 0,
        password_body=False,
        prepare=_prepare_passkey,
    ),
    "end the other sessions": Action(
        send=lambda c, a, _extra: c.delete("/api/users/me/sessions", headers=a.headers),
        done=lambda c, a: _other_sessions(c, a) == 1,
        password_body=False,
        prepare=_prepare_other_session,
    ),
}


@pytest.fixture
def prepared(client, alice, device, clock, request) -> tuple[Action, Account]:
    STATE.clear()
    action = ACTIONS[request.param]
    if action.prepare:
        action.prepare(client, alice, device)
    return action, alice


@pytest.mark.parametrize("prepared", list(ACTIONS), indirect=True)
def test_each_sensitive_action_is_refused_outside_the_window_and_changes_nothing(
    client, prepared, clock
):
    action, alice = prepared
    expire_window(clock)
    assert_refused(action.send(client, alice, {}))
    assert action.done is None or not action.done(client, alice)
    # The same session, reauthenticated: the action goes through.
    assert reauthenticate(client, alice).status_code == 204
    response = action.send(client, alice, {})
    assert response.status_code in (200, 201, 204), response.text
    assert action.done is None or action.done(client, alice)


@pytest.mark.parametrize("prepared", list(ACTIONS), indirect=True)
def test_each_sensitive_action_goes_ahead_inside_the_window(client, prepared, clock):
    action, alice = prepared
    age(clock, window() - timedelta(seconds=5))
    response = action.send(client, alice, {})
    assert response.status_code in (200, 201, 204), response.text
    assert action.done is None or action.done(client, alice)


@pytest.mark.parametrize(
    "prepared", [name for name, action in ACTIONS.items() if action.password_body], indirect=True
)
def test_current_password_still_works_instead_and_counts_as_reauthenticating(
    client, prepared, clock
):
    action, alice = prepared
    expire_window(clock)
    wrong = action.send(client, alice, {"current_password": "not-my-password"})
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "current_password_incorrect"
    assert action.done is None or not action.done(client, alice)
    response = action.send(client, alice, {"current_password": alice.password})
    assert response.status_code in (200, 201), response.text
    assert action.done is None or action.done(client, alice)
    # The password proved who uses the session: a bodiless sensitive action now passes.
    assert client.delete("/api/users/me/sessions", headers=alice.headers).status_code == 204


# --- The window -----------------------------------------------------------------------


def test_the_window_before_inside_and_after(client, clock):
    alice = make_account(client, "Alice")  # signing in counts
    end_others = lambda: client.delete("/api/users/me/sessions", headers=alice.headers)  # noqa: E731
    assert end_others().status_code == 204
    age(clock, window() - timedelta(seconds=1))
    assert end_others().status_code == 204  # still inside
    age(clock, timedelta(seconds=2))
    assert_refused(end_others())
    # A token refresh is no reauthentication: the window stays closed.
    refreshed = client.post("/api/users/token/refresh")
    assert refreshed.status_code == 200
    assert_refused(
        client.delete("/api/users/me/sessions", headers=bearer(refreshed.json()["access_token"]))
    )
    # Everything else still works on the old session.
    assert client.get("/api/users/me", headers=alice.headers).status_code == 200
    renamed = client.patch(f"/api/users/{alice.id}", json={"bio": "me"}, headers=alice.headers)
    assert renamed.json()["bio"] == "me"
    assert reauthenticate(client, alice).status_code == 204
    assert end_others().status_code == 204
    age(clock, window() + timedelta(seconds=1))  # the reauthentication's window ends too
    assert_refused(end_others())


def test_reauthenticating_counts_for_this_session_only(client, clock):
    alice = make_account(client, "Alice")
    laptop = Account(alice.id, alice.username, alice.email, token=alice.token)
    phone = log_in(client, Account(alice.id, alice.username, alice.email))
    expire_window(clock)
    assert reauthenticate(client, laptop).status_code == 204
    assert (
        client.patch(
            f"/api/users/{alice.id}", json={"email": "laptop@example.com"}, headers=laptop.headers
        ).status_code
        == 200
    )
    assert_refused(client.delete(f"/api/users/{alice.id}", headers=phone.headers))
    assert client.get(f"/api/users/{alice.id}").status_code == 200


def test_deleting_an_account_with_a_bare_token_is_refused_outside_the_window(client, clock):
    """The issue's finding: a bearer token alone deleted the account (204)."""
    alice = make_account(client, "Alice")
    expire_window(clock)
    assert_refused(client.delete(f"/api/users/{alice.id}", headers=alice.headers))
    assert client.get(f"/api/users/{alice.id}").json()["username"] == "Alice"
    assert client.get("/api/users/me", headers=alice.headers).status_code == 200
    assert reauthenticate(client, alice).status_code == 204
    assert client.delete(f"/api/users/{alice.id}", headers=alice.headers).status_code == 204
    assert client.get(f"/api/users/{alice.id}").status_code == 404


# --- Reauthenticating with a password -------------------------------------------------


def test_reauthenticating_with_the_password_is_logged(client, clock):
    alice = make_account(client, "Alice")
    expire_window(clock)
    response = reauthenticate(client, alice)
    assert response.status_code == 204
    assert response.content == b""
    assert events(client, alice, "reauthenticated") == ["password"]
    authenticated = scalar(
        client, select(UserSession.authenticated_at).where(UserSession.user_id == alice.id)
    )
    assert authenticated.replace(tzinfo=UTC) == clock[0]


def test_reauthentication_needs_a_token_and_refuses_bad_input(client, alice):
    assert client.post(REAUTH, json={"password": alice.password}).status_code == 401
    for body in ({}, {"password": None}, {"password": "x", "extra": 1}, {"password": 7}):
        assert client.post(REAUTH, json=body, headers=alice.headers).status_code == 422, body
    too_long = {"password": "x", "code": "1" * 41}
    assert client.post(REAUTH, json=too_long, headers=alice.headers).status_code == 422
    # A code on an account without 2FA is not needed, and changes nothing.
    assert reauthenticate(client, alice, code="123456").status_code == 204


def test_a_wrong_password_is_refused_throttled_and_changes_nothing(client, clock):
    alice = make_account(client, "Alice")
    expire_window(clock)
    for _ in range(MAX_FAILURES_PER_EMAIL):
        wrong = reauthenticate(client, alice, password="not-my-password")
        assert wrong.status_code == 400
        assert wrong.json() == {"detail": "Incorrect password", "code": "reauthentication_failed"}
    locked = reauthenticate(client, alice)  # even the right one, now
    assert locked.status_code == 429
    assert locked.json()["code"] == "too_many_attempts"
    assert int(locked.headers["retry-after"]) > 0
    assert login(client, alice.email).status_code == 429  # one budget with logins
    assert_refused(client.delete(f"/api/users/{alice.id}", headers=alice.headers))
    assert events(client, alice, "reauthenticated") == []


# --- ... and a code, with 2FA on --------------------------------------------------------


def test_with_2fa_a_code_is_needed_too(client, clock):
    alice = make_account(client, "Alice")
    secret, _codes = turn_on_2fa(client, alice)
    expire_window(clock)
    missing = reauthenticate(client, alice)
    assert missing.status_code == 400
    assert missing.json()["code"] == "mfa_code_required"
    wrong = reauthenticate(client, alice, code=wrong_code(secret, clock))
    assert wrong.status_code == 400
    assert wrong.json() == {
        "detail": "Incorrect password or code",
        "code": "reauthentication_failed",
    }
    # A right code with a wrong password says the same, and spends nothing of the code.
    code = code_at(secret, clock)
    bad_password = reauthenticate(client, alice, password="not-my-password", code=code)
    assert bad_password.json() == wrong.json()
    assert_refused(client.delete("/api/users/me/sessions", headers=alice.headers))
    assert reauthenticate(client, alice, code=code).status_code == 204
    assert client.delete("/api/users/me/sessions", headers=alice.headers).status_code == 204
    assert events(client, alice, "reauthenticated") == ["password+totp"]
    # The code was used: not again, even within its 30 seconds.
    replayed = reauthenticate(client, alice, code=code)
    assert replayed.status_code == 400
    assert replayed.json()["code"] == "reauthentication_failed"


def test_with_2fa_wrong_codes_spend_the_login_throttle(client, clock):
    alice = make_account(client, "Alice")
    secret, _codes = turn_on_2fa(client, alice)
    expire_window(clock)
    for _ in range(MAX_FAILURES_PER_EMAIL):
        assert reauthenticate(client, alice, code=wrong_code(secret, clock)).status_code == 400
    assert reauthenticate(client, alice, code=code_at(secret, clock)).status_code == 429


def test_with_2fa_a_recovery_code_works_once(client, clock):
    alice = make_account(client, "Alice")
    _secret, codes = turn_on_2fa(client, alice)
    expire_window(clock)
    assert reauthenticate(client, alice, code=codes[0]).status_code == 204
    assert events(client, alice, "reauthenticated") == ["password+recovery_code"]
    assert events(client, alice, "recovery_code_used") == [str(len(codes) - 1)]
    left = scalar(client, select(User.recovery_codes).where(User.id == alice.id))
    assert len(left.split()) == len(codes) - 1
    expire_window(clock)
    assert reauthenticate(client, alice, code=codes[0]).status_code == 400


def test_with_2fa_current_password_alone_is_no_reauthentication(client, clock):
    """The password alone would step around the second factor."""
    alice = make_account(client, "Alice")
    secret, _codes = turn_on_2fa(client, alice)
    with_password = {"email": "new@example.com", "current_password": alice.password}
    url = f"/api/users/{alice.id}"
    expire_window(clock)
    assert_refused(client.patch(url, json=with_password, headers=alice.headers))
    assert _email_of(client, alice) == alice.email
    assert reauthenticate(client, alice, code=code_at(secret, clock)).status_code == 204
    assert client.patch(url, json=with_password, headers=alice.headers).status_code == 200


# --- Reauthenticating with a passkey ----------------------------------------------------


def passkey_options(client: TestClient, account: Account) -> httpx.Response:
    return client.post(f"{REAUTH}/passkey/options", headers=account.headers)


def send_passkey(client: TestClient, account: Account, answer: dict) -> httpx.Response:
    return client.post(f"{REAUTH}/passkey", json={"credential": answer}, headers=account.headers)


def test_reauthenticating_with_a_passkey(client, clock, device):
    alice = make_account(client, "Alice")
    added = add_passkey(client, alice, device)
    other = SoftAuthenticator(origin=ORIGIN)
    add_passkey(client, alice, other)
    expire_window(clock)
    response = passkey_options(client, alice)
    assert response.status_code == 200, response.text
    options = response.json()
    assert options["rpId"] == "testserver"
    assert options["userVerification"] == "required"
    allowed = {credential["id"] for credential in options["allowCredentials"]}
    owned = {device.credentials[0].credential_id_b64, other.credentials[0].credential_id_b64}
    assert allowed == owned
    assert_refused(client.delete("/api/users/me/sessions", headers=alice.headers))
    assert send_passkey(client, alice, device.get(options)).status_code == 204
    assert client.delete("/api/users/me/sessions", headers=alice.headers).status_code == 204
    assert events(client, alice, "reauthenticated") == ["passkey"]
    listed = client.get("/api/users/me/passkeys", headers=alice.headers).json()
    [used] = [passkey for passkey in listed if passkey["id"] == added["id"]]
    assert used["last_used_at"] is not None


def test_a_passkey_reauthentication_is_checked(client, clock, device):
    alice = make_account(client, "Alice")
    add_passkey(client, alice, device)
    expire_window(clock)
    # No user verification: refused, as at sign-in.
    options = passkey_options(client, alice).json()
    unverified = send_passkey(client, alice, device.get(options, user_verified=False))
    assert unverified.status_code == 401
    assert unverified.json()["code"] == "passkey_invalid"
    # An answer is single-use, and a sign-in challenge is no reauthentication's.
    options = passkey_options(client, alice).json()
    answer = device.get(options)
    assert send_passkey(client, alice, answer).status_code == 204
    replayed = send_passkey(client, alice, answer)
    assert replayed.status_code == 400
    assert replayed.json()["code"] == "passkey_challenge_expired"
    sign_in = client.post("/api/users/token/passkey/options").json()
    wrong_purpose = send_passkey(client, alice, device.get(sign_in))
    assert wrong_purpose.json()["code"] == "passkey_challenge_expired"
    # Nor is a reauthentication's a sign-in's.
    stolen = client.post(
        "/api/users/token/passkey",
        json={"credential": device.get(passkey_options(client, alice).json())},
    )
    assert stolen.json()["code"] == "passkey_challenge_expired"
    assert events(client, alice, "reauthenticated") == ["passkey"]


def test_a_passkey_of_another_account_is_refused(client, clock, device):
    alice = make_account(client, "Alice")
    bob = make_account(client, "Bob")
    add_passkey(client, alice, SoftAuthenticator(origin=ORIGIN))
    add_passkey(client, bob, device)
    expire_window(clock)
    # Bob's challenge is his: Alice cannot answer it, nor he hers.
    bobs_options = passkey_options(client, bob).json()
    assert send_passkey(client, alice, device.get(bobs_options)).json()["code"] == (
        "passkey_challenge_expired"
    )
    alices_options = passkey_options(client, alice).json()
    refused = send_passkey(client, alice, device.get(alices_options))
    assert refused.status_code == 401
    assert refused.json()["code"] == "passkey_wrong_account"
    assert_refused(client.delete(f"/api/users/{alice.id}", headers=alice.headers))
    assert events(client, alice, "reauthenticated") == []
    assert events(client, bob, "reauthenticated") == []


def test_passkey_reauthentication_without_a_passkey_or_a_token(client, alice):
    assert client.post(f"{REAUTH}/passkey/options").status_code == 401
    none = passkey_options(client, alice)
    assert none.status_code == 400
    assert none.json()["code"] == "no_passkeys"
    empty = client.post(f"{REAUTH}/passkey", json={"credential": {}}, headers=alice.headers)
    assert empty.status_code == 422


def test_passkey_reauthentication_options_are_capped_per_client(client, clock, device):
    """As for the sign-in options: a client keeps at most MAX_CHALLENGES_PER_CLIENT
    challenges, asking for more drops its oldest, so the table cannot be filled."""
    alice = make_account(client, "Alice")
    add_passkey(client, alice, device)
    first = passkey_options(client, alice).json()
    for _ in range(passkeys.MAX_CHALLENGES_PER_CLIENT):
        assert passkey_options(client, alice).status_code == 200
    assert scalar(client, select(func.count()).select_from(PasskeyChallenge)) == (
        passkeys.MAX_CHALLENGES_PER_CLIENT
    )
    dropped = send_passkey(client, alice, device.get(first))
    assert dropped.json()["code"] == "passkey_challenge_expired"


def test_failed_passkey_reauthentications_spend_the_login_throttle(client, clock, device):
    alice = make_account(client, "Alice")
    add_passkey(client, alice, device)
    expire_window(clock)
    for _ in range(MAX_FAILURES_PER_EMAIL):
        options = passkey_options(client, alice).json()
        failed = send_passkey(client, alice, device.get(options, user_verified=False))
        assert failed.status_code == 401
    options = passkey_options(client, alice).json()
    assert send_passkey(client, alice, device.get(options)).status_code == 429
    assert login(client, alice.email, STRONG_PASSWORD).status_code == 429
