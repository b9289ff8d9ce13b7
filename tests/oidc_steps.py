"""Steps and checks the API tests of OpenID Connect share (tests/test_oidc_*.py): signing
in and linking through the real provider, and what every refusal must look like (its
page, and no session started)."""

import re
from datetime import UTC, datetime
from html import unescape
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from accounts import sessions
from accounts.oidc import FLOW_COOKIE, SIGNED_IN_COOKIE
from accounts.sessions import REFRESH_COOKIE
from models import OIDCIdentity, SecurityEvent
from tests.helpers import Account, bearer
from tests.oidc_server import sign_in_at_provider

REFRESH = "/api/users/token/refresh"
IDENTITIES = "/api/users/me/identities"
RETRY_LINK = re.compile(r'<a\b[^>]*\bid="oidc-retry"[^>]*>')


def moved_clock(monkeypatch: pytest.MonkeyPatch) -> list[datetime]:
    """The sessions' clock (reauthentication window, TOTP codes), moved by hand; set in
    the middle of a 30-second step so that one step on is one code on."""
    now = datetime.now(UTC)
    now = now.replace(second=15 if now.second < 30 else 45, microsecond=0)
    moved = [now]
    monkeypatch.setattr(sessions, "utcnow", lambda: moved[0])
    return moved


MFA_FORM = re.compile(r'<form id="mfa-form"[^>]*\bdata-mfa-token="([^"]+)" data-next="([^"]*)"')


def code_step(page: httpx.Response) -> tuple[str, str]:
    """The login page's second step a provider's sign-in answered with: its mfa_token
    and where it goes next, as login.js reads them from the page."""
    found = MFA_FORM.search(page.text)
    assert found, page.text[:2000]
    return unescape(found.group(1)), unescape(found.group(2))


def access_token(client: TestClient) -> str:
    """The access token the refresh cookie of a provider's sign-in gives (as auth.js
    asks for it)."""
    answer = client.post(REFRESH)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def signed_in_account(client: TestClient) -> Account:
    """The account the client's refresh cookie signs in, with its access token."""
    token = access_token(client)
    user = client.get("/api/users/me", headers=bearer(token)).json()
    return Account(user["id"], user["username"], user["email"], password="", token=token)


def me(client: TestClient, account: Account) -> dict[str, Any]:
    answer = client.get("/api/users/me", headers=account.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def set_cookies(response: httpx.Response) -> list[str]:
    return response.headers.get_list("set-cookie")


def assert_no_session(client: TestClient, response: httpx.Response) -> None:
    """Nobody was signed in by `response`: no refresh cookie set, and the refresh
    endpoint answers 401 to this client."""
    assert not [c for c in set_cookies(response) if c.startswith(f"{REFRESH_COOKIE}=")]
    assert not [c for c in set_cookies(response) if c.startswith(f"{SIGNED_IN_COOKIE}=")]
    assert client.post(REFRESH).status_code == 401


def assert_flow_cookie_deleted(response: httpx.Response) -> None:
    [flow] = [c for c in set_cookies(response) if c.startswith(f"{FLOW_COOKIE}=")]
    assert flow.startswith(f'{FLOW_COOKIE}=""') or "Max-Age=0" in flow, flow
    assert "Path=/auth/oidc/" in flow


def assert_refusal_page(
    client: TestClient,
    response: httpx.Response,
    status: int,
    code: str,
    *,
    retry: str | None = "/auth/oidc/test/start",
) -> None:
    """The callback's refusal: the page with its status and data-code, a "Try again"
    link for a sign-in (`retry`: where it starts again; None: no such link), never
    cached, the flow cookie spent, and nobody signed in."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert f'id="oidc-error" data-code="{code}"' in response.text or (
        f'data-code="{code}"' in response.text and 'id="oidc-error"' in response.text
    ), response.text
    assert response.headers["cache-control"] == "no-store"
    links = RETRY_LINK.findall(response.text)
    if retry is None:
        assert links == []
    else:
        [link] = links
        assert f'href="{retry}' in link, link
    assert_flow_cookie_deleted(response)
    assert_no_session(client, response)


def link_redirect(client: TestClient, account: Account, login: str) -> httpx.Response:
    """Start linking the provider's `login` to `account` and sign in at the provider:
    its redirect back (not followed)."""
    started = client.post(IDENTITIES, json={"provider": "test"}, headers=account.headers)
    assert started.status_code == 200, started.text
    with httpx.Client() as browser:
        return sign_in_at_provider(browser, started.json()["authorization_url"], login)


def link(client: TestClient, account: Account, login: str) -> httpx.Response:
    """Link the provider's `login` to `account`: the callback's answer."""
    redirect = link_redirect(client, account, login)
    return client.get(redirect.headers["location"], follow_redirects=False)


def identities(client: TestClient, account: Account) -> list[dict[str, Any]]:
    answer = client.get(IDENTITIES, headers=account.headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def rows(client: TestClient, statement: Any) -> list[Any]:
    async def read() -> list[Any]:
        async with client.app_state["sessionmaker"]() as session:
            return list((await session.execute(statement)).all())

    return client.portal.call(read)


def events(client: TestClient, user_id: int, kind: str) -> list[str]:
    """The details of the account's security events of type `kind`, oldest first."""
    query = (
        select(SecurityEvent.detail)
        .where(SecurityEvent.user_id == user_id, SecurityEvent.type == kind)
        .order_by(SecurityEvent.id)
    )
    return [detail for (detail,) in rows(client, query)]


def identity_rows(client: TestClient) -> list[tuple[int, str, str, str]]:
    """Every linked identity: (user id, provider, subject, email)."""
    query = select(
        OIDCIdentity.user_id, OIDCIdentity.provider, OIDCIdentity.subject, OIDCIdentity.email
    ).order_by(OIDCIdentity.id)
    return [tuple(row) for row in rows(client, query)]
