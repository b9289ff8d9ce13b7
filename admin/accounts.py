"""Accounts as an admin sees them: searched, suspended and restored, promoted and
demoted (the last two from the server's shell only, manage.py).

A suspended account signs in by no method (web/signin.py), its sessions end at once,
and its posts leave the site for everyone but admins (content/visibility.py). There is
always at least one admin who is not suspended: the change that would leave none is
refused, however many admins try it at once (the admins' changes take turns, below).
"""

from datetime import datetime
from typing import NamedTuple

from fastapi import status
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import access_tokens, security_log, sessions
from accounts.roles import Role
from accounts.security_log import EventType
from accounts.users import get_user_or_404
from admin.actions import Action, record
from content.pagination import encode_id_cursor
from content.visibility import published
from database import advisory_lock
from errors.domain import DomainError
from models import Comment, Post, User, UserSession, fold, utcnow

# PostgreSQL advisory lock taken by every change that could leave no admin, so two
# admins suspending each other at once cannot both succeed (SQLite: the write lock).
ADMINS_LOCK = 0x1AD_0024
SEARCH_MAX = 120


def _last_admin() -> DomainError:
    return DomainError(
        status.HTTP_409_CONFLICT,
        "last_admin",
        "This would leave no admin who can sign in: promote another account first",
    )


async def _ensure_an_admin_remains(session: AsyncSession) -> None:
    """Counted after the caller's change is flushed: on SQLite that write took the
    database's write lock, on PostgreSQL the caller holds ADMINS_LOCK, so no other
    such change can slip in between the count and the commit."""
    remaining = await session.scalar(
        select(func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN, User.suspended_at.is_(None))
    )
    if not remaining:
        raise _last_admin()


async def suspend(session: AsyncSession, *, actor: User, user_id: int) -> None:
    """Suspend the account: no sign-in, every session ended, its posts hidden (the
    triggers of migration 0017 and 0015 hide them and turn the pages over in this same
    transaction), and the action logged; all one commit. Suspending a suspended
    account changes nothing."""
    await advisory_lock(session, ADMINS_LOCK)
    target = await get_user_or_404(session, user_id)
    if target.suspended_at is not None:
        return
    target.suspended_at = utcnow()
    await session.flush()
    if target.is_admin:
        await _ensure_an_admin_remains(session)
    record(session, actor=actor, action=Action.SUSPEND, target=target)
    # No request: the owner's log says that an admin acted, not from which address.
    await security_log.record(session, target.id, EventType.SUSPENDED, None)
    await access_tokens.end_all(session, user_id=target.id)
    # Ends every session (their access tokens with them) and commits it all.
    await sessions.revoke(session, UserSession.user_id == target.id)


async def restore(session: AsyncSession, *, actor: User, user_id: int) -> None:
    """Lift a suspension: the account may sign in again and its posts come back. Its
    ended sessions stay ended. Restoring an account that is not suspended changes
    nothing."""
    target = await get_user_or_404(session, user_id)
    if target.suspended_at is None:
        return
    target.suspended_at = None
    record(session, actor=actor, action=Action.RESTORE, target=target)
    await security_log.record(session, target.id, EventType.RESTORED, None)  # as above
    await session.commit()


class RoleChange(NamedTuple):
    user: User
    changed: bool


async def set_role(session: AsyncSession, *, email: str, role: Role) -> RoleChange | None:
    """Give the account with this email (any case) `role`, logged as the server shell's
    action; None if no account has it. Demoting the last admin is refused (409)."""
    await advisory_lock(session, ADMINS_LOCK)
    user = await session.scalar(select(User).where(User.email_key == fold(email.strip())))
    if user is None:
        return None
    if user.role == role:
        return RoleChange(user, changed=False)
    user.role = role
    await session.flush()
    if role != Role.ADMIN:
        await _ensure_an_admin_remains(session)
    action = Action.PROMOTE if role == Role.ADMIN else Action.DEMOTE
    record(session, actor=None, action=action, target=user)
    await session.commit()
    return RoleChange(user, changed=True)


class AccountRow(NamedTuple):
    id: int
    username: str
    email: str
    verified: bool
    role: str
    created_at: datetime
    suspended: bool
    post_count: int
    comment_count: int


class PageOfAccounts(NamedTuple):
    accounts: list[AccountRow]
    next_cursor: str | None


CURSOR_KIND = "admin-users"


async def search_accounts(
    session: AsyncSession, *, query: str | None, before: int | None, limit: int
) -> PageOfAccounts:
    """Accounts whose username or email contains `query` (folded as both are stored:
    any case), newest first, `limit` at a time below the id `before`. One statement
    for the page: each account's published posts (hidden or not) and its comments
    (published or waiting) are counted by subqueries along the user_id indexes, never
    one query per account."""
    post_count = (
        select(func.count())
        .where(Post.user_id == User.id, published())
        .correlate(User)
        .scalar_subquery()
    )
    comment_count = (
        select(func.count()).where(Comment.user_id == User.id).correlate(User).scalar_subquery()
    )
    statement = select(User, post_count, comment_count).order_by(User.id.desc()).limit(limit + 1)
    words = fold(query.strip()) if query else ""
    if words:
        statement = statement.where(
            or_(
                User.username_key.contains(words, autoescape=True),
                User.email_key.contains(words, autoescape=True),
            )
        )
    if before is not None:
        statement = statement.where(User.id < before)
    rows = [
        AccountRow(
            id=user.id,
            username=user.username,
            email=user.email,
            verified=user.email_verified,
            role=user.role,
            created_at=user.created_at,
            suspended=user.suspended_at is not None,
            post_count=posts,
            comment_count=comments,
        )
        for user, posts, comments in (await session.execute(statement)).all()
    ]
    if len(rows) <= limit:
        return PageOfAccounts(rows, None)
    return PageOfAccounts(rows[:limit], encode_id_cursor(CURSOR_KIND, rows[limit - 1].id))
