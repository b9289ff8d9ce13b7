"""Linking a provider to a signed-in account, unlinking it (the last-method rule), and
reauthenticating through it, against the real provider: each needs the right session,
is logged and mailed, and a refusal changes nothing and signs nobody in."""

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import AnyHttpUrl

from accounts import rate_limits
from accounts.oidc import FLOW_COOKIE
from config import get_settings
from tests.databases import TEST_DATABASE_URL
from tests.helpers import Account, make_account, run_sql
from tests.mail_server import Mailbox
from tests.oidc_server import (
    OIDCProvider,
    configured,
    sign_in_at_provider,
    sign_in_with_provider,
)
from tests.oidc_steps import (
    IDENTITIES,
    assert_no_session,
    assert_refusal_page,
    events,
    identities,
    identity_rows,
    link,
    link_redirect,
    moved_clock,
    signed_in_account,
)
from tests.test_step_up import code_at, turn_on_2fa, wrong_code

ORIGIN = "https://testserver"
pytestmark = pytest.mark.settings(public_url=AnyHttpUrl(ORIGIN))


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    return moved_clock(monkeypatch)


LINKED = "Test ID can now sign in to your account"
UNLINKED = "Test ID no longer signs in to your account"
REAUTH_OIDC = "/api/users/me/reauthentication/oidc"


def password_account(client: TestClient, username: str, email: str | None = None) -> Account:
    """An account with a password, signed in through the API (its bearer token only: the
    client keeps no refresh cookie, so "no session" can be asked of it)."""
    account = make_account(client, username, email)
    client.cookies.clear()
    return account


def subjects(mailbox: Mailbox, address: str) -> list[str]:
    return [mail.message["Subject"] for mail in mailbox.to(address)]


def expire_window(clock) -> None:
    clock[0] += timedelta(minutes=get_settings().reauth_window_minutes, seconds=1)


def assert_reauthentication_required(answer: httpx.Response) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.json()["code"] == "reauthentication_required"


def unlink(client: TestClient, account: Account, identity_id: int) -> httpx.Response:
    return client.delete(f"{IDENTITIES}/{identity_id}", headers=account.headers)


# --- Linking -------------------------------------------------------------------------


def test_linking_is_logged_mailed_and_then_signs_in(oidc_client, mailbox: Mailbox) -> None:
    dora = password_account(oidc_client, "Dora", "dora@example.org")
    answer = link(oidc_client, dora, "dora-at-provider")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/account#sign-in-methods"
    assert answer.headers["cache-control"] == "no-store"
    assert_no_session(oidc_client, answer)  # linking signs nobody in
    [listed] = identities(oidc_client, dora)
    assert (listed["provider"], listed["subject"]) == ("test", "dora-at-provider")
    assert events(oidc_client, dora.id, "identity_linked") == ["test"]
    mailbox.wait_for(dora.email, 2)
    assert LINKED in subjects(mailbox, dora.email)

    signed_in = sign_in_with_provider(oidc_client, "dora-at-provider")
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in_account(oidc_client).id == dora.id
    assert events(oidc_client, dora.id, "sign_in")[-1] == "oidc:test"


def test_linking_needs_recent_authentication(oidc_client, clock) -> None:
    dora = password_account(oidc_client, "Dora")
    expire_window(clock)
    answer = oidc_client.post(IDENTITIES, json={"provider": "test"}, headers=dora.headers)
    assert_reauthentication_required(answer)
    assert "set-cookie" not in answer.headers
    assert identities(oidc_client, dora) == []


def test_linking_an_unknown_provider_is_404(oidc_client) -> None:
    dora = password_account(oidc_client, "Dora")
    answer = oidc_client.post(IDENTITIES, json={"provider": "nope"}, headers=dora.headers)
    assert answer.status_code == 404, answer.text
    assert answer.json()["code"] == "oidc_provider_unknown"


