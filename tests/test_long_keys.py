"""Keys longer than their columns (issue 20, finding 7). PostgreSQL refuses a value
longer than its VARCHAR where SQLite stores anything, so each of these answered 500 on
PostgreSQL only: every stored key is bounded after normalising (throttle.bounded_key),
and an address whose stored or folded form cannot be stored is a 422 that says why.
Each runs on both databases (CI sets TEST_DATABASE_URL)."""

import hashlib

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from accounts.throttle import MAX_FAILURES_PER_CLIENT, MAX_FAILURES_PER_EMAIL, bounded_key
from config import get_settings
from database import sync_url
from models import EMAIL_MAX, KEY_MAX, LoginFailure, RateLimitHit, fold
from tests.helpers import STRONG_PASSWORD
from tests.live_server import LiveServer

# NFKC turns U+FDFA (one character) into 18: this address folds to 732 characters.
EXPANDING_EMAIL = "\ufdfa" * 40 + "@example.com"
# 120 characters as sent, 228 once lowercased ("İ" becomes "i" and a combining dot).
LENGTHENED_EMAIL = "\u0130" * 108 + "@example.com"
LONG_NAME = "a" * 365  # the login form allows 480; login_failures.key holds 370
LONG_ADDRESS = "a" * 600


def stored_keys(table) -> list[str]:
    engine = create_engine(sync_url(get_settings().database_url))
    try:
        with engine.connect() as connection:
            return list(connection.scalars(select(table.key)))
    finally:
        engine.dispose()


def test_a_long_key_is_kept_when_it_fits_and_hashed_when_not():
    assert bounded_key("email:alice@example.com", 370) == "email:alice@example.com"
    digest = hashlib.sha256(LONG_ADDRESS.encode()).hexdigest()
    assert bounded_key(f"client:{LONG_ADDRESS}", 370) == f"client:sha256:{digest}"
    assert len(bounded_key(f"{'k' * 500}:{LONG_ADDRESS}", 370)) <= 370


def test_a_long_login_name_is_refused_and_throttled_not_500(client):
    def attempt() -> httpx.Response:
        return client.post("/api/users/token", data={"username": LONG_NAME, "password": "x"})

    assert [attempt().status_code for _ in range(MAX_FAILURES_PER_EMAIL)] == [401] * 5
    assert attempt().status_code == 429
    assert all(len(key) <= LoginFailure.key.type.length for key in stored_keys(LoginFailure))


@pytest.mark.parametrize(
    ("email", "message"),
    [
        (EXPANDING_EMAIL, f"at most {KEY_MAX} characters once normalised"),
        (LENGTHENED_EMAIL, f"at most {EMAIL_MAX} characters"),
    ],
)
def test_an_address_too_long_once_normalised_is_422(client, alice, email, message):
    assert len(fold(email)) > KEY_MAX or len(email.lower()) > EMAIL_MAX
    answers = [
        client.post(
            "/api/users",
            json={"username": "Expander", "email": email, "password": STRONG_PASSWORD},
        ),
        client.post("/api/users/password-reset", json={"email": email}),
        client.patch(
            f"/api/users/{alice.id}",
            json={"email": email, "current_password": alice.password},
            headers=alice.headers,
        ),
    ]
    for answer in answers:
        assert answer.status_code == 422, answer.text
        [error, *_] = answer.json()["detail"]  # a PATCH adds the union's "or null"
        assert error["loc"][:2] == ["body", "email"]
        assert message in error["msg"]


def test_a_long_client_address_is_counted_under_its_hash(client):
    with TestClient(client.app, base_url="https://testserver", client=(LONG_ADDRESS, 50000)) as far:
        reset = far.post("/api/users/password-reset", json={"email": "x@example.com"})
        logins = [
            far.post(
                "/api/users/token", data={"username": f"{n}@example.com", "password": "x"}
            ).status_code
            for n in range(MAX_FAILURES_PER_CLIENT + 1)
        ]
    assert reset.status_code == 202
    assert logins == [401] * MAX_FAILURES_PER_CLIENT + [429]
    for table in (LoginFailure, RateLimitHit):
        assert all(len(key) <= table.key.type.length for key in stored_keys(table))


def test_a_long_x_forwarded_for_through_uvicorn_is_4xx_not_500(tmp_path):
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 (its default, as behind nginx)."""
    server = LiveServer(tmp_path)
    try:
        base_url = server.wait_until_ready()
        headers = {"X-Forwarded-For": LONG_ADDRESS}
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as far:
            login = far.post(
                "/api/users/token", data={"username": "x@example.com", "password": "x"}
            )
            reset = far.post("/api/users/password-reset", json={"email": "x@example.com"})
            sign_up = far.post(
                "/api/users",
                json={"username": "Far", "email": "far@example.com", "password": STRONG_PASSWORD},
            )
            signed_in = far.post(
                "/api/users/token",
                data={"username": "far@example.com", "password": STRONG_PASSWORD},
            )
    finally:
        server.stop()
    assert (login.status_code, reset.status_code) == (401, 202)
    assert (sign_up.status_code, signed_in.status_code) == (201, 200)
