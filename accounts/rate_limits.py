"""How often an action that costs someone else something may be taken: a mail sent
to an address, for one. Password guesses have their own, stricter rule (accounts/throttle.py).

Each use is a row in `rate_limit_hits`, written in the transaction of the action
itself, so the count is exact across workers and machines: concurrent uses of one key
take turns (an advisory lock on PostgreSQL, the write lock on SQLite) from the check
to their commit, and a use whose transaction rolls back was never counted.
"""

import zlib
from collections.abc import Mapping
from datetime import timedelta

from fastapi import status
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.throttle import bounded_key
from database import advisory_lock
from errors.domain import DomainError
from models import RateLimitHit, utcnow

# Every limit counts the uses of the past hour.
WINDOW = timedelta(hours=1)
TOO_MANY = "Too many requests of this kind; try again later"


def _lock_id(key: str) -> int:
    """A stable 32-bit number for PostgreSQL's advisory locks (distinct keys may share
    one: they then wait for each other, which is harmless)."""
    return zlib.crc32(f"rate-limit:{key}".encode())


async def spend(
    session: AsyncSession,
    limits: Mapping[str, int],
    *,
    code: str = "rate_limited",
    detail: str = TOO_MANY,
) -> None:
    """Count one use against each key's hourly limit, or raise 429 with `Retry-After`
    if any key has none left: a `DomainError` with `code` and `detail`. Nothing is committed: the
    caller's commit records the use with whatever it is for, and a rollback forgets it."""
    limits = {bounded_key(key, RateLimitHit.key.type.length): n for key, n in limits.items()}
    now = utcnow()
    for key in sorted(limits):  # one order everywhere: no deadlock
        await advisory_lock(session, _lock_id(key))
    # On SQLite this first write takes the database's write lock until the commit.
    await session.execute(delete(RateLimitHit).where(RateLimitHit.at <= now - WINDOW))
    waits = []
    for key, limit in limits.items():
        # The limit-th newest use in the window: while there is one, the key has none
        # left, until that one leaves the window.
        blocking = await session.scalar(
            select(RateLimitHit.at)
            .where(RateLimitHit.key == key, RateLimitHit.at > now - WINDOW)
            .order_by(RateLimitHit.at.desc())
            .offset(limit - 1)
            .limit(1)
        )
        if blocking is not None:
            waits.append((blocking + WINDOW - now).total_seconds())
    if waits:
        headers = {"Retry-After": str(max(1, round(max(waits) + 0.5)))}
        raise DomainError(status.HTTP_429_TOO_MANY_REQUESTS, code, detail, headers=headers)
    session.add_all(RateLimitHit(key=key, at=now) for key in limits)
