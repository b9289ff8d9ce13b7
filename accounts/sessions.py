"""The session model: one row per sign-in, renewed by a rotating refresh token.

- An access token (a JWT, minutes long) names its session (`sid`); every protected
  request checks that the session is still live, so ending a session ends its access
  tokens at once, not when they expire.
- The refresh token (`<session id>.<generation>.<nonce>.<tag>`) lives only in an
  HttpOnly, SameSite=Strict cookie scoped to /api/users; the database keeps a SHA-256
  of its secret part, never the secret. Each refresh rotates it (RFC 9700, section
  4.14.2) and counts one generation up. The token it replaced is accepted again only
  within REFRESH_REUSE_INTERVAL_SECONDS (two tabs refreshing at once). Any earlier
  token of the chain presented later is a stolen copy and the whole session ends:
  the tag, a MAC over the session, generation and nonce with a key derived from
  SECRET_KEY, proves that the server issued it, so only the current hash need be
  stored, and a forged token (the session id is no secret) ends nothing.
- An account keeps at most MAX_SESSIONS live sessions: a sign-in beyond that ends the
  least recently used.
- A session ends at sign-out, at its absolute lifetime, after its idle timeout (no
  refresh), on a password change (all but the current one), and with the account.
- Ended and expired rows are deleted as new sessions start: no cron job.
"""

import base64
import hashlib
import hmac
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from fastapi import Request, Response, status
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager

from accounts import tokens
from config import get_settings
from database import lock_account, rows_changed
from errors.domain import DomainError
from models import IP_MAX, USER_AGENT_MAX, User, UserSession, new_session_id

# The sessions' clock, which tests move by hand; auth.py reads it from here too.
from models import utcnow as utcnow

REFRESH_COOKIE = "refresh_token"
# The cookie travels with the API's user routes only, never with page requests.
REFRESH_COOKIE_PATH = "/api/users"
REFRESH_SECRET_BYTES = 32
REFRESH_TAG_BYTES = 16
# Ours are about 110 characters; anything much longer is not one of ours.
REFRESH_TOKEN_MAX = 200
# Live sessions an account keeps; a sign-in beyond this ends the least recently used.
MAX_SESSIONS = 50
# Ended and expired sessions are kept this long (for the list and for reuse detection).
KEEP_ENDED = timedelta(days=1)


def lifetime() -> timedelta:
    return timedelta(days=get_settings().session_lifetime_days)


def idle_timeout() -> timedelta:
    return timedelta(days=get_settings().session_idle_days)


class SessionTimes(Protocol):
    """What liveness depends on: a UserSession, or a row read without the ORM."""

    revoked_at: datetime | None
    expires_at: datetime
    last_used_at: datetime


def is_live(row: SessionTimes, now: datetime) -> bool:
    return (
        row.revoked_at is None and now < row.expires_at and now < row.last_used_at + idle_timeout()
    )


def client_address(request: Request) -> str:
    """The client's address; behind the proxy in deploy/, uvicorn takes it from
    X-Forwarded-For (see the README's production section)."""
    return request.client.host if request.client else ""


def client_details(request: Request) -> tuple[str, str]:
    user_agent = request.headers.get("user-agent", "")[:USER_AGENT_MAX]
    return user_agent.encode("utf-8", "replace").decode(), client_address(request)[:IP_MAX]


def cookie_is_secure(request: Request) -> bool:
    """Secure cookies unless told otherwise, bar plain HTTP to a loopback host."""
    configured = get_settings().cookie_secure
    if configured is not None:
        return configured
    if request.url.scheme == "https":
        return True
    host = (request.url.hostname or "").strip("[]")
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def _cookie_attributes(request: Request) -> dict[str, Any]:
    """One set of attributes for setting and clearing: a browser only clears a cookie
    whose path (and flags) match."""
    return {
        "path": REFRESH_COOKIE_PATH,
        "secure": cookie_is_secure(request),
        "httponly": True,
        "samesite": "strict",
    }


