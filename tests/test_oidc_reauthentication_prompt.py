"""Confirming it is you through a provider asks the provider for a fresh sign-in
(`prompt=login`): a session the browser still has at the provider does not answer it
on its own. A sign-in or a link asks no such thing. (The whole way in Chromium:
tests/browser/test_oidc.py, the stale-session test.)"""

from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from tests.helpers import make_account


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_reauthentication_asks_the_provider_to_sign_in_again(oidc_client: TestClient) -> None:
    user = make_account(oidc_client)
    answer = oidc_client.post(
        "/api/users/me/reauthentication/oidc",
        json={"provider": "test", "next": "/account"},
        headers=user.headers,
    )
    assert answer.status_code == 200, answer.text
    assert query(answer.json()["authorization_url"])["prompt"] == ["login"]


def test_a_sign_in_or_a_link_leaves_the_provider_its_session(oidc_client: TestClient) -> None:
    started = oidc_client.get("/auth/oidc/test/start", follow_redirects=False)
    assert started.status_code == 303, started.text
    assert "prompt" not in query(started.headers["location"])
    assert "state" in query(started.headers["location"])  # the URL read is the right one

    user = make_account(oidc_client)
    linking = oidc_client.post(
        "/api/users/me/identities", json={"provider": "test"}, headers=user.headers
    )
    assert linking.status_code == 200, linking.text
    assert "prompt" not in query(linking.json()["authorization_url"])
