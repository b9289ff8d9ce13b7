"""POST /api/users/token and GET /api/users/me: who you are, and every way to be nobody."""

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from auth import create_access_token, verify_access_token
from config import get_settings
from models import User
from tests.helpers import STRONG_PASSWORD, bearer, create_post, login, make_account, register


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
        wrong_password.json()
        == unknown_email.json()
        == {"detail": "Incorrect email or password", "code": "invalid_credentials"}
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
        "bio": None,
        "website": None,
        "email_verified": False,
        "role": "member",
        "comment_mail": True,
        "totp_enabled": False,
        "recovery_codes_left": 0,
        "has_password": True,
    }


def _forged(claims: dict, key: str | None = None, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key or get_settings().secret_key.get_secret_value(), algorithm)


def _claims(real: dict, **overrides) -> dict:
    """Claims that would be valid for user 1, whose real token carried `real`."""
    now = datetime.now(UTC)
    valid = {"sub": "1", "acct": real["acct"], "sid": real["sid"], "ver": real["ver"]}
    return valid | {"iat": now, "exp": now + timedelta(minutes=5)} | overrides


def _without(real: dict, claim: str) -> dict:
    return {name: value for name, value in _claims(real).items() if name != claim}


# Each builds the headers from Alice's real claims, so that every token below is
# refused for the one reason its name gives.
FORGED = {
    "missing": lambda acct: {},
    "empty-bearer": lambda acct: {"Authorization": "Bearer"},
    "wrong-scheme": lambda acct: {"Authorization": "Basic YWxpY2U6cHc="},
    "garbage": lambda acct: bearer("garbage"),
    "three-garbage-parts": lambda acct: bearer("a.b.c"),
    "expired": lambda acct: bearer(
        _forged(_claims(acct, exp=datetime.now(UTC) - timedelta(minutes=1)))
    ),
    "wrong-signature": lambda acct: bearer(_forged(_claims(acct), key="another-secret-" * 4)),
    "alg-none": lambda acct: bearer(jwt.encode(_claims(acct), key=None, algorithm="none")),
    "other-algorithm": lambda acct: bearer(_forged(_claims(acct), algorithm="HS512")),
    "sub-not-integer": lambda acct: bearer(_forged(_claims(acct, sub="abc"))),
    "sub-decimal": lambda acct: bearer(_forged(_claims(acct, sub="1.5"))),
    "sub-out-of-range": lambda acct: bearer(_forged(_claims(acct, sub="99999999999"))),
    "no-such-user": lambda acct: bearer(_forged(_claims(acct, sub="42"))),
    "sub-not-a-string": lambda acct: bearer(_forged(_claims(acct, sub=1))),
    "no-exp": lambda acct: bearer(_forged(_without(acct, "exp"))),
    "no-sub": lambda acct: bearer(_forged(_without(acct, "sub"))),
    "no-iat": lambda acct: bearer(_forged(_without(acct, "iat"))),
    "no-account-key": lambda acct: bearer(_forged(_without(acct, "acct"))),
    "wrong-account-key": lambda acct: bearer(_forged(_claims(acct, acct="k" * 22))),
    "account-key-not-a-string": lambda acct: bearer(_forged(_claims(acct, acct=123))),
    "account-key-not-ascii": lambda acct: bearer(_forged(_claims(acct, acct="ключ"))),
    "old-version": lambda acct: bearer(_forged(_claims(acct, ver=-1))),
    "no-session": lambda acct: bearer(_forged(_without(acct, "sid"))),
    "unknown-session": lambda acct: bearer(_forged(_claims(acct, sid="s" * 43))),
    "session-not-a-string": lambda acct: bearer(_forged(_claims(acct, sid=7))),
}


def real_claims(account) -> dict:
    """The claims of the account's genuine token, for forging near-copies of it."""
    return jwt.decode(account.token, options={"verify_signature": False})


def test_a_token_forged_with_the_real_account_key_works(client, alice):
    """The control for the cases below: they fail for their reason, not another."""
    token = _forged(_claims(real_claims(alice)))
    assert client.get("/api/users/me", headers=bearer(token)).status_code == 200


@pytest.mark.parametrize("make_headers", FORGED.values(), ids=FORGED.keys())
def test_me_refuses_anything_but_a_valid_token(client, alice, make_headers):
    assert alice.id == 1  # the forged tokens above name this user
    response = client.get("/api/users/me", headers=make_headers(real_claims(alice)))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "email" not in response.text


def test_ids_of_deleted_accounts_and_posts_are_never_handed_out_again(client):
    """Finding 1 of the outside scan: SQLite gave a deleted account's id to the next
    sign-up, and the old account's token then worked for the new account."""
    first = make_account(client, "First")
    first_post = create_post(client, first)
    assert client.delete(f"/api/users/{first.id}", headers=first.headers).status_code == 204
    second = make_account(client, "Second")
    assert second.id > first.id
    assert client.get("/api/users/me", headers=first.headers).status_code == 401
    assert create_post(client, second)["id"] > first_post["id"]


def test_a_token_names_its_account_even_if_the_id_came_back(client, alice):
    """Tokens carry the account's random key, which dies with it: even a row that
    somehow came to have the same id (a restored backup, a hand-made insert) is not
    the account a token was issued for."""
    assert client.delete(f"/api/users/{alice.id}", headers=alice.headers).status_code == 204

    async def reuse_the_id() -> None:
        async with client.app_state["sessionmaker"]() as session:
            session.add(
                User(id=alice.id, username="Mallory", email="m@example.com", password_hash="x")
            )
            await session.commit()

    client.portal.call(reuse_the_id)
    assert client.get(f"/api/users/{alice.id}").json()["username"] == "Mallory"
    assert client.get("/api/users/me", headers=alice.headers).status_code == 401
    changed = client.patch(
        f"/api/users/{alice.id}", json={"username": "Eve"}, headers=alice.headers
    )
    assert changed.status_code == 401


def test_token_of_a_deleted_user_stops_working_at_once(client, alice):
    assert client.delete(f"/api/users/{alice.id}", headers=alice.headers).status_code == 204
    assert client.get("/api/users/me", headers=alice.headers).status_code == 401
    assert login(client, alice.email).status_code == 401


def test_tokens_carry_sub_exp_and_iat():
    claims = {"sub": "7", "acct": "k" * 22, "sid": "s" * 43}
    token = create_access_token(claims, expires_delta=timedelta(minutes=3))
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["sub"] == "7"
    assert payload["exp"] - payload["iat"] == 180
    assert verify_access_token(token) == (7, 0, "k" * 22, "s" * 43)


def test_a_new_registration_can_log_in_straight_away(client):
    register(client, "Carol", "carol@example.com")
    assert login(client, "carol@example.com", STRONG_PASSWORD).status_code == 200
