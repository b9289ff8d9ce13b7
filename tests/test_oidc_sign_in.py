"""Signing in through the real provider (GET /auth/oidc/test/callback): the account a
verified email makes (its username, its log, its session), the same `sub` signing in
again, every refusal (an email in use, unverified or missing, a suspended account, the
sign-up limit) starting no session, 2FA still asked, and a password set later by mail."""

import asyncio
import itertools
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx
import pytest
from pydantic import AnyHttpUrl
from sqlalchemy import select

from accounts import email_links, identities
from accounts.identities import ProviderAccount
from accounts.oidc import FLOW_COOKIE
from models import OIDCIdentity, User
from tests.helpers import STRONG_PASSWORD, bearer, login, register, run_sql, scalar
from tests.mail_server import Mailbox
from tests.oidc_server import provider_redirect, sign_in_with_provider
from tests.oidc_steps import (
    access_token,
    assert_no_session,
    assert_refusal_page,
    code_step,
    events,
    identity_rows,
    me,
    moved_clock,
    rows,
    signed_in_account,
)
from tests.test_step_up import code_at, turn_on_2fa, wrong_code

pytestmark = pytest.mark.settings(public_url=AnyHttpUrl("https://testserver"))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    return moved_clock(monkeypatch)


NEW_PASSWORD = "Another-Correct-Horse-7"


def made_by_provider(client, login_name: str):
    answer = sign_in_with_provider(client, login_name)
    assert answer.status_code == 303, answer.text
    return signed_in_account(client)


# --- A new account from a verified email ---------------------------------------------


def test_a_new_account_is_verified_passwordless_logged_and_its_session_named(
    oidc_client,
) -> None:
    answer = sign_in_with_provider(oidc_client, "alice", next_path="/posts/1")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/posts/1"
    alice = signed_in_account(oidc_client)
    user = me(oidc_client, alice)
    assert (user["username"], user["email"]) == ("alice", "alice@example.com")
    assert user["email_verified"] is True
    assert user["has_password"] is False
    assert events(oidc_client, alice.id, "sign_in") == ["oidc:test"]
    assert events(oidc_client, alice.id, "identity_linked") == ["test"]
    sessions = oidc_client.get("/api/users/me/sessions", headers=alice.headers).json()
    assert [(s["auth_method"], s["current"]) for s in sessions] == [("oidc:test", True)]
    assert identity_rows(oidc_client) == [(alice.id, "test", "alice", "alice@example.com")]


@pytest.mark.parametrize(
    ("taken", "login_name", "expected"),
    [
        # preferred_username first; taken (whatever its case): the provider's name for
        # the person; both taken: the preferred one numbered.
        ([], "alice", "alice"),
        (["ALICE"], "alice", "Alice Liddell"),
        (["Alice", "alice liddell"], "alice", "alice2"),
        (["Alice", "Alice Liddell", "alice2", "alice3"], "alice", "alice4"),
        # A provider whose names are all the same: numbered at once.
        (["Carol"], "carol", "carol2"),
        # Names that break the username rules (an emoji, too long) are skipped: the
        # email's local part is used.
        ([], "\U0001f600dave/dave", "dave"),
        ([], f"{'e' * 60}/erin", "erin"),
    ],
)
def test_the_username_is_the_providers_made_valid_and_unique(
    oidc_client, taken: list[str], login_name: str, expected: str
) -> None:
    for number, name in enumerate(taken):
        assert register(oidc_client, name, f"taken{number}@example.org").status_code == 201
    account = made_by_provider(oidc_client, login_name)
    assert account.username == expected


# --- The same `sub` again ------------------------------------------------------------


def test_the_same_sub_signs_in_after_its_email_changed_and_the_identity_follows(
    oidc_client,
) -> None:
    first = made_by_provider(oidc_client, "alice")
    oidc_client.cookies.clear()
    answer = sign_in_with_provider(oidc_client, "alice/alice.new")
    assert answer.status_code == 303, answer.text
    again = signed_in_account(oidc_client)
    assert again.id == first.id
    # The account keeps its own email; the identity shows the provider's new one.
    assert again.email == "alice@example.com"
    assert identity_rows(oidc_client) == [(first.id, "test", "alice", "alice.new@example.com")]
    [listed] = oidc_client.get("/api/users/me/identities", headers=again.headers).json()
    assert listed["email"] == "alice.new@example.com"
    assert listed["last_used_at"] is not None
    assert events(oidc_client, first.id, "sign_in") == ["oidc:test", "oidc:test"]
    assert scalar(oidc_client, select(User.id).where(User.email == "alice.new@example.com")) is None


