"""What every single-use or long-lived secret of an account shares: made from the
operating system's randomness, stored only as a SHA-256 digest (a database leak gives
no working link, cookie or challenge), and its expired rows purged as new ones are
issued, so no cron job is needed."""

import hashlib
import secrets
from typing import Any

from sqlalchemy import ColumnElement, delete, or_
from sqlalchemy.ext.asyncio import AsyncSession


def digest(secret: str) -> str:
    """What is stored of a secret: its SHA-256, in hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(size: int) -> tuple[str, str]:
    """A URL-safe secret of `size` random bytes, and its digest."""
    secret = secrets.token_urlsafe(size)
    return secret, digest(secret)


async def purge(session: AsyncSession, model: Any, *expired: ColumnElement[bool]) -> None:
    """Delete `model`'s rows that match any of `expired`, without loading them (nor
    touching objects the session holds)."""
    await session.execute(
        delete(model).where(or_(*expired)), execution_options={"synchronize_session": False}
    )
