"""The OpenID Connect providers an app starts with (accounts/oidc.py), against the real
provider of tests/oidc_server.py: discovered at start-up, and one that cannot be
discovered left out (and logged) while the app and the others carry on."""

import logging

import pytest
from fastapi.testclient import TestClient

from accounts.oidc import OIDCRegistry
from config import OIDCClient
from tests.live_server import free_port
from tests.oidc_server import OIDCProvider


def client_for(provider: OIDCProvider, name: str = "test", **changes: str) -> OIDCClient:
    fields = {
        "name": name,
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
    } | changes
    return OIDCClient.model_validate(fields)


def registry_of(test_client: TestClient) -> OIDCRegistry:
    registry = test_client.app_state["oidc_providers"]
    assert isinstance(registry, OIDCRegistry)
    return registry


def test_none_configured(make_app) -> None:
    with TestClient(make_app()) as test_client:
        registry = registry_of(test_client)
        assert not registry
        assert list(registry) == []
        assert registry.get("test") is None


def test_a_provider_is_discovered(make_app, oidc_provider: OIDCProvider) -> None:
    configured = client_for(oidc_provider, label="Test provider")
    with TestClient(make_app(oidc_clients=[configured])) as test_client:
        registry = registry_of(test_client)
        provider = registry.get("test")
        assert provider is not None
        assert [p.name for p in registry] == ["test"]
        assert provider.label == "Test provider"
        assert provider.issuer == oidc_provider.issuer
        assert provider.authorization_endpoint == f"{oidc_provider.issuer}/auth"
        assert provider.token_endpoint == f"{oidc_provider.issuer}/token"
        assert provider.jwks_uri == f"{oidc_provider.issuer}/jwks"
        assert provider.metadata["issuer"] == oidc_provider.issuer


def test_an_unreachable_provider_is_left_out(
    make_app, oidc_provider: OIDCProvider, caplog: pytest.LogCaptureFixture
) -> None:
    down = OIDCClient(
        name="down",
        issuer=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        client_id="inkwell",
        client_secret="down-secret",  # type: ignore[arg-type]
    )
    clients = [down, client_for(oidc_provider)]
    app = make_app(oidc_clients=clients)
    with caplog.at_level(logging.INFO, logger="inkwell"), TestClient(app) as test_client:
        registry = registry_of(test_client)
        assert registry.get("down") is None
        assert [p.name for p in registry] == ["test"]
        assert test_client.get("/").status_code == 200  # the site works
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("'down' left out" in message for message in failures), failures
    assert "down-secret" not in caplog.text


def test_an_issuer_not_the_documents_own_is_left_out(
    make_app, oidc_provider: OIDCProvider, caplog: pytest.LogCaptureFixture
) -> None:
    # The same server under another address: its document names another issuer, and
    # ID tokens checked against it would be someone else's.
    other_address = oidc_provider.issuer.replace("127.0.0.1", "localhost")
    with caplog.at_level(logging.INFO, logger="inkwell"):
        app = make_app(oidc_clients=[client_for(oidc_provider, issuer=other_address)])
        with TestClient(app) as test_client:
            assert not registry_of(test_client)
    assert "issuer is" in caplog.text


def test_a_page_not_a_discovery_document_is_left_out(
    make_app, oidc_provider: OIDCProvider, caplog: pytest.LogCaptureFixture
) -> None:
    # An issuer with a path under which nothing is served: a 404, not a document.
    wrong = client_for(oidc_provider, issuer=f"{oidc_provider.issuer}/nothing-here")
    app = make_app(oidc_clients=[wrong])
    with caplog.at_level(logging.INFO, logger="inkwell"), TestClient(app) as test_client:
        assert not registry_of(test_client)
    assert "'test' left out" in caplog.text
