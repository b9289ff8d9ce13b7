"""Bad input at GET /auth/oidc/{name}/callback: a missing, wrong, replayed, foreign or
expired flow, a reused code, the provider's errors, a nonce or PKCE verifier that is not
the flow's, overlong values, an unknown provider, a provider that went down, and ID
tokens a hostile provider forges. Each one: a page with the refusal's status and code,
a way to try again, nothing cached, the flow cookie spent, and never a session."""

import dataclasses
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey
from pydantic import AnyHttpUrl

from accounts.oidc import FLOW_COOKIE, FLOW_SECONDS, SignInFlow, seal_flow, unseal_flow
from tests.live_server import free_port
from tests.oidc_server import (
    CLIENT_ID,
    OIDCProvider,
    callback_query,
    configured,
    follow_provider,
    provider_redirect,
    start_provider,
    stop_provider,
    wait_for_discovery,
)
from tests.oidc_steps import assert_refusal_page, identity_rows, signed_in_account

ORIGIN = "https://testserver"
pytestmark = pytest.mark.settings(public_url=AnyHttpUrl(ORIGIN))
CALLBACK = "/auth/oidc/test/callback"


def flow_of(client: TestClient) -> SignInFlow:
    flow = unseal_flow(client.cookies.get(FLOW_COOKIE, path="/auth/oidc/"))
    assert flow is not None
    return flow


def put_flow(client: TestClient, sealed: str) -> None:
    client.cookies.set(FLOW_COOKIE, sealed, domain="testserver.local", path="/auth/oidc/")


def replace_flow(client: TestClient, **changes: Any) -> None:
    """This browser's flow cookie, sealed again with `changes` (as only the server could)."""
    flow = dataclasses.replace(flow_of(client), **changes)
    client.cookies.clear(domain="testserver.local", path="/auth/oidc/")
    put_flow(client, seal_flow(flow))


def callback(client: TestClient, **query: str) -> httpx.Response:
    return client.get(CALLBACK, params=query, follow_redirects=False)


def started(client: TestClient) -> dict[str, str]:
    """Start a sign-in (the flow cookie set) without going to the provider: the
    authorization request's parameters."""
    answer = client.get("/auth/oidc/test/start", follow_redirects=False)
    assert answer.status_code == 303, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    return {key: values[0] for key, values in query.items()}


# --- The flow: state and cookie -------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"code": "abc"},
        {"code": "abc", "state": ""},
        {"code": "abc", "state": "not-the-flows-state"},
        {"error": "access_denied"},  # an error without the flow's state proves nothing
    ],
)
def test_a_missing_or_wrong_state_is_refused(oidc_client, query: dict[str, str]) -> None:
    started(oidc_client)
    answer = callback(oidc_client, **query)
    assert_refusal_page(oidc_client, answer, 400, "oidc_state_invalid")


def test_the_wrong_state_of_a_real_answer_is_refused(oidc_client) -> None:
    query = callback_query(provider_redirect(oidc_client, "alice"))
    answer = callback(oidc_client, code=query["code"], state=query["state"][:-1])
    assert_refusal_page(oidc_client, answer, 400, "oidc_state_invalid")
    assert identity_rows(oidc_client) == []


def test_no_flow_cookie_is_refused(oidc_client) -> None:
    redirect = provider_redirect(oidc_client, "alice")
    oidc_client.cookies.clear()
    answer = oidc_client.get(redirect.headers["location"], follow_redirects=False)
    assert_refusal_page(oidc_client, answer, 400, "oidc_state_invalid")
    assert identity_rows(oidc_client) == []


def test_a_replayed_callback_is_refused(oidc_client) -> None:
    redirect = provider_redirect(oidc_client, "alice")
    first = oidc_client.get(redirect.headers["location"], follow_redirects=False)
    assert first.status_code == 303, first.text
    alice = signed_in_account(oidc_client)
    oidc_client.cookies.clear()  # only the replay can sign anyone in now
    # The flow cookie was spent: the same answer again is refused...
    again = oidc_client.get(redirect.headers["location"], follow_redirects=False)
    assert_refusal_page(oidc_client, again, 400, "oidc_state_invalid")
    assert identity_rows(oidc_client) == [(alice.id, "test", "alice", "alice@example.com")]


def test_a_replayed_callback_with_a_copy_of_the_flow_cookie_is_refused(oidc_client) -> None:
    redirect = provider_redirect(oidc_client, "alice")
    copied = oidc_client.cookies.get(FLOW_COOKIE, path="/auth/oidc/")
    assert copied
    first = oidc_client.get(redirect.headers["location"], follow_redirects=False)
    assert first.status_code == 303, first.text
    oidc_client.cookies.clear()
    # ...and so it is with the cookie kept aside: the provider takes a code once.
    put_flow(oidc_client, copied)
    again = oidc_client.get(redirect.headers["location"], follow_redirects=False)
    assert_refusal_page(oidc_client, again, 400, "oidc_exchange_failed")


