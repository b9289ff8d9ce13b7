"""Sessions: the refresh cookie, rotation and theft detection, sign-out, the sessions
list, and every way a session ends."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie

import jwt
import pytest
from sqlalchemy import func, select

from accounts import sessions, tokens
from config import get_settings
from models import UserSession
from tests.helpers import STRONG_PASSWORD, Account, bearer, login, make_account

REFRESH = "/api/users/token/refresh"


def refresh_cookie(response) -> SimpleCookie:
    cookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookie.load(header)
    return cookie


def use_cookie(client, token: str) -> None:
    """Make `token` the only refresh cookie the client holds."""
    client.cookies.clear()
    client.cookies.set("refresh_token", token)


def refresh(client, token: str | None = None, **headers):
    if token is not None:
        use_cookie(client, token)
    return client.post(REFRESH, headers=headers)


@pytest.fixture
def clock(monkeypatch) -> list[datetime]:
    """The sessions' clock, moved by hand."""
    now = [datetime.now(UTC)]
    monkeypatch.setattr(sessions, "utcnow", lambda: now[0])
    return now


def test_login_sets_a_strict_http_only_cookie_for_the_user_api_only(client, alice):
    response = login(client, alice.email)
    assert set(response.json()) == {"access_token", "token_type"}
    morsel = refresh_cookie(response)["refresh_token"]
    assert morsel["httponly"] is True
    assert morsel["secure"] is True
    assert morsel["samesite"].lower() == "strict"
    assert morsel["path"] == "/api/users"
    lifetime = get_settings().session_lifetime_days * 86400
    assert lifetime - 60 <= int(morsel["max-age"]) <= lifetime
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert {"sub", "sid", "ver", "iat", "exp"} <= set(claims)
    assert claims["exp"] - claims["iat"] == get_settings().access_token_expire_minutes * 60


def test_plain_http_to_localhost_gets_a_cookie_without_secure(client, alice):
    response = client.post(
        "http://localhost/api/users/token",
        data={"username": alice.email, "password": STRONG_PASSWORD},
    )
    assert refresh_cookie(response)["refresh_token"]["secure"] == ""


@pytest.mark.settings(access_token_expire_minutes=0.05)
def test_access_tokens_accept_fractional_minutes(client, alice):
    claims = jwt.decode(
        login(client, alice.email).json()["access_token"], options={"verify_signature": False}
    )
    assert claims["exp"] - claims["iat"] == 3


def test_refresh_rotates_the_token_and_answers_a_new_access_token(client, alice):
    first = refresh_cookie(login(client, alice.email))["refresh_token"].value
    renewed = refresh(client, first)
    assert renewed.status_code == 200
    assert renewed.headers["cache-control"] == "no-store"
    second = refresh_cookie(renewed)["refresh_token"].value
    assert second != first
    assert second.split(".")[0] == first.split(".")[0]  # the same session
    me = client.get("/api/users/me", headers=bearer(renewed.json()["access_token"]))
    assert me.json()["email"] == alice.email
    assert refresh(client, second).status_code == 200


def test_a_rotated_token_within_the_reuse_interval_is_a_second_tab(client, alice):
    first = refresh_cookie(login(client, alice.email))["refresh_token"].value
    assert refresh(client, first).status_code == 200
    again = refresh(client, first)  # another tab, at the same moment
    assert again.status_code == 200
    assert "refresh_token" not in refresh_cookie(again)  # the browser has the new one


def test_a_rotated_token_presented_later_ends_the_whole_session(client, alice, clock):
    first = refresh_cookie(login(client, alice.email))["refresh_token"].value
    renewed = refresh(client, first)
    second = refresh_cookie(renewed)["refresh_token"].value
    access = bearer(renewed.json()["access_token"])
    clock[0] += timedelta(seconds=get_settings().refresh_reuse_interval_seconds + 1)
    stolen = refresh(client, first)
    assert stolen.status_code == 401
    # Every token of the session is dead: the thief's, the owner's, the access token.
    assert refresh(client, second).status_code == 401
    assert client.get("/api/users/me", headers=access).status_code == 401
    # Other sessions are untouched.
    assert client.get("/api/users/me", headers=alice.headers).status_code == 200


def test_garbage_and_guessed_refresh_tokens_are_refused_without_harm(client, alice):
    token = refresh_cookie(login(client, alice.email))["refresh_token"].value
    session_id = token.split(".")[0]
    for bad in ("", "nodot", ".", f"{session_id}.guess", "x" * 300, f"{session_id}."):
        assert refresh(client, bad).status_code == 401
    client.cookies.clear()
    assert client.post(REFRESH).status_code == 401
    assert refresh(client, token).status_code == 200  # a wrong guess ended nothing


@pytest.mark.parametrize(
    "headers",
    [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}],
    ids=["origin", "fetch-metadata"],
)
def test_a_cross_site_refresh_is_refused_and_the_session_kept(client, alice, headers):
    token = refresh_cookie(login(client, alice.email))["refresh_token"].value
    refused = refresh(client, token, **headers)
    assert refused.status_code == 403
    assert refresh(client, token, Origin="https://testserver").status_code == 200