def test_an_identity_of_another_account_is_not_linked(oidc_client, mailbox: Mailbox) -> None:
    sign_in_with_provider(oidc_client, "alice")
    alice = signed_in_account(oidc_client)
    oidc_client.cookies.clear()
    dora = password_account(oidc_client, "Dora")
    before = identity_rows(oidc_client)

    answer = link(oidc_client, dora, "alice")
    assert_refusal_page(oidc_client, answer, 409, "oidc_identity_taken", retry=None)
    assert 'href="/account#sign-in-methods"' in answer.text
    assert (
        identity_rows(oidc_client) == before == [(alice.id, "test", "alice", "alice@example.com")]
    )
    assert events(oidc_client, dora.id, "identity_linked") == []
    mailbox.wait_for(dora.email, 1)
    assert LINKED not in subjects(mailbox, dora.email)


def test_a_second_account_of_the_same_provider_is_refused(oidc_client) -> None:
    dora = password_account(oidc_client, "Dora")
    assert link(oidc_client, dora, "dora-one").status_code == 303
    answer = link(oidc_client, dora, "dora-two")
    assert_refusal_page(oidc_client, answer, 409, "oidc_provider_already_linked", retry=None)
    assert [i["subject"] for i in identities(oidc_client, dora)] == ["dora-one"]
    assert events(oidc_client, dora.id, "identity_linked") == ["test"]