# --- Refusals: nobody signed in, nothing made ----------------------------------------


@pytest.mark.parametrize("stored_email", ["bob@example.com", "BOB@Example.COM"])
def test_an_email_in_use_is_refused_never_merged(oidc_client, stored_email: str) -> None:
    assert register(oidc_client, "Bob", stored_email).status_code == 201
    answer = sign_in_with_provider(oidc_client, "bob")
    assert_refusal_page(oidc_client, answer, 409, "oidc_email_in_use")
    assert "link" in answer.text
    assert identity_rows(oidc_client) == []
    assert scalar(oidc_client, select(User.id).where(User.username == "bob")) is None


@pytest.mark.parametrize(
    ("login_name", "code"),
    [("unverified-carol", "oidc_email_unverified"), ("noemail-dan", "oidc_email_missing")],
)
def test_no_account_without_a_verified_email(oidc_client, login_name: str, code: str) -> None:
    answer = sign_in_with_provider(oidc_client, login_name)
    assert_refusal_page(oidc_client, answer, 400, code)
    assert identity_rows(oidc_client) == []
    assert rows(oidc_client, select(User.id)) == []


def test_an_unverified_email_is_refused_even_when_no_account_has_it_yet_then_verified_works(
    oidc_client,
) -> None:
    refused = sign_in_with_provider(oidc_client, "unverified-erin")
    assert_refusal_page(oidc_client, refused, 400, "oidc_email_unverified")
    # The person is not stuck: another provider account, verified, works.
    assert made_by_provider(oidc_client, "erin").username == "erin"


def test_a_suspended_account_stays_out(oidc_client) -> None:
    alice = made_by_provider(oidc_client, "alice")
    run_sql(
        oidc_client, "UPDATE users SET suspended_at = CURRENT_TIMESTAMP WHERE id = :id", id=alice.id
    )
    oidc_client.cookies.clear()
    answer = sign_in_with_provider(oidc_client, "alice")
    assert_refusal_page(oidc_client, answer, 403, "account_suspended")
    assert events(oidc_client, alice.id, "sign_in") == ["oidc:test"]


@pytest.mark.settings(signups_per_hour=1)
def test_the_sign_up_limit_applies_to_accounts_the_provider_makes(oidc_client) -> None:
    made_by_provider(oidc_client, "alice")
    oidc_client.cookies.clear()
    answer = sign_in_with_provider(oidc_client, "bob")
    assert_refusal_page(oidc_client, answer, 429, "sign_up_limit")
    assert [name for (name,) in rows(oidc_client, select(User.username))] == ["alice"]
    # A linked identity is no sign-up: it still signs in.
    oidc_client.cookies.clear()
    assert sign_in_with_provider(oidc_client, "alice").status_code == 303


# --- 2FA: still asked ------------------------------------------------------------------


def test_an_account_with_2fa_is_asked_its_code_after_the_provider(oidc_client, clock) -> None:
    frank = made_by_provider(oidc_client, "frank")
    secret, _ = turn_on_2fa(oidc_client, frank)
    oidc_client.cookies.clear()

    answer = sign_in_with_provider(oidc_client, "frank", next_path="/drafts")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    assert_no_session(oidc_client, answer)
    token, next_path = code_step(answer)
    assert 'id="mfa-provider-note">Test ID has confirmed who you are.' in answer.text
    assert next_path == "/drafts"
    assert token not in str(answer.url)

    wrong = oidc_client.post(
        "/api/users/token/mfa", json={"mfa_token": token, "code": wrong_code(secret, clock)}
    )
    assert wrong.status_code == 401, wrong.text
    assert wrong.json()["code"] == "mfa_code_invalid"
    assert_no_session(oidc_client, wrong)

    right = oidc_client.post(
        "/api/users/token/mfa", json={"mfa_token": token, "code": code_at(secret, clock)}
    )
    assert right.status_code == 200, right.text
    headers = bearer(right.json()["access_token"])
    listed = oidc_client.get("/api/users/me/sessions", headers=headers).json()
    # The first sign-in's session (before 2FA), and this one.
    assert sorted((s["auth_method"], s["current"]) for s in listed) == [
        ("oidc:test", False),
        ("oidc:test+totp", True),
    ]
    assert events(oidc_client, frank.id, "sign_in") == ["oidc:test", "oidc:test+totp"]
    assert access_token(oidc_client)  # the refresh cookie works too


