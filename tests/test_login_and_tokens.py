"""POST /api/users/token and GET /api/users/me: who you are, and every way to be nobody."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from auth import create_access_token, verify_access_token
from config import settings
from tests.conftest import STRONG_PASSWORD, bearer, login, register


@pytest.mark.parametrize("typed", ["alice@example.com", "ALICE@example.com", " Alice@Example.COM "])
def test_login_accepts_the_email_in_any_case(client, alice, typed):
    response = login(client, typed)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert response.headers["cache-control"] == "no-store"
    me = client.get("/api/users/me", headers=bearer(body["access_token"]))
    assert me.json()["email"] == "alice@example.com"


def test_wrong_password_and_unknown_email_answer_identically(client, alice):
    wrong_password = login(client, "alice@example.com", "not the password at all")
    unknown_email = login(client, "nobody@example.com", "not the password at all")
    for response in (wrong_password, unknown_email):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
    assert (
        wrong_password.json() == unknown_email.json() == {"detail": "Incorrect email or password"}
    )
    assert wrong_password.headers.keys() == unknown_email.headers.keys()


def test_login_without_fields_is_422(client):
    assert client.post("/api/users/token", data={"username": "a@example.com"}).status_code == 422


def test_me_returns_the_private_user(client, alice):
    response = client.get("/api/users/me", headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == {
        "id": alice.id,
        "username": "Alice",
        "email": "alice@example.com",
        "image_file": None,
        "image_path": "/static/img/default.svg",
    }


def _forged(claims: dict, key: str | None = None, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key or settings.secret_key.get_secret_value(), algorithm)


def _claims(**overrides) -> dict:
    now = datetime.now(UTC)
    return {"sub": "1", "iat": now, "exp": now + timedelta(minutes=5)} | overrides


def _alg_none_token() -> str:
    return jwt.encode(_claims(), key=None, algorithm="none")


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Bearer"}, id="empty-bearer"),
        pytest.param({"Authorization": "Basic YWxpY2U6cHc="}, id="wrong-scheme"),
        pytest.param(bearer("garbage"), id="garbage"),
        pytest.param(bearer("a.b.c"), id="three-garbage-parts"),
        pytest.param(
            bearer(_forged(_claims(exp=datetime.now(UTC) - timedelta(minutes=1)))), id="expired"
        ),
        pytest.param(bearer(_forged(_claims(), key="another-secret-" * 4)), id="wrong-signature"),
        pytest.param(bearer(_alg_none_token()), id="alg-none"),
        pytest.param(bearer(_forged(_claims(), algorithm="HS512")), id="other-algorithm"),
        pytest.param(bearer(_forged(_claims(sub="abc"))), id="sub-not-integer"),
        pytest.param(bearer(_forged(_claims(sub="1.5"))), id="sub-decimal"),
        pytest.param(bearer(_forged(_claims(sub="99999999999"))), id="sub-out-of-range"),
        pytest.param(bearer(_forged(_claims(sub="42"))), id="no-such-user"),
        pytest.param(bearer(_forged({"sub": "1", "iat": datetime.now(UTC)})), id="no-exp"),
        pytest.param(
            bearer(_forged({"iat": datetime.now(UTC), "exp": datetime.now(UTC) + timedelta(1)})),
            id="no-sub",
        ),
        pytest.param(
            bearer(_forged({"sub": "1", "exp": datetime.now(UTC) + timedelta(1)})), id="no-iat"
        ),
        pytest.param(bearer(_forged(_claims(sub=1))), id="sub-not-a-string"),
    ],
)
def test_me_refuses_anything_but_a_valid_token(client, alice, headers):
    assert alice.id == 1  # the forged tokens above name this user
    response = client.get("/api/users/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "email" not in response.text


def test_token_of_a_deleted_user_stops_working_at_once(client, alice):
    assert client.delete(f"/api/users/{alice.id}", headers=alice.headers).status_code == 204
    assert client.get("/api/users/me", headers=alice.headers).status_code == 401
    assert login(client, alice.email).status_code == 401


def test_tokens_carry_sub_exp_and_iat():
    token = create_access_token({"sub": "7"}, expires_delta=timedelta(minutes=3))
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["sub"] == "7"
    assert payload["exp"] - payload["iat"] == 180
    assert verify_access_token(token) == (7, 0)


def test_a_new_registration_can_log_in_straight_away(client):
    register(client, "Carol", "carol@example.com")
    assert login(client, "carol@example.com", STRONG_PASSWORD).status_code == 200
