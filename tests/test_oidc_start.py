"""GET /auth/oidc/{name}/start: the way to a provider's sign-in (the authorization code
flow with PKCE, a fresh `state` and `nonce` bound to this browser by a sealed,
short-lived cookie), against the real provider up to its login form."""

import base64
import hashlib
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from accounts.oidc import (
    FLOW_COOKIE,
    FLOW_SECONDS,
    FlowPurpose,
    SignInFlow,
    safe_next,
    seal_flow,
    unseal_flow,
)
from tests.oidc_server import OIDCProvider, follow_provider, provider_form

START = "/auth/oidc/test/start"


def start(client: TestClient, **query: str) -> tuple[httpx.Response, dict[str, list[str]]]:
    answer = client.get(START, params=query, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    return answer, parse_qs(urlsplit(answer.headers["location"]).query)


def flow_cookie(answer: httpx.Response) -> tuple[SignInFlow, SimpleCookie]:
    cookie: SimpleCookie = SimpleCookie()
    for header in answer.headers.get_list("set-cookie"):
        cookie.load(header)
    assert FLOW_COOKIE in cookie
    flow = unseal_flow(cookie[FLOW_COOKIE].value)
    assert flow is not None
    return flow, cookie


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_start_redirects_to_the_provider(
    oidc_client: TestClient, oidc_provider: OIDCProvider
) -> None:
    answer, query = start(oidc_client, next="/posts/1?tab=comments")
    location = answer.headers["location"]
    assert location.startswith(f"{oidc_provider.issuer}/auth?")
    assert answer.headers["cache-control"] == "no-store"
    assert query["response_type"] == ["code"]
    assert query["client_id"] == [oidc_provider.client_id]
    assert query["redirect_uri"] == ["https://testserver/auth/oidc/test/callback"]
    assert query["scope"] == ["openid email profile"]
    assert query["code_challenge_method"] == ["S256"]
    assert "client_secret" not in location
    assert oidc_provider.client_secret not in location

    flow, cookie = flow_cookie(answer)
    assert flow.provider == "test"
    assert query["state"] == [flow.state]
    assert query["nonce"] == [flow.nonce]
    assert query["code_challenge"] == [s256(flow.code_verifier)]
    assert flow.code_verifier not in location
    assert flow.next == "/posts/1?tab=comments"
    assert len(flow.state) >= 43
    assert len(flow.nonce) >= 43

    morsel = cookie[FLOW_COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "lax"
    assert morsel["secure"] is True
    assert morsel["path"] == "/auth/oidc/"
    assert morsel["max-age"] == str(FLOW_SECONDS)
    # Sealed: nothing of the flow can be read in the cookie itself.
    for secret in (flow.state, flow.nonce, flow.code_verifier, flow.next):
        assert secret not in morsel.value


def test_every_start_is_new(oidc_client: TestClient) -> None:
    first, _ = flow_cookie(start(oidc_client)[0])
    second, _ = flow_cookie(start(oidc_client)[0])
    assert first.state != second.state
    assert first.nonce != second.nonce
    assert first.code_verifier != second.code_verifier


def test_start_reaches_the_providers_login_form(oidc_client: TestClient) -> None:
    answer, _ = start(oidc_client)
    with httpx.Client() as browser:
        page = follow_provider(browser, browser.get(answer.headers["location"]))
    assert page.status_code == 200
    _action, fields = provider_form(page)
    assert fields["prompt"] == "login"
    assert 'name="login"' in page.text
    assert 'name="password"' in page.text


@pytest.mark.parametrize(
    "unsafe",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "/\n/evil.example",
        "javascript:alert(1)",
        "posts/1",
        "",
        "/" + "a" * 1000,
    ],
)
def test_next_is_only_a_path_of_this_site(oidc_client: TestClient, unsafe: str) -> None:
    flow, _ = flow_cookie(start(oidc_client, next=unsafe)[0])
    assert flow.next == "/"


def test_no_next_is_home(oidc_client: TestClient) -> None:
    flow, _ = flow_cookie(start(oidc_client)[0])
    assert flow.next == "/"


def test_safe_next_keeps_paths_of_this_site() -> None:
    for path in ("/", "/posts/1", "/account?tab=security#passkeys", "/@alice"):
        assert safe_next(path) == path


@pytest.mark.parametrize("name", ["nobody", "TEST", "google", "test-"])
def test_an_unknown_provider_is_not_found(oidc_client: TestClient, name: str) -> None:
    answer = oidc_client.get(f"/auth/oidc/{name}/start", follow_redirects=False)
    assert answer.status_code == 404
    assert "There is no such way to sign in." in answer.text
    assert FLOW_COOKIE not in answer.headers.get("set-cookie", "")


def test_none_configured_is_not_found(client: TestClient) -> None:
    answer = client.get(START, follow_redirects=False)
    assert answer.status_code == 404
    assert FLOW_COOKIE not in answer.headers.get("set-cookie", "")


def test_a_forged_or_foreign_cookie_is_no_flow() -> None:
    assert unseal_flow(None) is None
    assert unseal_flow("") is None
    assert unseal_flow("not a sealed flow") is None
    flow = SignInFlow(
        "test", "s", "n", "v", "/", purpose=FlowPurpose.LINK, user_id=3, session_id="x"
    )
    sealed = seal_flow(flow)
    assert unseal_flow(sealed) == flow
    tampered = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")
    assert unseal_flow(tampered) is None