@pytest.mark.skipif(
    not TEST_DATABASE_URL,
    reason="PostgreSQL's concurrent transactions: SQLite's writers never interleave in a process",
)
def test_two_accounts_of_one_provider_linked_at_once_make_one_link(
    oidc_client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two links of one account, to two accounts at one provider, come back at once:
    both pass the check in code (the rate limit, the first write after it, waits), and
    the database's unique key (an account, a provider) lets one in and refuses the
    other plainly."""
    dora = password_account(oidc_client, "Dora")
    real_spend = rate_limits.spend

    async def slow_spend(db, limits, **options):
        await asyncio.sleep(0.5)
        await real_spend(db, limits, **options)

    monkeypatch.setattr(rate_limits, "spend", slow_spend)
    answers = []
    for login in ("dora-one", "dora-two"):
        redirect = link_redirect(oidc_client, dora, login)
        flow = oidc_client.cookies.get(FLOW_COOKIE, path="/auth/oidc/")
        answers.append((redirect.headers["location"], flow))
        oidc_client.cookies.clear()

    def come_back(answer: tuple[str, str]) -> httpx.Response:
        location, flow = answer
        return oidc_client.get(
            location, headers={"Cookie": f"{FLOW_COOKIE}={flow}"}, follow_redirects=False
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        responses = list(pool.map(come_back, answers))
    oidc_client.cookies.clear()
    assert sorted(r.status_code for r in responses) == [303, 409], [r.text for r in responses]
    [refused] = [r for r in responses if r.status_code == 409]
    assert 'data-code="oidc_provider_already_linked"' in refused.text
    assert len(identities(oidc_client, dora)) == 1
    assert events(oidc_client, dora.id, "identity_linked") == ["test"]


def test_the_same_identity_linked_again_changes_nothing(oidc_client, mailbox: Mailbox) -> None:
    dora = password_account(oidc_client, "Dora")
    assert link(oidc_client, dora, "dora-one").status_code == 303
    again = link(oidc_client, dora, "dora-one")
    assert again.status_code == 303, again.text
    assert [i["subject"] for i in identities(oidc_client, dora)] == ["dora-one"]
    assert events(oidc_client, dora.id, "identity_linked") == ["test"]
    mailbox.wait_for(dora.email, 2)
    assert subjects(mailbox, dora.email).count(LINKED) == 1


def test_a_session_logged_out_before_the_callback_links_nothing(oidc_client) -> None:
    dora = password_account(oidc_client, "Dora")
    redirect = link_redirect(oidc_client, dora, "dora-one")
    logged_out = oidc_client.post("/api/users/logout", headers=dora.headers | {"Origin": ORIGIN})
    assert logged_out.status_code == 204, logged_out.text
    answer = oidc_client.get(redirect.headers["location"], follow_redirects=False)
    assert_refusal_page(oidc_client, answer, 401, "oidc_session_ended", retry=None)
    assert identity_rows(oidc_client) == []


def test_a_link_flow_is_for_the_browser_that_started_it(oidc_client) -> None:
    dora = password_account(oidc_client, "Dora")
    redirect = link_redirect(oidc_client, dora, "dora-one")
    oidc_client.cookies.clear()  # the provider's answer lands in another browser
    answer = oidc_client.get(redirect.headers["location"], follow_redirects=False)
    assert_refusal_page(oidc_client, answer, 400, "oidc_state_invalid")
    assert identity_rows(oidc_client) == []


# --- Unlinking -----------------------------------------------------------------------


def test_unlinking_is_logged_mailed_and_it_signs_in_no_more(oidc_client, mailbox: Mailbox) -> None:
    # The provider account has the account's own email.
    ivan = password_account(oidc_client, "Ivan", "ivan@example.com")
    assert link(oidc_client, ivan, "ivan").status_code == 303
    [identity] = identities(oidc_client, ivan)
    answer = unlink(oidc_client, ivan, identity["id"])
    assert answer.status_code == 204, answer.text
    assert identities(oidc_client, ivan) == []
    assert events(oidc_client, ivan.id, "identity_unlinked") == ["test"]
    mailbox.wait_for(ivan.email, 3)
    assert UNLINKED in subjects(mailbox, ivan.email)
    # No longer a way in, and no new account from the email it shares: refused.
    refused = sign_in_with_provider(oidc_client, "ivan")
    assert_refusal_page(oidc_client, refused, 409, "oidc_email_in_use")
    assert identity_rows(oidc_client) == []


def test_the_last_way_to_sign_in_is_not_unlinked(oidc_client) -> None:
    sign_in_with_provider(oidc_client, "erin")
    erin = signed_in_account(oidc_client)
    [identity] = identities(oidc_client, erin)
    answer = unlink(oidc_client, erin, identity["id"])
    assert answer.status_code == 409, answer.text
    assert answer.json()["code"] == "identity_last_method"
    assert [i["id"] for i in identities(oidc_client, erin)] == [identity["id"]]
    assert events(oidc_client, erin.id, "identity_unlinked") == []


def test_with_a_password_the_provider_can_be_unlinked(oidc_client) -> None:
    dora = password_account(oidc_client, "Dora")
    assert link(oidc_client, dora, "dora-one").status_code == 303
    [identity] = identities(oidc_client, dora)
    assert unlink(oidc_client, dora, identity["id"]).status_code == 204


def add_identity(client: TestClient, user_id: int, provider: str, subject: str) -> None:
    run_sql(
        client,
        "INSERT INTO oidc_identities (user_id, provider, subject, email, created_at) "
        "VALUES (:user_id, :provider, :subject, '', CURRENT_TIMESTAMP)",
        user_id=user_id,
        provider=provider,
        subject=subject,
    )


def test_an_identity_of_a_provider_no_longer_configured_is_no_other_way(oidc_client) -> None:
    sign_in_with_provider(oidc_client, "erin")
    erin = signed_in_account(oidc_client)
    add_identity(oidc_client, erin.id, "gone", "erin-there")
    [identity, _gone] = identities(oidc_client, erin)
    answer = unlink(oidc_client, erin, identity["id"])
    assert answer.status_code == 409, answer.text
    assert answer.json()["code"] == "identity_last_method"
    assert len(identities(oidc_client, erin)) == 2


def test_another_configured_provider_linked_is_another_way(
    make_app, mailbox, oidc_provider: OIDCProvider
) -> None:
    providers = [configured(oidc_provider, label="Test ID"), configured(oidc_provider, "other")]
    with TestClient(make_app(oidc_clients=providers), base_url=ORIGIN) as client:
        sign_in_with_provider(client, "erin")
        erin = signed_in_account(client)
        add_identity(client, erin.id, "other", "erin-there")
        [identity, other] = identities(client, erin)
        assert unlink(client, erin, identity["id"]).status_code == 204
        # Now "other" is the last way.
        answer = unlink(client, erin, other["id"])
        assert answer.status_code == 409, answer.text
        assert answer.json()["code"] == "identity_last_method"


def test_unlinking_another_accounts_identity_or_an_unknown_one_is_404(oidc_client) -> None:
    sign_in_with_provider(oidc_client, "alice")
    alice = signed_in_account(oidc_client)
    [alices] = identities(oidc_client, alice)
    oidc_client.cookies.clear()
    dora = password_account(oidc_client, "Dora")
    for identity_id in (alices["id"], alices["id"] + 1000):
        answer = unlink(oidc_client, dora, identity_id)
        assert answer.status_code == 404, answer.text
        assert answer.json()["code"] == "identity_not_found"
    assert identities(oidc_client, alice) == [alices]


def test_unlinking_needs_recent_authentication(oidc_client, clock) -> None:
    dora = password_account(oidc_client, "Dora")
    assert link(oidc_client, dora, "dora-one").status_code == 303
    [identity] = identities(oidc_client, dora)
    expire_window(clock)
    assert_reauthentication_required(unlink(oidc_client, dora, identity["id"]))
    assert identities(oidc_client, dora) == [identity]


# --- Reauthenticating through the provider ------------------------------------------


def start_reauthentication(
    client: TestClient, account: Account, code: str | None = None
) -> httpx.Response:
    body = {"provider": "test", "next": "/account"} | ({"code": code} if code else {})
    return client.post(REAUTH_OIDC, json=body, headers=account.headers)


def reauthenticate(
    client: TestClient, account: Account, login: str, code: str | None = None
) -> httpx.Response:
    started = start_reauthentication(client, account, code)
    assert started.status_code == 200, started.text
    with httpx.Client() as browser:
        redirect = sign_in_at_provider(browser, started.json()["authorization_url"], login)
    return client.get(redirect.headers["location"], follow_redirects=False)


def recent_action(client: TestClient, account: Account) -> httpx.Response:
    """Something that needs recent authentication and changes nothing by itself:
    starting to link (it only hands out the provider's address)."""
    return client.post(IDENTITIES, json={"provider": "test"}, headers=account.headers)


def test_reauthenticating_through_the_linked_provider(oidc_client, clock) -> None:
    dora = password_account(oidc_client, "Dora")
    assert link(oidc_client, dora, "dora-one").status_code == 303
    expire_window(clock)
    assert_reauthentication_required(recent_action(oidc_client, dora))

    answer = reauthenticate(oidc_client, dora, "dora-one")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/account"
    assert_no_session(oidc_client, answer)  # the same session, no new one
    assert recent_action(oidc_client, dora).status_code == 200
    assert events(oidc_client, dora.id, "reauthenticated") == ["oidc:test"]


def test_reauthenticating_through_an_unlinked_provider_account_is_refused(
    oidc_client, clock
) -> None:
    dora = password_account(oidc_client, "Dora")
    assert link(oidc_client, dora, "dora-one").status_code == 303
    expire_window(clock)
    answer = reauthenticate(oidc_client, dora, "somebody-else")
    assert_refusal_page(oidc_client, answer, 403, "oidc_identity_not_linked", retry=None)
    assert_reauthentication_required(recent_action(oidc_client, dora))
    assert events(oidc_client, dora.id, "reauthenticated") == []


def test_with_2fa_the_code_comes_first_then_the_provider(oidc_client, clock) -> None:
    dora = password_account(oidc_client, "Dora")
    assert link(oidc_client, dora, "dora-one").status_code == 303
    secret, _ = turn_on_2fa(oidc_client, dora)
    expire_window(clock)

    missing = start_reauthentication(oidc_client, dora)
    assert missing.status_code == 400, missing.text
    assert missing.json()["code"] == "mfa_code_required"
    assert "set-cookie" not in missing.headers

    wrong = start_reauthentication(oidc_client, dora, wrong_code(secret, clock))
    assert wrong.status_code == 400, wrong.text
    assert wrong.json()["code"] == "reauthentication_failed"
    assert "set-cookie" not in wrong.headers
    assert events(oidc_client, dora.id, "sign_in_failed") == ["reauthentication"]
    assert_reauthentication_required(recent_action(oidc_client, dora))

    answer = reauthenticate(oidc_client, dora, "dora-one", code_at(secret, clock))
    assert answer.status_code == 303, answer.text
    assert recent_action(oidc_client, dora).status_code == 200
    assert events(oidc_client, dora.id, "reauthenticated") == ["oidc:test+totp"]


def test_with_2fa_the_provider_alone_confirms_nothing(oidc_client, clock) -> None:
    """A flow started before 2FA was turned on carries no code: its answer is refused."""
    dora = password_account(oidc_client, "Dora")
    assert link(oidc_client, dora, "dora-one").status_code == 303
    expire_window(clock)
    started = start_reauthentication(oidc_client, dora)
    assert started.status_code == 200, started.text
    turn_on_2fa(oidc_client, dora)
    with httpx.Client() as browser:
        redirect = sign_in_at_provider(browser, started.json()["authorization_url"], "dora-one")
    answer = oidc_client.get(redirect.headers["location"], follow_redirects=False)
    assert_refusal_page(oidc_client, answer, 403, "oidc_reauthentication_needs_code", retry=None)
    assert_reauthentication_required(recent_action(oidc_client, dora))
    assert events(oidc_client, dora.id, "reauthenticated") == []


def test_a_recovery_code_can_come_first_and_is_spent(oidc_client, clock, mailbox) -> None:
    dora = password_account(oidc_client, "Dora", "dora@example.org")
    assert link(oidc_client, dora, "dora-one").status_code == 303
    _, recovery_codes = turn_on_2fa(oidc_client, dora)
    expire_window(clock)
    answer = reauthenticate(oidc_client, dora, "dora-one", recovery_codes[0])
    assert answer.status_code == 303, answer.text
    assert events(oidc_client, dora.id, "reauthenticated") == ["oidc:test+recovery_code"]
    assert events(oidc_client, dora.id, "recovery_code_used") == ["9"]
    again = start_reauthentication(oidc_client, dora, recovery_codes[0])
    assert again.status_code == 400, again.text
    assert again.json()["code"] == "reauthentication_failed"


def test_reauthentication_needs_a_session(oidc_client) -> None:
    answer = oidc_client.post(REAUTH_OIDC, json={"provider": "test"})
    assert answer.status_code == 401, answer.text
    assert "set-cookie" not in answer.headers


def test_cancelling_a_link_at_the_provider_links_nothing(oidc_client) -> None:
    dora = password_account(oidc_client, "Dora")
    started = oidc_client.post(IDENTITIES, json={"provider": "test"}, headers=dora.headers)
    state = parse_qs(urlsplit(started.json()["authorization_url"]).query)["state"][0]
    answer = oidc_client.get(
        "/auth/oidc/test/callback",
        params={"error": "access_denied", "state": state},
        follow_redirects=False,
    )
    assert_refusal_page(oidc_client, answer, 400, "oidc_access_denied", retry=None)
    assert 'href="/account#sign-in-methods"' in answer.text
    assert identities(oidc_client, dora) == []


def test_a_suspended_account_links_nothing(oidc_client) -> None:
    dora = password_account(oidc_client, "Dora")
    redirect = link_redirect(oidc_client, dora, "dora-one")
    run_sql(
        oidc_client, "UPDATE users SET suspended_at = CURRENT_TIMESTAMP WHERE id = :id", id=dora.id
    )
    answer = oidc_client.get(redirect.headers["location"], follow_redirects=False)
    assert_refusal_page(oidc_client, answer, 401, "oidc_session_ended", retry=None)
    assert identity_rows(oidc_client) == []