def set_refresh_cookie(request: Request, response: Response, row: UserSession, token: str) -> None:
    max_age = max(int((row.expires_at - utcnow()).total_seconds()), 0)
    response.set_cookie(REFRESH_COOKIE, token, max_age=max_age, **_cookie_attributes(request))


def clear_refresh_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(REFRESH_COOKIE, **_cookie_attributes(request))


def _tag(session_id: str, generation: int, nonce: str) -> str:
    message = f"{session_id}.{generation}.{nonce}".encode()
    mac = hmac.new(get_settings().derived_key("refresh token"), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:REFRESH_TAG_BYTES]).rstrip(b"=").decode()


def _new_token(session_id: str, generation: int) -> tuple[str, str]:
    """A refresh token for this generation of the session, and the hash to store."""
    nonce = secrets.token_urlsafe(REFRESH_SECRET_BYTES)
    secret = f"{nonce}.{_tag(session_id, generation, nonce)}"
    return f"{session_id}.{generation}.{secret}", tokens.digest(secret)


@dataclass(frozen=True)
class Presented:
    """What a refresh cookie claims to be."""

    session_id: str
    # None for a token made before generations (`<session id>.<secret>`).
    generation: int | None
    secret_hash: str
    # Whether its tag proves that this server issued it (never, before generations).
    genuine: bool


def _parse(token: str | None) -> Presented | None:
    if not token or len(token) > REFRESH_TOKEN_MAX:
        return None
    parts = token.split(".")
    if len(parts) == 2 and all(parts):  # from before generations
        return Presented(parts[0], None, tokens.digest(parts[1]), genuine=False)
    if len(parts) != 4 or not all(parts):
        return None
    session_id, generation, nonce, tag = parts
    if not (generation.isascii() and generation.isdigit() and len(generation) <= 9):
        return None
    genuine = hmac.compare_digest(tag.encode(), _tag(session_id, int(generation), nonce).encode())
    return Presented(session_id, int(generation), tokens.digest(f"{nonce}.{tag}"), genuine)