def test_logout_ends_the_session_and_clears_the_cookie(client, alice):
    response = login(client, alice.email)
    token = refresh_cookie(response)["refresh_token"].value
    access = bearer(response.json()["access_token"])
    use_cookie(client, token)
    out = client.post("/api/users/logout")
    assert out.status_code == 204
    cleared = refresh_cookie(out)["refresh_token"]
    assert cleared.value == ""
    assert cleared["path"] == "/api/users"
    assert client.get("/api/users/me", headers=access).status_code == 401
    assert refresh(client, token).status_code == 401
    client.cookies.clear()
    assert client.post("/api/users/logout").status_code == 204  # again: no error


def test_logout_with_only_the_bearer_token(client, alice):
    client.cookies.clear()
    assert client.post("/api/users/logout", headers=alice.headers).status_code == 204
    assert client.get("/api/users/me", headers=alice.headers).status_code == 401


def _sessions(client, account: Account) -> list[dict]:
    response = client.get("/api/users/me/sessions", headers=account.headers)
    assert response.status_code == 200
    return response.json()


def test_the_sessions_list_and_ending_one(client, alice, bob):
    phone = client.post(
        "/api/users/token",
        data={"username": alice.email, "password": STRONG_PASSWORD},
        headers={"User-Agent": "Phone/1.0"},
    ).json()["access_token"]
    listed = _sessions(client, alice)
    assert len(listed) == 2
    fields = {"id", "created_at", "last_used_at", "user_agent", "ip", "current", "auth_method"}
    assert set(listed[0]) == fields
    assert [s["current"] for s in listed].count(True) == 1
    assert listed[0]["user_agent"] == "Phone/1.0"  # the newest use first
    other = next(s for s in listed if not s["current"])

    bobs = _sessions(client, bob)[0]["id"]
    url = "/api/users/me/sessions/{}"
    assert client.delete(url.format(bobs), headers=alice.headers).status_code == 404
    assert client.delete(url.format("no-such-id"), headers=alice.headers).status_code == 404
    assert client.get("/api/users/me", headers=bob.headers).status_code == 200

    assert client.delete(url.format(other["id"]), headers=alice.headers).status_code == 204
    assert client.get("/api/users/me", headers=bearer(phone)).status_code == 401
    assert [s["current"] for s in _sessions(client, alice)] == [True]


def test_signing_out_everywhere_else(client, alice):
    others = [login(client, alice.email).json()["access_token"] for _ in range(3)]
    assert client.delete("/api/users/me/sessions", headers=alice.headers).status_code == 204
    for token in others:
        assert client.get("/api/users/me", headers=bearer(token)).status_code == 401
    assert client.get("/api/users/me", headers=alice.headers).status_code == 200
    assert len(_sessions(client, alice)) == 1


def test_deleting_the_account_ends_every_session(client):
    carol = make_account(client, "Carol")
    token = refresh_cookie(login(client, carol.email))["refresh_token"].value
    deleted = client.delete(f"/api/users/{carol.id}", headers=carol.headers)
    assert deleted.status_code == 204
    assert refresh_cookie(deleted)["refresh_token"].value == ""
    assert refresh(client, token).status_code == 401


def test_sessions_end_after_their_absolute_lifetime(client, alice, clock):
    token = refresh_cookie(login(client, alice.email))["refresh_token"].value
    for _ in range(int(get_settings().session_lifetime_days) // 5 - 1):  # used every 5 days...
        clock[0] += timedelta(days=5)
        renewed = refresh(client, token)
        assert renewed.status_code == 200
        token = refresh_cookie(renewed)["refresh_token"].value
    clock[0] += timedelta(days=5)  # ...until its lifetime is over
    assert refresh(client, token).status_code == 401


def test_sessions_end_after_their_idle_timeout(client, alice, clock):
    token = refresh_cookie(login(client, alice.email))["refresh_token"].value
    clock[0] += timedelta(days=get_settings().session_idle_days) - timedelta(minutes=1)
    renewed = refresh(client, token)
    assert renewed.status_code == 200
    token = refresh_cookie(renewed)["refresh_token"].value
    access = bearer(renewed.json()["access_token"])
    clock[0] += timedelta(days=get_settings().session_idle_days, minutes=1)
    assert client.get("/api/users/me", headers=access).status_code == 401
    assert refresh(client, token).status_code == 401


def test_ended_sessions_are_cleaned_up_as_new_ones_start(client, alice, clock):
    client.post("/api/users/logout", headers=alice.headers)
    clock[0] += timedelta(days=2)
    login(client, alice.email)

    async def count() -> int:
        async with client.app_state["sessionmaker"]() as session:
            return await session.scalar(select(func.count()).select_from(UserSession))

    assert client.portal.call(count) == 1


def test_tabs_refreshing_at_once_all_stay_signed_in(client, alice):
    """Many tabs, one cookie, the same moment: one rotates, the rest ride the interval."""
    token = refresh_cookie(login(client, alice.email))["refresh_token"].value
    use_cookie(client, token)
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda _: client.post(REFRESH).status_code, range(10)))
    assert statuses == [200] * 10


