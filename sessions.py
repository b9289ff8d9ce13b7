"""The session model: one row per sign-in, renewed by a rotating refresh token.

- An access token (a JWT, minutes long) names its session (`sid`); every protected
  request checks that the session is still live, so ending a session ends its access
  tokens at once, not when they expire.
- The refresh token (`<session id>.<secret>`) lives only in an HttpOnly, SameSite=Strict
  cookie scoped to /api/users; the database keeps a SHA-256 of the secret, never the
  secret. Each refresh rotates it (RFC 9700, section 4.14.2). The token it replaced is
  accepted again only within REFRESH_REUSE_INTERVAL_SECONDS (two tabs refreshing at
  once); presented later, it is a stolen copy and the whole session ends.
- A session ends at sign-out, at its absolute lifetime, after its idle timeout (no
  refresh), on a password change (all but the current one), and with the account.
- Ended and expired rows are deleted as new sessions start: no cron job.
"""

import hashlib
import hmac
import ipaddress
import secrets
from datetime import datetime, timedelta
from typing import Any, Protocol

from fastapi import HTTPException, Request, Response, status
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import contains_eager

from config import settings
from models import IP_MAX, USER_AGENT_MAX, User, UserSession, utcnow

REFRESH_COOKIE = "refresh_token"
# The cookie travels with the API's user routes only, never with page requests.
REFRESH_COOKIE_PATH = "/api/users"
REFRESH_SECRET_BYTES = 32
# Ended and expired sessions are kept this long (for the list and for reuse detection).
KEEP_ENDED = timedelta(days=1)


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def lifetime() -> timedelta:
    return timedelta(days=settings.session_lifetime_days)


def idle_timeout() -> timedelta:
    return timedelta(days=settings.session_idle_days)


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


def _client(request: Request) -> tuple[str, str]:
    user_agent = request.headers.get("user-agent", "")[:USER_AGENT_MAX]
    return user_agent.encode("utf-8", "replace").decode(), client_address(request)[:IP_MAX]


def _secure(request: Request) -> bool:
    """Secure cookies unless told otherwise, bar plain HTTP to a loopback host."""
    if settings.cookie_secure is not None:
        return settings.cookie_secure
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
        "secure": _secure(request),
        "httponly": True,
        "samesite": "strict",
    }


def set_refresh_cookie(request: Request, response: Response, row: UserSession, token: str) -> None:
    max_age = max(int((row.expires_at - utcnow()).total_seconds()), 0)
    response.set_cookie(REFRESH_COOKIE, token, max_age=max_age, **_cookie_attributes(request))


def clear_refresh_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(REFRESH_COOKIE, **_cookie_attributes(request))


def _new_secret() -> tuple[str, str]:
    secret = secrets.token_urlsafe(REFRESH_SECRET_BYTES)
    return secret, _token_hash(secret)


async def start(db: AsyncSession, user: User, request: Request) -> tuple[UserSession, str]:
    """A new session for `user`; returns it with its refresh token. Commits."""
    now = utcnow()
    await db.execute(
        delete(UserSession).where(
            or_(
                UserSession.revoked_at < now - KEEP_ENDED,
                UserSession.expires_at < now - KEEP_ENDED,
                UserSession.last_used_at < now - idle_timeout() - KEEP_ENDED,
            )
        )
    )
    secret, secret_hash = _new_secret()
    user_agent, ip = _client(request)
    row = UserSession(
        user_id=user.id,
        refresh_hash=secret_hash,
        created_at=now,
        last_used_at=now,
        expires_at=now + lifetime(),
        user_agent=user_agent,
        ip=ip,
    )
    db.add(row)
    await db.commit()
    return row, f"{row.id}.{secret}"


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


def _split(token: str | None) -> tuple[str, str] | None:
    session_id, dot, secret = (token or "").partition(".")
    if not dot or not session_id or not secret or len(token or "") > 200:
        return None
    return session_id, secret


async def _presented(db: AsyncSession, token: str | None) -> tuple[UserSession, str] | None:
    """The session a refresh token names, and the hash of the secret it presents."""
    parts = _split(token)
    row = await find(db, parts[0]) if parts else None
    return None if parts is None or row is None else (row, _token_hash(parts[1]))


def _matches(presented: str, stored: str | None) -> bool:
    return stored is not None and hmac.compare_digest(presented, stored)


async def holder(db: AsyncSession, token: str | None) -> UserSession | None:
    """The session whose current, or just replaced, refresh token this is (sign-out)."""
    found = await _presented(db, token)
    if found is None:
        return None
    row, presented = found
    return (
        row
        if _matches(presented, row.refresh_hash) or _matches(presented, row.previous_hash)
        else None
    )


def _gone() -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail="Session expired or ended")


async def revoke(db: AsyncSession, *conditions: object) -> None:
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
    a rotated token presented after the interval ends the session."""
    found = await _presented(db, token)
    now = utcnow()
    if found is None or not is_live(found[0], now):
        raise _gone()
    row, presented = found
    if _matches(presented, row.refresh_hash):
        secret, secret_hash = _new_secret()
        user_agent, ip = _client(request)
        rotated = await db.execute(
            update(UserSession)
            .where(
                UserSession.id == row.id,
                UserSession.refresh_hash == presented,
                UserSession.revoked_at.is_(None),
            )
            .values(
                refresh_hash=secret_hash,
                previous_hash=presented,
                rotated_at=now,
                last_used_at=now,
                user_agent=user_agent,
                ip=ip,
            )
            .execution_options(synchronize_session=False)
        )
        await db.commit()
        if rotated.rowcount == 1:
            return row, f"{row.id}.{secret}"
        row = await find(db, row.id)  # another request rotated it first
        if row is None or not is_live(row, now):
            raise _gone()
    if _matches(presented, row.previous_hash):
        interval = timedelta(seconds=settings.refresh_reuse_interval_seconds)
        if row.rotated_at is not None and now - row.rotated_at <= interval:
            return row, None
        await revoke(db, UserSession.id == row.id)  # reuse: the token was stolen
    raise _gone()
