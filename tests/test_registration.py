"""POST /api/users: sign-up, and every way it can be refused."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.helpers import STRONG_PASSWORD, register


def test_register_returns_the_private_user(client):
    response = register(client, "Alice", "Alice.Smith@Example.COM")
    assert response.status_code == 201
    body = response.json()
    assert body == {
        "id": body["id"],
        "username": "Alice",
        "email": "alice.smith@example.com",
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


def test_register_keeps_username_casing_and_trims(client):
    assert register(client, "  McAlice  ", "m@example.com").json()["username"] == "McAlice"


@pytest.mark.parametrize("taken", ["alice", "ALICE", "aLiCe", "Ａｌｉｃｅ"])
def test_username_is_unique_whatever_its_case_or_width(client, taken):
    assert register(client, "Alice", "first@example.com").status_code == 201
    response = register(client, taken, "second@example.com")
    assert response.status_code == 409
    assert response.json() == {"detail": "Username already exists", "code": "username_taken"}


def test_username_uniqueness_folds_beyond_ascii(client):
    assert register(client, "Straße", "first@example.com").status_code == 201
    response = register(client, "STRASSE", "second@example.com")
    assert response.json() == {"detail": "Username already exists", "code": "username_taken"}


@pytest.mark.parametrize("taken", ["alice@example.com", "ALICE@EXAMPLE.COM", "Alice@Example.com"])
def test_email_is_unique_whatever_its_case(client, taken):
    assert register(client, "Alice", "alice@example.com").status_code == 201
    response = register(client, "Someone", taken)
    assert response.status_code == 409
    assert response.json() == {"detail": "Email already registered", "code": "email_taken"}


def test_duplicate_refusals_do_not_change_the_first_account(client):
    first = register(client, "Alice", "alice@example.com").json()
    register(client, "alice", "other@example.com")
    assert client.get(f"/api/users/{first['id']}").json()["username"] == "Alice"
    assert client.get(f"/api/users/{first['id'] + 1}").status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "Alice", "email": "a@example.com", "password": "short"}, "password"),
        ({"username": "Alice", "email": "not-an-email", "password": STRONG_PASSWORD}, "email"),
        ({"username": "", "email": "a@example.com", "password": STRONG_PASSWORD}, "username"),
        ({"username": "   ", "email": "a@example.com", "password": STRONG_PASSWORD}, "username"),
        ({"username": "x" * 51, "email": "a@example.com", "password": STRONG_PASSWORD}, "username"),
        ({"email": "a@example.com", "password": STRONG_PASSWORD}, "username"),
        ({"username": "Alice", "email": "a@example.com"}, "password"),
    ],
)
def test_invalid_registration_is_422_naming_the_field(client, payload, field):
    response = client.post("/api/users", json=payload)
    assert response.status_code == 422
    assert field in {error["loc"][-1] for error in response.json()["detail"]}
    assert client.get("/api/users/1").status_code == 404


def test_malformed_json_is_422(client):
    response = client.post(
        "/api/users", content=b'{"username": "Alice",', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_unknown_fields_are_refused_not_assigned(client):
    payload = {"username": "Alice", "email": "a@example.com", "password": STRONG_PASSWORD}
    response = client.post("/api/users", json=payload | {"id": 99, "password_hash": "x"})
    assert response.status_code == 422
    assert {error["loc"][-1] for error in response.json()["detail"]} == {"id", "password_hash"}


def test_concurrent_sign_ups_of_one_email_make_exactly_one_user(client):
    emails = ["race@example.com", "RACE@example.com", "Race@Example.com", "race@EXAMPLE.COM"] * 5

    def sign_up(numbered: tuple[int, str]):
        number, email = numbered
        return register(client, f"racer{number}", email).status_code

    with ThreadPoolExecutor(max_workers=len(emails)) as pool:
        statuses = list(pool.map(sign_up, enumerate(emails)))
    assert sorted(statuses) == [201] + [409] * (len(emails) - 1)
    users = [client.get(f"/api/users/{i}") for i in range(1, len(emails) + 2)]
    assert [r.status_code for r in users].count(200) == 1