def test_any_earlier_token_of_the_chain_ends_the_session(client, alice, clock):
    """Rotating twice must not launder a stolen token (RFC 9700, 4.14.2): A -> B -> C,
    then A presented past the interval ends the session, and C no longer refreshes."""
    first = refresh_cookie(login(client, alice.email))["refresh_token"].value
    second = refresh_cookie(refresh(client, first))["refresh_token"].value
    renewed = refresh(client, second)
    third = refresh_cookie(renewed)["refresh_token"].value
    clock[0] += timedelta(seconds=get_settings().refresh_reuse_interval_seconds + 1)
    assert refresh(client, first).status_code == 401
    assert refresh(client, third).status_code == 401
    assert (
        client.get("/api/users/me", headers=bearer(renewed.json()["access_token"])).status_code
        == 401
    )


def test_an_earlier_token_ends_the_session_even_within_the_interval(client, alice):
    """Only the token just replaced rides the interval (a second tab); one from two
    rotations back can only be a copy."""
    first = refresh_cookie(login(client, alice.email))["refresh_token"].value
    second = refresh_cookie(refresh(client, first))["refresh_token"].value
    third = refresh_cookie(refresh(client, second))["refresh_token"].value
    assert refresh(client, first).status_code == 401
    assert refresh(client, third).status_code == 401


def test_a_forged_token_of_an_earlier_generation_ends_nothing(client, alice, clock):
    """The session id is no secret (it is in every access token): a token whose tag
    this server did not make proves nothing and must not end the session."""
    first = refresh_cookie(login(client, alice.email))["refresh_token"].value
    second = refresh_cookie(refresh(client, first))["refresh_token"].value
    clock[0] += timedelta(seconds=get_settings().refresh_reuse_interval_seconds + 1)
    session_id, _generation, nonce, tag = first.split(".")
    forged = [
        f"{session_id}.0.{nonce}.{'A' * len(tag)}",
        f"{session_id}.0.forged.{tag}",
        f"{session_id}.1.{nonce}.{tag}",
        f"{session_id}.-1.{nonce}.{tag}",
        f"{session_id}.0.{nonce}",
    ]
    for token in forged:
        assert refresh(client, token).status_code == 401, token
    assert refresh(client, second).status_code == 200


def test_a_token_from_before_generations_still_rotates_and_is_still_watched(client, alice, clock):
    """Cookies handed out before tokens carried a generation (`<id>.<secret>`) keep
    working after the upgrade, and their reuse still ends the session."""
    token = refresh_cookie(login(client, alice.email))["refresh_token"].value
    session_id = token.split(".")[0]
    old_secret = "an-old-style-secret"

    async def make_old_style() -> None:
        async with client.app_state["sessionmaker"]() as db:
            row = await db.get(UserSession, session_id)
            row.refresh_hash = tokens.digest(old_secret)
            row.generation = 0
            await db.commit()

    client.portal.call(make_old_style)
    old = f"{session_id}.{old_secret}"
    renewed = refresh(client, old)
    assert renewed.status_code == 200
    new = refresh_cookie(renewed)["refresh_token"].value
    assert new.split(".")[:2] == [session_id, "1"]
    clock[0] += timedelta(seconds=get_settings().refresh_reuse_interval_seconds + 1)
    assert refresh(client, old).status_code == 401
    assert refresh(client, new).status_code == 401


def test_a_refused_refresh_clears_its_cookie(client, alice):
    """The browser must stop sending a dead cookie: the 401 itself clears it."""
    for bad in ("bogus", "x.y", None):
        client.cookies.clear()
        if bad is not None:
            client.cookies.set("refresh_token", bad)
        refused = client.post(REFRESH)
        assert refused.status_code == 401
        assert refused.json() == {"detail": "Session expired or ended", "code": "session_ended"}
        cleared = refresh_cookie(refused)["refresh_token"]
        assert cleared.value == ""
        assert cleared["path"] == "/api/users"
        assert cleared["max-age"] == "0"


def test_live_sessions_per_account_are_capped_least_recently_used_first(
    client, alice, clock, monkeypatch
):
    monkeypatch.setattr(sessions, "MAX_SESSIONS", 3)
    tokens = []
    for _ in range(3):
        clock[0] += timedelta(seconds=1)
        tokens.append(refresh_cookie(login(client, alice.email))["refresh_token"].value)
    # The fixture's own session (the oldest) ended already: three remain.
    clock[0] += timedelta(seconds=1)
    refreshed = refresh_cookie(refresh(client, tokens[0]))["refresh_token"].value
    clock[0] += timedelta(seconds=1)
    newest = login(client, alice.email)
    listed = client.get(
        "/api/users/me/sessions", headers=bearer(newest.json()["access_token"])
    ).json()
    assert len(listed) == 3
    # tokens[1] was the least recently used: it ended; the refreshed one lives on.
    assert refresh(client, tokens[1]).status_code == 401
    assert refresh(client, refreshed).status_code == 200
    assert refresh(client, tokens[2]).status_code == 200
    assert client.get("/api/users/me", headers=alice.headers).status_code == 401
