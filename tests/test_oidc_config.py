"""OpenID Connect providers from settings (config.py): OIDC_PROVIDERS names them, each
one's OIDC_<NAME>_* settings describe it; anything incomplete or malformed stops
start-up with a message that says which setting."""

import pytest
from pydantic import ValidationError

from config import Settings

GOOGLE = {
    "OIDC_GOOGLE_ISSUER": "https://accounts.google.com",
    "OIDC_GOOGLE_CLIENT_ID": "1234.apps.googleusercontent.com",
    "OIDC_GOOGLE_CLIENT_SECRET": "google-secret",
}
KEYCLOAK = {
    "OIDC_COMPANY_SSO_ISSUER": "https://sso.example.com/realms/staff",
    "OIDC_COMPANY_SSO_CLIENT_ID": "inkwell",
    "OIDC_COMPANY_SSO_CLIENT_SECRET": "keycloak-secret",
    "OIDC_COMPANY_SSO_LABEL": "Company account",
}


def settings_from(monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]) -> Settings:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_none_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OIDC_PROVIDERS", raising=False)
    assert settings_from(monkeypatch, GOOGLE).oidc_clients == []


def test_providers_in_their_order(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_from(
        monkeypatch, GOOGLE | KEYCLOAK | {"OIDC_PROVIDERS": " company-sso, google ,"}
    )
    sso, google = settings.oidc_clients
    assert sso.name == "company-sso"
    assert sso.issuer_url == "https://sso.example.com/realms/staff"
    assert sso.client_id == "inkwell"
    assert sso.client_secret.get_secret_value() == "keycloak-secret"
    assert sso.display_label == "Company account"
    assert google.name == "google"
    assert google.issuer_url == "https://accounts.google.com"  # no "/" added
    assert google.display_label == "google"  # the name when no label is set
    assert "google-secret" not in repr(settings)


def test_names_are_case_insensitive_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = {name.lower(): value for name, value in GOOGLE.items()}
    settings = settings_from(monkeypatch, environment | {"oidc_providers": "google"})
    assert [client.name for client in settings.oidc_clients] == ["google"]


@pytest.mark.parametrize(
    "name", ["Google", "my_sso", "-sso", "sso-", "a b", "sso.example", "x" * 33]
)
def test_a_malformed_name_is_refused(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    with pytest.raises(ValidationError, match="not a provider name"):
        settings_from(monkeypatch, {"OIDC_PROVIDERS": name})


@pytest.mark.parametrize("missing", sorted(GOOGLE))
def test_a_missing_setting_is_named(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    monkeypatch.delenv(missing, raising=False)
    given = {name: value for name, value in GOOGLE.items() if name != missing}
    with pytest.raises(ValidationError, match=missing):
        settings_from(monkeypatch, given | {"OIDC_PROVIDERS": "google"})


def test_a_name_given_twice_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="twice"):
        settings_from(monkeypatch, GOOGLE | {"OIDC_PROVIDERS": "google,google"})


def test_an_issuer_must_be_a_web_address(monkeypatch: pytest.MonkeyPatch) -> None:
    environment = GOOGLE | {"OIDC_GOOGLE_ISSUER": "accounts.google.com"}
    with pytest.raises(ValidationError, match="issuer"):
        settings_from(monkeypatch, environment | {"OIDC_PROVIDERS": "google"})
