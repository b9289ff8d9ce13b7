"""Personal access tokens: a script's long-lived bearer token, limited to its scopes.

- A token is `ink_` and the base64url of TOKEN_BYTES random bytes (secret scanners
  recognise the prefix). It is shown once, when made; only its SHA-256 is stored.
- It works on the routes its scopes cover (auth.scoped) and nowhere else: every other
  bearer route answers 403 `insufficient_scope`, so whatever its scopes a token never
  changes the email or password, manages tokens, sessions, passkeys or 2FA, deletes the
  account, or acts as an admin.
- It ends when revoked, when it expires, on a password reset or change (`end_all`), when
  the account is suspended (deleted too, and refused while `suspended_at` is set) or
  deleted (the rows go with the account).
- Made, revoked, and first used from a client address not seen before: each goes into
  the security log and mails the owner a notice.
- Checking one is one read (web/hot_reads.PAT_CHECK, in auth.py); its `last_used_at` is
  written at most once per LAST_USED_EVERY.

Times come from the sessions' clock (accounts/sessions.utcnow), which tests move.
"""

import secrets
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from fastapi import Request, status
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import account_mail, security_log, sessions, tokens
from accounts.security_log import EventType
from database import lock_account, open_session, rows_changed
from errors.domain import DomainError
from models import PAT_USED_FROM_MAX, PersonalAccessToken, User

PREFIX = "ink_"
TOKEN_BYTES = 32
# Ours are 47 characters; anything much longer is not one of ours (never hashed).
TOKEN_MAX = 100
MAX_TOKENS = 50
EXPIRES_IN_DAYS_MAX = 365
LAST_USED_EVERY = timedelta(minutes=1)
# The client addresses remembered per token (the newest first).
ADDRESSES_KEPT = 5


class Scope(StrEnum):
    """What a token may do (a contract: never renamed)."""

    POSTS_READ = "posts:read"  # /api/users/me, your posts of every status
    POSTS_WRITE = "posts:write"  # create, edit, publish, delete your posts; upload images
    COMMENTS_WRITE = "comments:write"  # write, edit, delete your comments


def is_access_token(token: str) -> bool:
    return token.startswith(PREFIX)


def hash_of(token: str) -> str | None:
    """The digest a presented token is looked up by, or None for one that cannot be ours."""
    if len(token) > TOKEN_MAX or not token.isascii():
        return None
    return tokens.digest(token)


def too_many() -> DomainError:
    return DomainError(
        status.HTTP_409_CONFLICT,
        "too_many_access_tokens",
        f"An account has at most {MAX_TOKENS} access tokens; revoke one first",
    )


def _when() -> str:
    return sessions.utcnow().strftime("%d %B %Y at %H:%M UTC")


async def _notice(
    session: AsyncSession, user: User, subject: str, name: str, change: str, address: str = ""
) -> None:
    await account_mail.send(
        session,
        user,
        subject,
        "access_token.txt",
        chosen={"name": name},
        change=change,
        when=_when(),
        address=address,
    )


async def create(
    session: AsyncSession,
    request: Request,
    *,
    user: User,
    name: str,
    scopes: list[Scope],
    expires_in_days: int | None,
) -> tuple[PersonalAccessToken, str]:
    """A new token and its secret (never stored, never shown again). 409
    `too_many_access_tokens` past MAX_TOKENS. Committed with its event and notice."""
    await lock_account(session, user.id)
    now = sessions.utcnow()
    row = PersonalAccessToken(
        user_id=user.id,
        name=name,
        scopes=" ".join(sorted(set(scopes))),
        created_at=now,
        expires_at=now + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    secret = PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    row.token_hash = tokens.digest(secret)
    session.add(row)
    await session.flush()  # SQLite: the write lock, before counting (database.lock_account)
    count = await session.scalar(select(func.count()).where(PersonalAccessToken.user_id == user.id))
    if (count or 0) > MAX_TOKENS:
        raise too_many()
    await _notice(session, user, "An access token was made for your account", name, "made")
    await security_log.record(session, user.id, EventType.ACCESS_TOKEN_CREATED, request, name)
    await session.commit()
    return row, secret


async def list_tokens(session: AsyncSession, *, user_id: int) -> list[PersonalAccessToken]:
    """The account's tokens, the newest first (expired ones too, until revoked)."""
    return list(
        await session.scalars(
            select(PersonalAccessToken)
            .where(PersonalAccessToken.user_id == user_id)
            .order_by(PersonalAccessToken.id.desc())
        )
    )


async def revoke(session: AsyncSession, request: Request, *, user: User, token_id: int) -> None:
    """End one of the account's tokens at once (404 `access_token_not_found` for any
    other, someone else's included). Committed with its event and notice."""
    row = await session.scalar(
        select(PersonalAccessToken).where(
            PersonalAccessToken.id == token_id, PersonalAccessToken.user_id == user.id
        )
    )
    if row is None:
        raise DomainError(
            status.HTTP_404_NOT_FOUND, "access_token_not_found", "Access token not found"
        )
    await session.delete(row)
    await _notice(session, user, "An access token was revoked", row.name, "revoked")
    await security_log.record(session, user.id, EventType.ACCESS_TOKEN_REVOKED, request, row.name)
    await session.commit()


async def end_all(session: AsyncSession, *, user_id: int) -> None:
    """Delete every token of the account, in the caller's transaction (a password reset
    or change, a suspension)."""
    await session.execute(
        delete(PersonalAccessToken)
        .where(PersonalAccessToken.user_id == user_id)
        .execution_options(synchronize_session=False)
    )


def is_live(row: Any, now: datetime) -> bool:
    """Whether a checked token (web/hot_reads.PAT_CHECK's row) may be used now."""
    if row.expires_at is not None and now >= row.expires_at:
        return False
    return row.suspended_at is None


async def note_use(request: Request, row: Any, user: User, now: datetime) -> None:
    """After a good check: `last_used_at` (at most once per LAST_USED_EVERY), and the
    first use from an address not seen before (its event and notice, in a transaction of
    their own). Nothing is written on most requests."""
    address = sessions.client_address(request)
    seen = row.used_from.split()
    new_address = address not in seen
    stale = row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY
    if not (new_address or stale):
        return
    async with open_session(request) as session:
        if not new_address:
            await session.execute(
                update(PersonalAccessToken)
                .where(PersonalAccessToken.id == row.token_id)
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
            await session.commit()
            return
        kept = [address, *seen][:ADDRESSES_KEPT]
        while len(" ".join(kept)) > PAT_USED_FROM_MAX:
            kept.pop()
        # Compare-and-set: of two first uses at once, one tells the owner.
        changed = await rows_changed(
            session,
            update(PersonalAccessToken)
            .where(PersonalAccessToken.id == row.token_id)
            .where(PersonalAccessToken.used_from == row.used_from)
            .values(last_used_at=now, used_from=" ".join(kept))
            .execution_options(synchronize_session=False),
        )
        if changed != 1:
            return
        try:
            await _notice(
                session,
                user,
                "An access token was used from a new address",
                row.name,
                "used from a new address",
                address=address,
            )
        except DomainError:
            # The mail budget is spent: the address is not remembered, so a later use
            # tells the owner; the request itself goes on.
            await session.rollback()
            return
        await security_log.record(
            session, user.id, EventType.ACCESS_TOKEN_NEW_ADDRESS, request, row.name
        )
        await session.commit()
