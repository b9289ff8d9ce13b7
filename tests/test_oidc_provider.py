"""The real OpenID provider the OpenID Connect tests sign in at (tests/oidc_server.py):
its discovery document, and one authorization code flow with PKCE done by hand."""

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.oidc_server import OIDCProvider, follow_provider, sign_in_at_provider


def discovery(provider: OIDCProvider) -> dict[str, Any]:
    answer = httpx.get(provider.discovery_url)
    assert answer.status_code == 200
    document: dict[str, Any] = answer.json()
    return document


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorization_url(provider: OIDCProvider, *, state: str, nonce: str, **extra: str) -> str:
    query = {
        "client_id": provider.client_id,
        "redirect_uri": provider.redirect_uri,
        "response_type": "code",
        "scope": "openid email profile",
        "state": state,
        "nonce": nonce,
    } | extra
    return f"{discovery(provider)['authorization_endpoint']}?{urlencode(query)}"


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified: enough to see what the provider put in it."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def sign_in(provider: OIDCProvider, login: str) -> dict[str, Any]:
    """A whole code flow: the provider's login and consent forms, then the code
    exchanged (with its PKCE verifier) for tokens. Returns the ID token's claims."""
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    url = authorization_url(
        provider, state=state, nonce=nonce, code_challenge=challenge, code_challenge_method="S256"
    )
    with httpx.Client() as browser:
        back = sign_in_at_provider(browser, url, login)
    location = back.headers["location"]
    assert location.startswith(provider.redirect_uri + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state]
    assert query["iss"] == [provider.issuer]
    tokens = httpx.post(
        discovery(provider)["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": query["code"][0],
            "redirect_uri": provider.redirect_uri,
            "code_verifier": verifier,
        },
        auth=(provider.client_id, provider.client_secret),
    )
    assert tokens.status_code == 200, tokens.text
    claims = jwt_claims(tokens.json()["id_token"])
    assert claims["nonce"] == nonce
    assert claims["aud"] == provider.client_id
    assert claims["iss"] == provider.issuer
    return claims


def test_discovery_document(oidc_provider: OIDCProvider) -> None:
    document = discovery(oidc_provider)
    assert document["issuer"] == oidc_provider.issuer
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        assert document[endpoint].startswith(oidc_provider.issuer + "/")
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert {"email", "email_verified", "preferred_username", "name"} <= set(
        document["claims_supported"]
    )


def test_authorization_code_flow_by_hand(oidc_provider: OIDCProvider) -> None:
    claims = sign_in(oidc_provider, "alice")
    assert claims["sub"] == "alice"
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims["preferred_username"] == "alice"
    assert claims["name"] == "Alice Liddell"


def test_an_unverified_email(oidc_provider: OIDCProvider) -> None:
    claims = sign_in(oidc_provider, "unverified-carol")
    assert claims["email"] == "unverified-carol@example.com"
    assert claims["email_verified"] is False


def test_pkce_is_required(oidc_provider: OIDCProvider) -> None:
    url = authorization_url(oidc_provider, state="s", nonce="n")
    with httpx.Client() as browser:
        answer = follow_provider(browser, browser.get(url))
    assert answer.is_redirect
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert query["error"] == ["invalid_request"]
    assert "PKCE" in query["error_description"][0]
    assert "code" not in query


def test_a_foreign_redirect_uri_is_refused(oidc_provider: OIDCProvider) -> None:
    _, challenge = pkce_pair()
    url = authorization_url(
        oidc_provider,
        state="s",
        nonce="n",
        code_challenge=challenge,
        code_challenge_method="S256",
        redirect_uri="http://evil.example/callback",
    )
    answer = httpx.get(url)
    assert answer.status_code == 400  # shown at the provider, never sent elsewhere
    assert "location" not in answer.headers
