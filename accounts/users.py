"""Accounts as rows: finding one, and keeping usernames and emails unique whatever
their case (checked first for a clear answer, enforced by the database at commit)."""

from fastapi import status
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from errors.domain import DomainError
from models import User, fold


async def ensure_available(
    session: AsyncSession, *, username: str | None, email: str | None, exclude_id: int | None = None
) -> None:
    """409 if another account already has this username or email, whatever its case."""
    username_key = fold(username) if username else None
    email_key = fold(email) if email else None
    conditions = [
        column == key
        for column, key in ((User.username_key, username_key), (User.email_key, email_key))
        if key
    ]
    if not conditions:
        return
    query = select(User.username_key, User.email_key).where(or_(*conditions))
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    taken = (await session.execute(query)).all()
    if any(row.username_key == username_key for row in taken):
        raise DomainError(status.HTTP_409_CONFLICT, "username_taken", "Username already exists")
    if taken:
        raise DomainError(status.HTTP_409_CONFLICT, "email_taken", "Email already registered")


async def commit_unique(
    session: AsyncSession, *, username: str | None, email: str | None, exclude_id: int | None = None
) -> None:
    """Commit; if a concurrent request took the name or email first, answer as the
    pre-check would have, so the database constraint is the final word."""
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        await ensure_available(session, username=username, email=email, exclude_id=exclude_id)
        raise DomainError(
            status.HTTP_409_CONFLICT, "username_or_email_taken", "Username or email already taken"
        ) from None


async def get_user_or_404(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise DomainError(status.HTTP_404_NOT_FOUND, "user_not_found", "User not found")
    return user


def ensure_self(current_user: User, user: User) -> None:
    """Only the account itself may change it."""
    if user.id != current_user.id:
        raise DomainError(
            status.HTTP_403_FORBIDDEN, "not_your_account", "Not authorized to change this user"
        )