async def start(
    db: AsyncSession, user: User, request: Request, method: str = "password"
) -> tuple[UserSession, str]:
    """A new session for `user`, which signed in by `method` (a SignInMethod); returns
    it with its refresh token. Commits. Past
    MAX_SESSIONS live ones, the least recently used end (checked in the transaction
    that stores, one sign-in of the account at a time)."""
    now = utcnow()
    await tokens.purge(
        db,
        UserSession,
        UserSession.revoked_at < now - KEEP_ENDED,
        UserSession.expires_at < now - KEEP_ENDED,
        UserSession.last_used_at < now - idle_timeout() - KEEP_ENDED,
    )
    await lock_account(db, user.id)
    session_id = new_session_id()
    token, secret_hash = _new_token(session_id, 0)
    user_agent, ip = client_details(request)
    row = UserSession(
        id=session_id,
        generation=0,
        user_id=user.id,
        refresh_hash=secret_hash,
        created_at=now,
        last_used_at=now,
        expires_at=now + lifetime(),
        user_agent=user_agent,
        ip=ip,
        authenticated_at=now,
        auth_method=method,
    )
    db.add(row)
    await db.flush()  # on SQLite, takes the write lock before counting
    live = (
        UserSession.user_id == user.id,
        UserSession.revoked_at.is_(None),
        UserSession.expires_at > now,
        UserSession.last_used_at > now - idle_timeout(),
    )
    newest = (
        select(UserSession.id)
        .where(*live)
        .order_by(UserSession.last_used_at.desc(), UserSession.created_at.desc())
        .limit(MAX_SESSIONS)
    )
    await db.execute(
        update(UserSession)
        .where(*live, UserSession.id.not_in(newest.scalar_subquery()))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    await db.commit()
    return row, token


async def find(db: AsyncSession, session_id: str) -> UserSession | None:
    """The session and its user, in one query, as the database has them now: read
    again after a lost rotation race, a row already in this session must not keep the
    values from before the winner's commit (sessions never expire on commit here)."""
    query = (
        select(UserSession)
        .join(UserSession.user)
        .options(contains_eager(UserSession.user))
        .where(UserSession.id == session_id)
        .execution_options(populate_existing=True)
    )
    return await db.scalar(query)


async def _presented(db: AsyncSession, token: str | None) -> tuple[UserSession, Presented] | None:
    """The session a refresh token names, and what the token presents."""
    presented = _parse(token)
    row = await find(db, presented.session_id) if presented else None
    return None if presented is None or row is None else (row, presented)


def _matches(presented: str, stored: str | None) -> bool:
    return stored is not None and hmac.compare_digest(presented, stored)


def _is_current(row: UserSession, token: Presented) -> bool:
    same_generation = token.generation in (None, row.generation)
    return same_generation and _matches(token.secret_hash, row.refresh_hash)


def _is_previous(row: UserSession, token: Presented) -> bool:
    same_generation = token.generation in (None, row.generation - 1)
    return same_generation and _matches(token.secret_hash, row.previous_hash)


def _is_earlier(row: UserSession, token: Presented) -> bool:
    """A token this server issued for this session before its current one."""
    if token.generation is None:  # from before generations: only the previous is known
        return _matches(token.secret_hash, row.previous_hash)
    return token.genuine and token.generation < row.generation


async def holder(db: AsyncSession, token: str | None) -> UserSession | None:
    """The session whose current, or just replaced, refresh token this is (sign-out)."""
    found = await _presented(db, token)
    if found is None:
        return None
    row, presented = found
    return row if _is_current(row, presented) or _is_previous(row, presented) else None


def _gone() -> DomainError:
    return DomainError(status.HTTP_401_UNAUTHORIZED, "session_ended", "Session expired or ended")


async def mark_authenticated(db: AsyncSession, session_id: str) -> None:
    """The session just proved again who uses it (a reauthentication): sensitive
    actions may go ahead for REAUTH_WINDOW_MINUTES. Not committed here."""
    await db.execute(
        update(UserSession)
        .where(UserSession.id == session_id)
        .values(authenticated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


async def revoke(db: AsyncSession, *conditions: ColumnElement[bool]) -> None:
    await db.execute(
        update(UserSession)
        .where(UserSession.revoked_at.is_(None), *conditions)
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    await db.commit()


async def refresh(
    db: AsyncSession, token: str | None, request: Request
) -> tuple[UserSession, str | None]:
    """Rotate the refresh token: the session and its new token, or (within the reuse
    interval, for a token just rotated by another tab) no new token. 401 otherwise;
    an earlier token of the session presented after the interval ends the session."""
    found = await _presented(db, token)
    now = utcnow()
    if found is None or not is_live(found[0], now):
        raise _gone()
    row, presented = found
    if presented.generation is not None and not presented.genuine:
        raise _gone()  # not made here: a guess at a session id ends nothing
    if _is_current(row, presented):
        generation = row.generation + 1
        new_token, secret_hash = _new_token(row.id, generation)
        user_agent, ip = client_details(request)
        rotated = await rows_changed(
            db,
            update(UserSession)
            .where(
                UserSession.id == row.id,
                UserSession.refresh_hash == presented.secret_hash,
                UserSession.generation == row.generation,
                UserSession.revoked_at.is_(None),
            )
            .values(
                refresh_hash=secret_hash,
                previous_hash=presented.secret_hash,
                generation=generation,
                rotated_at=now,
                last_used_at=now,
                user_agent=user_agent,
                ip=ip,
            )
            .execution_options(synchronize_session=False),
        )
        await db.commit()
        if rotated == 1:
            return row, new_token
        current = await find(db, row.id)  # another request rotated it first
        if current is None or not is_live(current, now):
            raise _gone()
        row = current
    interval = timedelta(seconds=get_settings().refresh_reuse_interval_seconds)
    just_rotated = row.rotated_at is not None and now - row.rotated_at <= interval
    if _is_previous(row, presented) and just_rotated:
        return row, None
    if _is_earlier(row, presented):
        await revoke(db, UserSession.id == row.id)  # reuse: the token was stolen
    raise _gone()
