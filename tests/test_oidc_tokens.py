"""The way back from the provider (accounts/oidc.py), against the real provider: the
code exchanged with its PKCE verifier, and the ID token verified (signature by the
provider's keys, `iss`, `aud`, `nonce`), every forgery refused."""

import asyncio
import base64
import dataclasses
import json
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from pydantic import SecretStr

from accounts.oidc import (
    OIDCProvider,
    SignInFlow,
    begin_sign_in,
    exchange_code,
    load_registry,
    verify_id_token,
)
from config import OIDCClient
from errors.domain import DomainError
from tests.oidc_server import OIDCProvider as RealProvider
from tests.oidc_server import sign_in_at_provider

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run `coroutine` to its end on an event loop of its own, in a thread of its own: a
    browser test's Playwright may have left this thread's loop running (xdist gives
    one worker both kinds of test), where asyncio.run refuses to start."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


@pytest.fixture
def provider(oidc_provider: RealProvider) -> OIDCProvider:
    configured = OIDCClient.model_validate(
        {
            "name": "test",
            "issuer": oidc_provider.issuer,
            "client_id": oidc_provider.client_id,
            "client_secret": oidc_provider.client_secret,
        }
    )
    found = run(load_registry([configured])).get("test")
    assert found is not None
    return found


def signed_in(
    provider: OIDCProvider, redirect_uri: str, login: str = "alice"
) -> tuple[str, SignInFlow]:
    """A code from the provider for `login`, and the flow that asked for it."""
    url, flow = begin_sign_in(provider, redirect_uri=redirect_uri, next_path=None)
    with httpx.Client() as browser:
        back = sign_in_at_provider(browser, url, login)
    query = parse_qs(urlsplit(back.headers["location"]).query)
    assert query["state"] == [flow.state]
    return query["code"][0], flow


def id_token_for(
    provider: OIDCProvider, oidc_provider: RealProvider, login: str = "alice"
) -> tuple[str, SignInFlow]:
    code, flow = signed_in(provider, oidc_provider.redirect_uri, login)
    token = run(
        exchange_code(
            provider,
            code=code,
            redirect_uri=oidc_provider.redirect_uri,
            code_verifier=flow.code_verifier,
        )
    )
    return token, flow


def refused(code: str, call) -> None:
    with pytest.raises(DomainError) as caught:
        run(call)
    assert caught.value.code == code
    assert caught.value.status_code == 400


def parts(token: str) -> tuple[dict, dict]:
    def decoded(part: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))

    header, payload, _ = token.split(".")
    return decoded(header), decoded(payload)


def test_a_sign_in_verified(provider: OIDCProvider, oidc_provider: RealProvider) -> None:
    token, flow = id_token_for(provider, oidc_provider)
    claims = run(verify_id_token(provider, token, nonce=flow.nonce))
    assert claims["sub"] == "alice"
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims["iss"] == oidc_provider.issuer
    assert claims["aud"] == oidc_provider.client_id


def test_an_unverified_email_is_said_so(
    provider: OIDCProvider, oidc_provider: RealProvider
) -> None:
    token, flow = id_token_for(provider, oidc_provider, "unverified-dave")
    claims = run(verify_id_token(provider, token, nonce=flow.nonce))
    assert claims["email_verified"] is False


def test_another_nonce_is_refused(provider: OIDCProvider, oidc_provider: RealProvider) -> None:
    token, _ = id_token_for(provider, oidc_provider)
    refused("oidc_id_token_invalid", verify_id_token(provider, token, nonce="another"))


def test_a_code_is_used_once(provider: OIDCProvider, oidc_provider: RealProvider) -> None:
    code, flow = signed_in(provider, oidc_provider.redirect_uri)
    exchange = {
        "code": code,
        "redirect_uri": oidc_provider.redirect_uri,
        "code_verifier": flow.code_verifier,
    }
    assert run(exchange_code(provider, **exchange))
    refused("oidc_exchange_failed", exchange_code(provider, **exchange))


def test_another_verifier_is_refused(provider: OIDCProvider, oidc_provider: RealProvider) -> None:
    code, _ = signed_in(provider, oidc_provider.redirect_uri)
    call = exchange_code(
        provider, code=code, redirect_uri=oidc_provider.redirect_uri, code_verifier="x" * 64
    )
    refused("oidc_exchange_failed", call)


def test_a_wrong_secret_is_refused(provider: OIDCProvider, oidc_provider: RealProvider) -> None:
    code, flow = signed_in(provider, oidc_provider.redirect_uri)
    wrong = dataclasses.replace(
        provider, client=provider.client.model_copy(update={"client_secret": SecretStr("wrong")})
    )
    call = exchange_code(
        wrong, code=code, redirect_uri=oidc_provider.redirect_uri, code_verifier=flow.code_verifier
    )
    refused("oidc_exchange_failed", call)


def test_a_token_for_another_client_is_refused(
    provider: OIDCProvider, oidc_provider: RealProvider
) -> None:
    token, flow = id_token_for(provider, oidc_provider)
    other = dataclasses.replace(
        provider, client=provider.client.model_copy(update={"client_id": "another-client"})
    )
    refused("oidc_id_token_invalid", verify_id_token(other, token, nonce=flow.nonce))


def test_a_token_of_another_issuer_is_refused(
    provider: OIDCProvider, oidc_provider: RealProvider
) -> None:
    token, flow = id_token_for(provider, oidc_provider)
    issuer = oidc_provider.issuer.replace("127.0.0.1", "localhost")
    other = dataclasses.replace(
        provider, client=provider.client.model_copy(update={"issuer": issuer})
    )
    refused("oidc_id_token_invalid", verify_id_token(other, token, nonce=flow.nonce))


@pytest.mark.parametrize("same_kid", [True, False])
def test_a_token_signed_by_another_key_is_refused(
    provider: OIDCProvider, oidc_provider: RealProvider, same_kid: bool
) -> None:
    token, flow = id_token_for(provider, oidc_provider)
    header, claims = parts(token)
    kid = header["kid"] if same_kid else "someone-elses"
    forger = RSAKey.generate_key(2048, parameters={"kid": kid})
    forged = jwt.encode({"alg": "RS256", "kid": kid}, claims, forger)
    refused("oidc_id_token_invalid", verify_id_token(provider, forged, nonce=flow.nonce))


def test_an_unsigned_token_is_refused(provider: OIDCProvider, oidc_provider: RealProvider) -> None:
    token, flow = id_token_for(provider, oidc_provider)
    _, claims = parts(token)

    def encoded(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    unsigned = f"{encoded({'alg': 'none'})}.{encoded(claims)}."
    refused("oidc_id_token_invalid", verify_id_token(provider, unsigned, nonce=flow.nonce))
    refused("oidc_id_token_invalid", verify_id_token(provider, "not a token", nonce=flow.nonce))