def test_a_code_reused_with_a_fresh_flow_is_refused_by_the_provider(oidc_client) -> None:
    redirect = provider_redirect(oidc_client, "alice")
    code = callback_query(redirect)["code"]
    assert oidc_client.get(redirect.headers["location"], follow_redirects=False).is_redirect
    oidc_client.cookies.clear()
    fresh = started(oidc_client)
    answer = callback(oidc_client, code=code, state=fresh["state"])
    assert_refusal_page(oidc_client, answer, 400, "oidc_exchange_failed")


def test_a_flow_cookie_of_another_provider_is_refused(oidc_client) -> None:
    redirect = provider_redirect(oidc_client, "alice")
    replace_flow(oidc_client, provider="other")
    answer = oidc_client.get(redirect.headers["location"], follow_redirects=False)
    assert_refusal_page(oidc_client, answer, 400, "oidc_state_invalid")
    assert identity_rows(oidc_client) == []


def test_a_nonce_that_is_not_the_flows_is_refused(oidc_client) -> None:
    redirect = provider_redirect(oidc_client, "alice")
    replace_flow(oidc_client, nonce="another-nonce")
    answer = oidc_client.get(redirect.headers["location"], follow_redirects=False)
    assert_refusal_page(oidc_client, answer, 400, "oidc_id_token_invalid")
    assert identity_rows(oidc_client) == []


def test_a_pkce_verifier_that_is_not_the_flows_is_refused_by_the_provider(oidc_client) -> None:
    redirect = provider_redirect(oidc_client, "alice")
    replace_flow(oidc_client, code_verifier="x" * 64)
    answer = oidc_client.get(redirect.headers["location"], follow_redirects=False)
    assert_refusal_page(oidc_client, answer, 400, "oidc_exchange_failed")


def sealed_at(flow: SignInFlow, when: float, monkeypatch: pytest.MonkeyPatch) -> str:
    """`flow` sealed as if at `when` (Fernet reads the clock when it seals)."""
    with monkeypatch.context() as moved:
        moved.setattr(time, "time", lambda: when)
        return seal_flow(flow)


@pytest.mark.parametrize(("age", "works"), [(FLOW_SECONDS - 60, True), (FLOW_SECONDS + 5, False)])
def test_a_flow_older_than_its_life_is_refused(
    oidc_client, monkeypatch: pytest.MonkeyPatch, age: int, works: bool
) -> None:
    redirect = provider_redirect(oidc_client, "alice")
    flow = flow_of(oidc_client)
    oidc_client.cookies.clear()
    put_flow(oidc_client, sealed_at(flow, time.time() - age, monkeypatch))
    answer = oidc_client.get(redirect.headers["location"], follow_redirects=False)
    if works:
        assert answer.status_code == 303, answer.text
    else:
        assert_refusal_page(oidc_client, answer, 400, "oidc_state_invalid")


# --- The provider's answers -----------------------------------------------------------


def test_cancelling_at_the_provider_is_access_denied(oidc_client) -> None:
    location = oidc_client.get("/auth/oidc/test/start", follow_redirects=False)
    with httpx.Client() as browser:
        page = follow_provider(browser, browser.get(location.headers["location"]))
        [abort] = [href for href in _links(page.text) if href.endswith("/abort")]
        back = follow_provider(browser, browser.get(urljoin(str(page.url), abort)))
    assert back.is_redirect
    query = callback_query(back)
    assert query["error"] == "access_denied"
    answer = oidc_client.get(back.headers["location"], follow_redirects=False)
    assert_refusal_page(oidc_client, answer, 400, "oidc_access_denied")


def _links(page: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'href="([^"]+)"', page)]


@pytest.mark.parametrize("error", ["server_error", "temporarily_unavailable", "invalid_scope"])
def test_another_provider_error_is_refused(oidc_client, error: str) -> None:
    state = started(oidc_client)["state"]
    answer = callback(oidc_client, error=error, error_description="Nope", state=state)
    assert_refusal_page(oidc_client, answer, 400, "oidc_provider_error")
    assert "Nope" not in answer.text  # the provider's words are not echoed


def test_an_answer_without_a_code_is_refused(oidc_client) -> None:
    state = started(oidc_client)["state"]
    assert_refusal_page(oidc_client, callback(oidc_client, state=state), 400, "oidc_provider_error")


