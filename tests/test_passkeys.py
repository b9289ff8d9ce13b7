"""Passkeys through the API: both WebAuthn ceremonies against a software authenticator
in this process, checked by py_webauthn inside the app, on SQLite and PostgreSQL."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from pydantic import AnyHttpUrl
from sqlalchemy import func, select, update

from accounts import passkeys
from accounts.throttle import MAX_FAILURES_PER_EMAIL
from models import PasskeyChallenge, utcnow
from tests.helpers import bearer, login, make_account, run_sql, scalar
from tests.mail_server import Mailbox
from tests.soft_authenticator import SoftAuthenticator

ORIGIN = "https://testserver"  # the test client's own address, as PUBLIC_URL


pytestmark = pytest.mark.settings(public_url=AnyHttpUrl(ORIGIN))


@pytest.fixture
def device() -> SoftAuthenticator:
    return SoftAuthenticator(origin=ORIGIN)


def registration_options(client, account) -> dict:
    response = client.post(
        "/api/users/me/passkeys/options",
        json={"current_password": account.password},
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()


def finish_registration(client, account, answer: dict, name: str | None = "Laptop"):
    body = {"credential": answer} | ({"name": name} if name is not None else {})
    return client.post("/api/users/me/passkeys", json=body, headers=account.headers)


def add_passkey(client, account, device: SoftAuthenticator, name: str = "Laptop") -> dict:
    answer = device.create(registration_options(client, account))
    response = finish_registration(client, account, answer, name)
    assert response.status_code == 201, response.text
    return response.json()


def sign_in_options(client) -> dict:
    response = client.post("/api/users/token/passkey/options")
    assert response.status_code == 200, response.text
    return response.json()


def send_assertion(client, answer: dict):
    return client.post("/api/users/token/passkey", json={"credential": answer})


def sign_in(client, device: SoftAuthenticator, **changes):
    return send_assertion(client, device.get(sign_in_options(client), **changes))


def passkeys_of(client, account) -> list[dict]:
    response = client.get("/api/users/me/passkeys", headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


def refused_without_token(response, status: int, detail: str) -> None:
    assert response.status_code == status, response.text
    assert detail in response.json()["detail"]
    assert "access_token" not in response.json()
    assert "set-cookie" not in response.headers


# --- The whole way ------------------------------------------------------------------


def test_a_passkey_added_signs_in_like_a_password(client, mailbox: Mailbox, device):
    alice = make_account(client, "Alice")
    added = add_passkey(client, alice, device, "Phone")
    assert set(added) == {"id", "name", "created_at", "last_used_at"}
    assert added["name"] == "Phone"
    assert added["last_used_at"] is None
    assert "A passkey was added" in mailbox.wait_for(alice.email, 2)[-1].message["Subject"]

    client.cookies.clear()
    response = sign_in(client, device)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    token = response.json()["access_token"]
    assert response.json()["token_type"] == "bearer"
    assert client.get("/api/users/me", headers=bearer(token)).json()["email"] == alice.email
    # A session like any other: in the list, and renewable through its refresh cookie.
    assert "refresh_token" in client.cookies
    sessions = client.get("/api/users/me/sessions", headers=bearer(token)).json()
    assert sum(session["current"] for session in sessions) == 1
    assert len(sessions) == 2  # the password login of make_account, and this one
    assert client.post("/api/users/token/refresh").status_code == 200
    [listed] = passkeys_of(client, alice)
    assert listed["id"] == added["id"]
    assert listed["last_used_at"] is not None


def test_registration_options_ask_for_a_discoverable_credential(client, device):
    alice = make_account(client, "Alice")
    first = add_passkey(client, alice, device)
    options = registration_options(client, alice)
    assert options["rp"] == {"id": "testserver", "name": "Inkwell"}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["user"]["name"] == alice.email
    assert options["user"]["displayName"] == "Alice"
    # The user handle is random, not the email or the id.
    assert alice.email.encode().hex() not in options["user"]["id"]
    excluded = [credential["id"] for credential in options["excludeCredentials"]]
    assert excluded == [device.credentials[-1].credential_id_b64]
    assert first["id"] >= 1
    # A real authenticator refuses to make a second passkey for the same account.
    with pytest.raises(ValueError, match="excluded"):
        device.create(options)


def test_adding_a_passkey_needs_a_token_and_a_recent_session_or_the_password(client):
    """A fresh sign-in is recent (step-up: tests/test_step_up.py has the window); a
    `current_password` sent anyway is checked."""
    alice = make_account(client, "Alice")
    no_token = client.post("/api/users/me/passkeys/options", json={"current_password": "x"})
    assert no_token.status_code == 401
    for body in ({}, None):
        recent = client.post("/api/users/me/passkeys/options", json=body, headers=alice.headers)
        assert recent.status_code == 200, recent.text
    wrong = client.post(
        "/api/users/me/passkeys/options",
        json={"current_password": "not the password"},
        headers=alice.headers,
    )
    assert wrong.status_code == 400
    assert wrong.json()["detail"] == "Current password is incorrect"


def test_a_registration_answer_is_checked(client, device):
    alice = make_account(client, "Alice")
    cases = {
        "origin": ({"origin": "https://evil.example"}, "origin"),
        "rp id": ({"rp_id": "evil.example"}, "RP ID"),
    }
    for changes, detail in cases.values():
        answer = device.create(registration_options(client, alice), **changes)
        response = finish_registration(client, alice, answer)
        assert response.status_code == 400, response.text
        assert detail in response.json()["detail"]
    assert passkeys_of(client, alice) == []


def test_a_registration_challenge_is_single_use_and_the_askers_own(client, device):
    alice = make_account(client, "Alice")
    bob = make_account(client, "Bob")
    answer = device.create(registration_options(client, alice))
    # Bob cannot finish what Alice started, and his try spends nothing of hers.
    stolen = finish_registration(client, bob, answer)
    assert stolen.status_code == 400
    assert "expired or was already used" in stolen.json()["detail"]
    assert finish_registration(client, alice, answer).status_code == 201
    again = finish_registration(client, alice, answer)
    assert again.status_code == 400
    assert "expired or was already used" in again.json()["detail"]
    assert len(passkeys_of(client, alice)) == 1
    assert passkeys_of(client, bob) == []


def test_the_same_credential_cannot_be_registered_twice(client, device):
    alice = make_account(client, "Alice")
    add_passkey(client, alice, device)
    # An authenticator that ignores the exclusion list (or a hand-made answer).
    options = registration_options(client, alice)
    options["excludeCredentials"] = []
    credential = device.credentials[-1]
    answer = device.create(options, reuse=credential)
    response = finish_registration(client, alice, answer)
    assert response.status_code == 409
    assert response.json()["detail"] == "This passkey is already registered"


def test_an_expired_challenge_is_refused(client, device):
    alice = make_account(client, "Alice")
    add_passkey(client, alice, device)
    options = sign_in_options(client)
    run_sql(client, update(PasskeyChallenge).values(expires_at=utcnow() - timedelta(seconds=1)))
    refused_without_token(
        send_assertion(client, device.get(options)), 400, "expired or was already used"
    )


# --- Signing in: everything a forged or stale answer could get wrong ------------------


def test_a_replayed_assertion_gets_no_second_session(client, device):
    alice = make_account(client, "Alice")
    add_passkey(client, alice, device)
    answer = device.get(sign_in_options(client))
    assert send_assertion(client, answer).status_code == 200
    client.cookies.clear()
    refused_without_token(send_assertion(client, answer), 400, "expired or was already used")


def test_a_counter_that_does_not_grow_is_refused(client, device):
    alice = make_account(client, "Alice")
    add_passkey(client, alice, device)
    assert sign_in(client, device).status_code == 200  # count 1
    assert sign_in(client, device).status_code == 200  # count 2
    client.cookies.clear()
    # A fresh challenge signed with an old count: a cloned authenticator.
    refused_without_token(sign_in(client, device, sign_count=2), 401, "sign count")


def test_a_synced_passkey_without_a_counter_signs_in_again_and_again(client):
    device = SoftAuthenticator(origin=ORIGIN, counter_step=0)
    alice = make_account(client, "Alice")
    add_passkey(client, alice, device)
    for _ in range(3):
        assert sign_in(client, device).status_code == 200


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"origin": "https://evil.example"}, "origin"),
        ({"origin": "http://testserver"}, "origin"),
        ({"rp_id": "evil.example"}, "RP ID"),
        ({"user_verified": False}, "User verification is required"),
    ],
    ids=["other-site", "plain-http", "other-rp-id", "no-user-verification"],
)
def test_a_forged_or_unverified_assertion_is_refused(client, device, changes, detail):
    alice = make_account(client, "Alice")
    add_passkey(client, alice, device)
    client.cookies.clear()
    refused_without_token(sign_in(client, device, **changes), 401, detail)


def test_a_signature_by_another_key_is_refused(client, device):
    alice = make_account(client, "Alice")
    add_passkey(client, alice, device)
    impostor = SoftAuthenticator(origin=ORIGIN)
    impostor.create(registration_options(client, alice))  # a key the server never saw
    options = sign_in_options(client)
    answer = impostor.get(options)
    answer["id"] = answer["rawId"] = device.credentials[-1].credential_id_b64
    refused_without_token(send_assertion(client, answer), 401, "signature")


def test_an_unknown_passkey_is_refused(client, device):
    make_account(client, "Alice")
    stranger = SoftAuthenticator(origin=ORIGIN)
    stranger.create(
        {
            "rp": {"id": "testserver", "name": "Inkwell"},
            "user": {"id": "c29tZW9uZQ", "name": "x", "displayName": "x"},
            "challenge": "AAAA",
        }
    )
    refused_without_token(sign_in(client, stranger), 401, "not registered here")


def test_a_removed_passkey_signs_in_no_more(client, mailbox: Mailbox, device):
    alice = make_account(client, "Alice")
    passkey = add_passkey(client, alice, device, "Old phone")
    removed = client.delete(f"/api/users/me/passkeys/{passkey['id']}", headers=alice.headers)
    assert removed.status_code == 204
    notice = mailbox.wait_for(alice.email, 3)[-1]
    assert "A passkey was removed" in notice.message["Subject"]
    # Unnamed: the name is the account's text, and the address is not verified yet
    # (named once it is: test_mail_limits.py).
    assert "Old phone" not in notice.text
    client.cookies.clear()
    refused_without_token(sign_in(client, device), 401, "not registered here")


def test_a_passkey_naming_another_account_is_refused(client, device):
    alice = make_account(client, "Alice")
    bob = make_account(client, "Bob")
    add_passkey(client, alice, device)
    bobs_device = SoftAuthenticator(origin=ORIGIN)
    add_passkey(client, bob, bobs_device)
    answer = device.get(sign_in_options(client))
    answer["response"]["userHandle"] = bobs_device.get(sign_in_options(client))["response"][
        "userHandle"
    ]
    refused_without_token(send_assertion(client, answer), 401, "another account")


def test_a_sign_in_challenge_cannot_register_nor_the_reverse(client, device):
    alice = make_account(client, "Alice")
    add_passkey(client, alice, device)
    sign_in_challenge = sign_in_options(client)["challenge"]
    options = registration_options(client, alice)
    options["challenge"] = sign_in_challenge
    options["excludeCredentials"] = []
    response = finish_registration(client, alice, SoftAuthenticator(origin=ORIGIN).create(options))
    assert response.status_code == 400
    request_options = sign_in_options(client)
    request_options["challenge"] = registration_options(client, alice)["challenge"]
    refused_without_token(
        send_assertion(client, device.get(request_options)), 400, "expired or was already used"
    )


def test_failed_passkeys_spend_the_login_throttle(client, device):
    alice = make_account(client, "Alice")
    add_passkey(client, alice, device)
    client.cookies.clear()
    for _ in range(MAX_FAILURES_PER_EMAIL):
        assert sign_in(client, device, user_verified=False).status_code == 401
    throttled = sign_in(client, device)
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) > 0
    # The same budget as the password: guessing it is throttled now too.
    assert login(client, alice.email).status_code == 429


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"credential": {}},
        {"credential": {"id": "x", "rawId": "x", "type": "public-key", "response": {}}},
        {
            "credential": {
                "id": "x",
                "rawId": "x",
                "type": "other",
                "response": {"clientDataJSON": "", "authenticatorData": "", "signature": ""},
            }
        },
    ],
)
def test_a_malformed_sign_in_body_is_422(client, body):
    response = client.post("/api/users/token/passkey", json=body)
    assert response.status_code == 422
    assert "set-cookie" not in response.headers


def test_garbage_inside_a_well_formed_answer_is_a_clear_4xx(client, device):
    alice = make_account(client, "Alice")
    add_passkey(client, alice, device)
    answer = device.get(sign_in_options(client))
    not_base64 = {**answer, "rawId": "not base64!"}
    refused_without_token(send_assertion(client, not_base64), 400, "malformed")
    for field in ("clientDataJSON", "authenticatorData", "signature"):
        broken = {**answer, "response": {**answer["response"], field: "AAAA"}}
        response = send_assertion(client, broken)
        assert 400 <= response.status_code < 500, (field, response.text)
    registration = device.create({**registration_options(client, alice), "excludeCredentials": []})
    registration["response"]["attestationObject"] = "AAAA"
    response = finish_registration(client, alice, registration)
    assert response.status_code == 400


# --- Managing them ------------------------------------------------------------------


def test_passkeys_are_listed_renamed_and_removed_by_their_owner_only(client, device):
    alice = make_account(client, "Alice")
    bob = make_account(client, "Bob")
    first = add_passkey(client, alice, device, "Laptop")
    second = add_passkey(client, alice, SoftAuthenticator(origin=ORIGIN), "Key")
    assert [p["name"] for p in passkeys_of(client, alice)] == ["Laptop", "Key"]
    assert passkeys_of(client, bob) == []
    path = f"/api/users/me/passkeys/{first['id']}"

    renamed = client.patch(path, json={"name": "  Work laptop "}, headers=alice.headers)
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Work laptop"
    for name in ["", "   ", "x" * 61, "two\nlines", "tab\there"]:
        response = client.patch(path, json={"name": name}, headers=alice.headers)
        assert response.status_code == 422, name
    assert client.patch(path, json={}, headers=alice.headers).status_code == 422

    # Someone else's passkey does not exist for Bob, nor does an unknown one.
    assert client.patch(path, json={"name": "Mine"}, headers=bob.headers).status_code == 404
    assert client.delete(path, headers=bob.headers).status_code == 404
    assert client.delete("/api/users/me/passkeys/999999", headers=alice.headers).status_code == 404
    assert client.get("/api/users/me/passkeys").status_code == 401
    assert client.delete(path).status_code == 401

    assert client.delete(path, headers=alice.headers).status_code == 204
    assert client.delete(path, headers=alice.headers).status_code == 404
    assert [p["id"] for p in passkeys_of(client, alice)] == [second["id"]]


def test_a_name_is_optional(client, device):
    alice = make_account(client, "Alice")
    answer = device.create(registration_options(client, alice))
    response = finish_registration(client, alice, answer, name=None)
    assert response.status_code == 201
    assert response.json()["name"] == "Passkey"


def test_an_account_deleted_takes_its_passkeys(client, device):
    alice = make_account(client, "Alice")
    add_passkey(client, alice, device)
    assert client.delete(f"/api/users/{alice.id}", headers=alice.headers).status_code == 204
    refused_without_token(sign_in(client, device), 401, "not registered here")


def test_one_client_holds_only_a_few_challenges(client):
    for _ in range(25):
        sign_in_options(client)
    assert scalar(client, select(func.count()).select_from(PasskeyChallenge)) == 10


@pytest.mark.settings(public_url=None)
def test_without_public_url_the_origin_is_the_servers_own_address(client):
    """Development: localhost at the port the server listens on, whatever Host says."""
    alice = make_account(client, "Alice")
    local = "http://localhost:8000"
    forged = {"Host": "evil.example:9999"}
    options = client.post(
        f"{local}/api/users/me/passkeys/options",
        json={"current_password": alice.password},
        headers=alice.headers | forged,
    ).json()
    assert options["rp"]["id"] == "localhost"
    device = SoftAuthenticator(origin=local)
    created = client.post(
        f"{local}/api/users/me/passkeys",
        json={"credential": device.create(options)},
        headers=alice.headers | forged,
    )
    assert created.status_code == 201, created.text

    def attempt(origin: str):
        options = client.post(f"{local}/api/users/token/passkey/options", headers=forged).json()
        assert options["rpId"] == "localhost"
        return client.post(
            f"{local}/api/users/token/passkey",
            json={"credential": device.get(options, origin=origin)},
            headers=forged,
        )

    assert attempt("http://evil.example:9999").status_code == 401
    assert attempt(local).status_code == 200


def test_the_passkey_cap_holds_when_stored_not_only_when_asked(client, alice, monkeypatch):
    """Options for ten passkeys asked first and answered after used to slip past the cap,
    which was checked only when options were given: it holds where passkeys are stored."""
    monkeypatch.setattr(passkeys, "MAX_PASSKEYS", 2)
    options = [registration_options(client, alice) for _ in range(4)]
    answers = [SoftAuthenticator(origin=ORIGIN).create(each) for each in options]
    statuses = [finish_registration(client, alice, answer).status_code for answer in answers]
    assert statuses == [201, 201, 400, 400]
    assert len(passkeys_of(client, alice)) == 2


def test_passkeys_stored_at_once_never_exceed_the_cap(client, alice, monkeypatch):
    monkeypatch.setattr(passkeys, "MAX_PASSKEYS", 3)
    options = [registration_options(client, alice) for _ in range(8)]
    answers = [SoftAuthenticator(origin=ORIGIN).create(each) for each in options]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(lambda answer: finish_registration(client, alice, answer), answers)
        )
    assert sorted(response.status_code for response in statuses) == [201] * 3 + [400] * 5
    refused = next(response for response in statuses if response.status_code == 400)
    assert refused.json()["code"] == "too_many_passkeys"
    assert len(passkeys_of(client, alice)) == 3


def test_a_suspended_account_cannot_sign_in_with_its_passkey(client, device):
    """Refused only once the passkey has proven who it is: 403, no token, no cookie."""
    alice = make_account(client, "Alice")
    add_passkey(client, alice, device)
    suspended = "UPDATE users SET suspended_at = CURRENT_TIMESTAMP WHERE id = :id"
    run_sql(client, suspended, id=alice.id)
    client.cookies.clear()
    response = sign_in(client, device)
    assert (response.status_code, response.json()["code"]) == (403, "account_suspended")
    assert "access_token" not in response.json()
    assert "refresh_token" not in client.cookies
    run_sql(client, "UPDATE users SET suspended_at = NULL WHERE id = :id", id=alice.id)
    assert sign_in(client, device).status_code == 200
