"""The pages' markup for OpenID Connect (templates/login.html, register.html,
account.html): "Continue with <label>" only for configured providers, `next` carried
safely, and the login page rendered by a provider's callback on its code step. The
browser side is tests/browser/test_oidc.py."""

import re
from html import unescape

from fastapi.testclient import TestClient
from sqlalchemy import update

from accounts import totp
from models import User
from tests.helpers import run_sql
from tests.oidc_server import sign_in_with_provider

START_LINK = re.compile(r'<a [^>]*href="(/auth/oidc/[^"]*)"[^>]*>Continue with ([^<]*)</a>')


def test_no_provider_no_button(client: TestClient) -> None:
    for path in ("/login", "/register", "/account"):
        page = client.get(path).text
        assert "/auth/oidc/" not in page, path
        assert "data-oidc-provider" not in page, path
        assert "Continue with" not in page, path
    # The account page's section is there, hidden (account-identities.js shows it when
    # something is linked, or the account has no password).
    assert re.search(r'<section [^>]*id="sign-in-methods" hidden>', client.get("/account").text)


def test_each_provider_has_its_button_with_next_escaped(oidc_client: TestClient) -> None:
    hostile = '/search?q=a&b=1#x"><script>'
    for path in ("/login", "/register"):
        page = oidc_client.get(path, params={"next": hostile}).text
        links = START_LINK.findall(page)
        assert len(links) == 1, page
        href, label = links[0]
        assert label == "Test ID"
        # One query value, whole: nothing of it can end the attribute or add a parameter.
        assert unescape(href) == (
            "/auth/oidc/test/start?next=/search%3Fq%3Da%26b%3D1%23x%22%3E%3Cscript%3E"
        )
        assert "<script>" not in page.split("<main", 1)[1].split("</main>", 1)[0]
    # Without `next`, the bare start address.
    assert START_LINK.findall(oidc_client.get("/login").text) == [
        ("/auth/oidc/test/start", "Test ID")
    ]
    account = oidc_client.get("/account").text
    assert re.search(
        r'<button [^>]*data-oidc-provider="test" data-oidc-label="Test ID"[^>]*hidden>'
        r"Link Test ID</button>",
        account,
    )


def test_the_callback_opens_the_login_page_on_its_code_step(oidc_client: TestClient) -> None:
    """An account with 2FA: the login page, rendered at the callback's address, carries
    the step's token in a data attribute (never a URL) and `next`; no password form
    shown, no provider buttons."""
    made = sign_in_with_provider(oidc_client, "pages-2fa", next_path="/")
    assert made.status_code == 303, made.text
    run_sql(
        oidc_client,
        update(User)
        .where(User.email == "pages-2fa@example.com")
        .values(totp_secret=totp.seal(totp.new_secret())),
    )
    oidc_client.cookies.clear()
    answer = sign_in_with_provider(oidc_client, "pages-2fa", next_path="/search?q=x")
    assert answer.status_code == 200, answer.text
    assert "location" not in answer.headers
    page = answer.text
    form = re.search(r'<form id="mfa-form"[^>]*>', page)
    assert form, page
    token = re.search(r'data-mfa-token="([^"]+)"', form.group(0))
    assert token
    assert 'data-next="/search?q=x"' in form.group(0)
    assert token.group(1) not in str(answer.url)
    assert '<form id="login-form" hidden>' in page
    # The providers' buttons are there for when the step expires, hidden until then, and
    # they carry `next`.
    assert '<div class="oidc-sign-in stack" id="oidc-sign-in" hidden>' in page
    assert START_LINK.findall(page) == [("/auth/oidc/test/start?next=/search%3Fq%3Dx", "Test ID")]
    assert re.search(r'<p id="mfa-provider-note">Test ID has confirmed', page)
