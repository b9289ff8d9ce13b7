"""GET /auth/oidc/{name}/callback against the real provider: who is signed in, made,
or refused, and that a refusal never starts a session."""

import httpx
from fastapi.testclient import TestClient

from accounts.oidc import FLOW_COOKIE, SIGNED_IN_COOKIE
from tests.helpers import Account, make_account
from tests.oidc_server import (
    callback_query,
    provider_redirect,
    sign_in_at_provider,
    sign_in_with_provider,
)

REFRESH = "/api/users/token/refresh"


def access_token(client: TestClient) -> str:
    answer = client.post(REFRESH)
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def me(client: TestClient) -> dict:
    answer = client.get(
        "/api/users/me", headers={"Authorization": f"Bearer {access_token(client)}"}
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_verified_email_makes_an_account_and_signs_it_in(oidc_client: TestClient) -> None:
    answer = sign_in_with_provider(oidc_client, "alice", next_path="/posts/1")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/posts/1"
    assert answer.headers["cache-control"] == "no-store"
    assert SIGNED_IN_COOKIE in answer.headers.get("set-cookie", "")
    user = me(oidc_client)
    assert user["username"] == "alice"
    assert user["email"] == "alice@example.com"
    assert user["email_verified"] is True


def test_the_same_sub_signs_in_again_after_the_email_changed(oidc_client: TestClient) -> None:
    sign_in_with_provider(oidc_client, "alice")
    first = me(oidc_client)
    oidc_client.cookies.clear()
    answer = sign_in_with_provider(oidc_client, "alice/alice.new")
    assert answer.status_code == 303, answer.text
    assert me(oidc_client)["id"] == first["id"]


def test_an_email_with_an_account_is_refused(oidc_client: TestClient) -> None:
    created = oidc_client.post(
        "/api/users",
        json={"username": "Bob", "email": "bob@example.com", "password": "a long passphrase 1"},
    )
    assert created.status_code == 201, created.text
    answer = sign_in_with_provider(oidc_client, "bob")
    assert answer.status_code == 409
    assert 'data-code="oidc_email_in_use"' in answer.text
    assert "set-cookie" not in answer.headers or "refresh" not in answer.headers["set-cookie"]
    assert oidc_client.post(REFRESH).status_code == 401


def test_an_unverified_email_makes_no_account(oidc_client: TestClient) -> None:
    answer = sign_in_with_provider(oidc_client, "unverified-carol")
    assert answer.status_code == 400
    assert 'data-code="oidc_email_unverified"' in answer.text
    assert oidc_client.post(REFRESH).status_code == 401


def test_a_wrong_state_is_refused_and_the_flow_spent(oidc_client: TestClient) -> None:
    redirect = provider_redirect(oidc_client, "alice")
    query = callback_query(redirect)
    answer = oidc_client.get(
        "/auth/oidc/test/callback",
        params={"code": query["code"], "state": query["state"] + "x"},
        follow_redirects=False,
    )
    assert answer.status_code == 400
    assert 'data-code="oidc_state_invalid"' in answer.text
    assert FLOW_COOKIE in answer.headers["set-cookie"]  # deleted
    again = oidc_client.get(redirect.headers["location"], follow_redirects=False)
    assert again.status_code == 400
    assert 'data-code="oidc_state_invalid"' in again.text
    assert oidc_client.post(REFRESH).status_code == 401


def link(client: TestClient, account: Account, login: str) -> httpx.Response:
    """Link the provider account `login` to `account` from its session: the callback's
    answer."""
    started = client.post(
        "/api/users/me/identities", json={"provider": "test"}, headers=account.headers
    )
    assert started.status_code == 200, started.text
    with httpx.Client() as browser:
        redirect = sign_in_at_provider(browser, started.json()["authorization_url"], login)
    return client.get(redirect.headers["location"], follow_redirects=False)


def test_linking_then_signing_in_by_the_provider(oidc_client: TestClient, mailbox) -> None:
    dora = make_account(oidc_client, "Dora", "dora@example.org")
    answer = link(oidc_client, dora, "dora-at-provider")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/account#sign-in-methods"
    listed = oidc_client.get("/api/users/me/identities", headers=dora.headers).json()
    assert [(i["provider"], i["subject"], i["email"]) for i in listed] == [
        ("test", "dora-at-provider", "dora-at-provider@example.com")
    ]
    oidc_client.cookies.clear()
    signed_in = sign_in_with_provider(oidc_client, "dora-at-provider")
    assert signed_in.status_code == 303, signed_in.text
    assert me(oidc_client)["id"] == dora.id


def test_the_last_way_to_sign_in_cannot_be_unlinked(oidc_client: TestClient) -> None:
    sign_in_with_provider(oidc_client, "erin")
    headers = {"Authorization": f"Bearer {access_token(oidc_client)}"}
    [identity] = oidc_client.get("/api/users/me/identities", headers=headers).json()
    answer = oidc_client.delete(f"/api/users/me/identities/{identity['id']}", headers=headers)
    assert answer.status_code == 409, answer.text
    assert answer.json()["code"] == "identity_last_method"