def test_a_recovery_code_finishes_a_provider_sign_in_too(oidc_client) -> None:
    frank = made_by_provider(oidc_client, "frank")
    _, recovery_codes = turn_on_2fa(oidc_client, frank)
    oidc_client.cookies.clear()
    answer = sign_in_with_provider(oidc_client, "frank")
    assert answer.status_code == 200, answer.text
    token, _ = code_step(answer)
    done = oidc_client.post(
        "/api/users/token/mfa", json={"mfa_token": token, "code": recovery_codes[0]}
    )
    assert done.status_code == 200, done.text
    assert events(oidc_client, frank.id, "sign_in")[-1] == "oidc:test+recovery_code"


# --- A password later, by mail -----------------------------------------------------------


def test_a_provider_made_account_sets_a_password_through_the_reset_mail(
    oidc_client, mailbox: Mailbox, monkeypatch
) -> None:
    monkeypatch.setattr(email_links, "RESET_DELAY_SECONDS", (0.0, 0.0))
    grace = made_by_provider(oidc_client, "grace")
    oidc_client.cookies.clear()
    ordinary = register(oidc_client, "Heidi", "heidi@example.com")
    assert ordinary.status_code == 201

    # No password yet: a password login answers exactly as a wrong password does.
    passwordless = login(oidc_client, grace.email, STRONG_PASSWORD)
    wrong = login(oidc_client, "heidi@example.com", "not-her-password-at-all")
    assert passwordless.status_code == wrong.status_code == 401
    assert passwordless.json() == wrong.json()
    assert login(oidc_client, grace.email, "").status_code in (401, 422)

    asked = oidc_client.post("/api/users/password-reset", json={"email": grace.email})
    assert asked.status_code == 202, asked.text
    [mail] = [m for m in mailbox.wait_for(grace.email, 1) if "/reset-password" in m.text]
    confirm = {"token": mail.token("/reset-password"), "new_password": NEW_PASSWORD}
    assert oidc_client.post("/api/users/password-reset/confirm", json=confirm).status_code == 204

    fresh = login(oidc_client, grace.email, NEW_PASSWORD)
    assert fresh.status_code == 200, fresh.text
    with_password = oidc_client.get("/api/users/me", headers=bearer(fresh.json()["access_token"]))
    assert with_password.json()["has_password"] is True
    # The provider still signs it in too.
    oidc_client.cookies.clear()
    assert sign_in_with_provider(oidc_client, "grace").status_code == 303
    assert signed_in_account(oidc_client).id == grace.id
    assert scalar(oidc_client, select(OIDCIdentity.user_id)) == grace.id


def test_the_generic_name_only_when_the_provider_gives_no_valid_one() -> None:
    def names(preferred: str, name: str, email: str) -> list[str]:
        account = ProviderAccount("test", "sub", email, True, preferred, name)
        return list(identities._base_names(account))

    assert names("\U0001f600", "\u200b", "\U0001f600@example.com") == [identities.FALLBACK_NAME]
    assert names("", "", "") == [identities.FALLBACK_NAME]
    assert names("\U0001f600", "Zoe Q", "z@example.com") == ["Zoe Q", "z"]


# --- At once -----------------------------------------------------------------------------


def test_first_sign_ins_of_the_same_person_at_once_make_one_account(
    oidc_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Browsers come back from the provider for the same new `sub` at the same time:
    one account is made, and every one signs in to it. The race made wide: every
    callback but the first waits after finding no identity, so the first's account
    (and its identity) is committed before they look for the email, which they then
    find in use: they must look for the identity again, not refuse."""
    real_identity = identities._identity
    looks = itertools.count()

    async def slow_identity(db, provider, subject):
        found = await real_identity(db, provider, subject)
        if found is None and next(looks) > 0:
            await asyncio.sleep(0.5)
        return found

    monkeypatch.setattr(identities, "_identity", slow_identity)
    answers = []
    for _ in range(3):
        redirect = provider_redirect(oidc_client, "alice")
        flow = oidc_client.cookies.get(FLOW_COOKIE, path="/auth/oidc/")
        answers.append((redirect.headers["location"], flow))
        oidc_client.cookies.clear()

    def come_back(answer: tuple[str, str]) -> httpx.Response:
        location, flow = answer
        return oidc_client.get(
            location, headers={"Cookie": f"{FLOW_COOKIE}={flow}"}, follow_redirects=False
        )

    with ThreadPoolExecutor(max_workers=len(answers)) as pool:
        responses = list(pool.map(come_back, answers))
    oidc_client.cookies.clear()
    assert [r.status_code for r in responses] == [303] * len(answers), [
        r.text[-3000:] for r in responses if r.status_code != 303
    ]
    assert [name for (name,) in rows(oidc_client, select(User.username))] == ["alice"]
    assert len(identity_rows(oidc_client)) == 1