@pytest.mark.parametrize("field", ["code", "state", "error"])
def test_overlong_query_values_are_refused(oidc_client, field: str) -> None:
    query = callback_query(provider_redirect(oidc_client, "alice"))
    query[field] = "x" * 5000
    answer = callback(oidc_client, **query)
    code = {"code": "oidc_provider_error", "state": "oidc_state_invalid"}.get(field)
    if code is None:  # an overlong error is dropped: the real code signs in
        assert answer.status_code == 303, answer.text
    else:
        assert_refusal_page(oidc_client, answer, 400, code)


def test_an_unknown_provider_is_a_404_page(oidc_client) -> None:
    started(oidc_client)
    start = oidc_client.get("/auth/oidc/nope/start", follow_redirects=False)
    assert start.status_code == 404, start.text
    assert "set-cookie" not in start.headers
    answer = oidc_client.get(
        "/auth/oidc/nope/callback", params={"code": "a", "state": "b"}, follow_redirects=False
    )
    assert_refusal_page(oidc_client, answer, 404, "oidc_provider_unknown", retry=None)


# --- A provider that went down ----------------------------------------------------------


def test_a_provider_down_at_the_callback_is_an_exchange_failure(
    make_app, mailbox, tmp_path
) -> None:
    port = free_port()
    provider = OIDCProvider(
        issuer=f"http://127.0.0.1:{port}",
        client_id=CLIENT_ID,
        client_secret="inkwell-test-secret",
        redirect_uri="https://testserver/auth/oidc/test/callback",
    )
    with (tmp_path / "provider.log").open("w+b") as log:
        process = start_provider(port, log)
        try:
            wait_for_discovery(process, provider.discovery_url, log)
            app = make_app(oidc_clients=[configured(provider, label="Test ID")])
            with TestClient(app, base_url=ORIGIN) as client:
                redirect = provider_redirect(client, "alice")
                stop_provider(process)
                answer = client.get(redirect.headers["location"], follow_redirects=False)
                assert_refusal_page(client, answer, 400, "oidc_exchange_failed")
                # Starting again still answers (to a provider that is down: the
                # person's browser will say so), never a 500.
                assert (
                    client.get("/auth/oidc/test/start", follow_redirects=False).status_code == 303
                )
        finally:
            stop_provider(process)


# --- A hostile provider: forged ID tokens reaching the callback --------------------------


class HostileProvider:
    """A provider that serves a real discovery document and keys (those of `key`), and
    whose token endpoint answers whatever ID token the test gives it."""

    def __init__(self, real: OIDCProvider) -> None:
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.key = RSAKey.generate_key(2048, parameters={"kid": "hostile-1", "use": "sig"})
        # Another provider's issuer (the real one's), for a token meant for it.
        self.other_issuer = real.issuer
        document = httpx.get(real.discovery_url).json()
        self.discovery = json.loads(json.dumps(document).replace(real.issuer, self.issuer))
        self.id_token: Callable[[], str] = lambda: ""
        self.token_requests = 0
        self.keys_down = False
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def _json(self, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/.well-known/openid-configuration":
                    self._json(provider.discovery)
                elif self.path == "/jwks" and provider.keys_down:
                    self.send_error(503)
                elif self.path == "/jwks":
                    self._json({"keys": [provider.key.as_dict(private=False)]})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                provider.token_requests += 1
                token = provider.id_token()
                self._json({"access_token": "at", "token_type": "Bearer", "id_token": token})

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def claims(self, flow_nonce: str, **changes: object) -> dict[str, object]:
        """Claims a provider would sign for the flow whose nonce is `flow_nonce`, with
        `changes` (None: left out)."""
        now = int(time.time())
        good: dict[str, object] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": "mallory",
            "email": "mallory@example.com",
            "email_verified": True,
            "iat": now,
            "exp": now + 300,
            "nonce": flow_nonce,
        }
        return {k: v for k, v in (good | changes).items() if v is not None}


@pytest.fixture
def hostile(oidc_provider: OIDCProvider) -> Iterator[HostileProvider]:
    provider = HostileProvider(oidc_provider)
    thread = threading.Thread(target=provider.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        provider.server.shutdown()
        provider.server.server_close()


@pytest.fixture
def hostile_client(make_app, mailbox, hostile: HostileProvider) -> Iterator[TestClient]:
    registration = OIDCProvider(
        issuer=hostile.issuer,
        client_id=CLIENT_ID,
        client_secret="inkwell-test-secret",
        redirect_uri="",
    )
    app = make_app(oidc_clients=[configured(registration, label="Test ID")])
    with TestClient(app, base_url=ORIGIN) as client:
        yield client


def signed(claims: dict[str, object], key: Any, alg: str = "RS256") -> str:
    header = {"alg": alg}
    if isinstance(key, RSAKey) and key.kid:
        header["kid"] = key.kid
    return jwt.encode(header, claims, key)


def answered(client: TestClient, hostile: HostileProvider, token: Callable[[str], str]):
    """A sign-in whose token endpoint answers `token(nonce)`: the callback's answer."""
    request = started(client)
    hostile.id_token = lambda: token(request["nonce"])
    return callback(client, code="any-code", state=request["state"])


def test_a_hostile_providers_well_formed_token_signs_in(hostile_client, hostile) -> None:
    """The harness itself: a token as a provider would sign it is accepted, so each
    refusal below is the forgery's doing."""
    answer = answered(
        hostile_client, hostile, lambda nonce: signed(hostile.claims(nonce), hostile.key)
    )
    assert answer.status_code == 303, answer.text
    assert signed_in_account(hostile_client).email == "mallory@example.com"


def _other_key(kid: str | None) -> RSAKey:
    parameters = {"kid": kid} if kid else {}
    return RSAKey.generate_key(2048, parameters=parameters)


@pytest.mark.parametrize(
    "forge",
    [
        # Signed by a key that is not the provider's (under its key id, or another).
        pytest.param(lambda h, n: signed(h.claims(n), _other_key("hostile-1")), id="other-key"),
        pytest.param(lambda h, n: signed(h.claims(n), _other_key("unknown")), id="unknown-kid"),
        # A MAC under the client secret, and no signature at all.
        pytest.param(
            lambda h, n: signed(h.claims(n), OctKey.import_key("inkwell-test-secret"), "HS256"),
            id="hs256-client-secret",
        ),
        pytest.param(
            lambda h, n: ".".join(signed(h.claims(n), h.key).split(".")[:2]) + ".",
            id="signature-stripped",
        ),
        # Right key, wrong claims.
        pytest.param(lambda h, n: signed(h.claims(n, aud="another-client"), h.key), id="aud"),
        pytest.param(
            lambda h, n: signed(h.claims(n, aud=["another-client", CLIENT_ID]), h.key),
            id="aud-several-no-azp",
        ),
        pytest.param(lambda h, n: signed(h.claims(n, iss=h.other_issuer), h.key), id="iss"),
        pytest.param(
            lambda h, n: signed(h.claims(n, exp=int(time.time()) - 3600), h.key), id="expired"
        ),
        pytest.param(
            lambda h, n: signed(h.claims(n, iat=int(time.time()) + 3600), h.key),
            id="issued-in-the-future",
        ),
        pytest.param(lambda h, n: signed(h.claims(n, exp=None), h.key), id="no-exp"),
        pytest.param(lambda h, n: signed(h.claims(n, aud=None), h.key), id="no-aud"),
        pytest.param(lambda h, n: signed(h.claims(n, nonce="replayed"), h.key), id="nonce"),
        pytest.param(lambda h, n: signed(h.claims(n, nonce=None), h.key), id="no-nonce"),
        pytest.param(lambda h, n: signed(h.claims(n, sub=None), h.key), id="no-sub"),
        pytest.param(lambda h, n: signed(h.claims(n, sub=123), h.key), id="sub-not-text"),
        pytest.param(lambda h, n: "not.a.token", id="garbage"),
    ],
)
def test_a_forged_id_token_at_the_callback_is_refused(hostile_client, hostile, forge) -> None:
    answer = answered(hostile_client, hostile, lambda nonce: forge(hostile, nonce))
    assert hostile.token_requests == 1
    assert_refusal_page(hostile_client, answer, 400, "oidc_id_token_invalid")
    assert identity_rows(hostile_client) == []


def test_keys_that_cannot_be_fetched_verify_nothing(hostile_client, hostile) -> None:
    hostile.keys_down = True
    answer = answered(
        hostile_client, hostile, lambda nonce: signed(hostile.claims(nonce), hostile.key)
    )
    assert_refusal_page(hostile_client, answer, 400, "oidc_id_token_invalid")


@pytest.mark.parametrize("verified", ["true", 1, None])
def test_only_a_json_true_email_verified_makes_an_account(
    hostile_client, hostile, verified
) -> None:
    answer = answered(
        hostile_client,
        hostile,
        lambda nonce: signed(hostile.claims(nonce, email_verified=verified), hostile.key),
    )
    assert_refusal_page(hostile_client, answer, 400, "oidc_email_unverified")
    assert identity_rows(hostile_client) == []


def test_a_token_answer_without_an_id_token_is_refused(hostile_client, hostile) -> None:
    answer = answered(hostile_client, hostile, lambda nonce: None)  # type: ignore[arg-type,return-value]
    assert_refusal_page(hostile_client, answer, 400, "oidc_exchange_failed")
