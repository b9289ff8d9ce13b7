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
from typing import NamedTuple

from fastapi import status
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.throttle import bounded_key
from config import get_settings
from database import advisory_lock
from errors.domain import DomainError
from models import RateLimitHit, utcnow

# A limit counts the uses of the past hour unless it names another window; no window
# is longer than LONGEST_WINDOW, which is how long a use is kept.
WINDOW = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)
LONGEST_WINDOW = DAY
TOO_MANY = "Too many requests of this kind; try again later"


class Limit(NamedTuple):
    """`uses` in any `window` (a plain int in `spend`'s limits is uses per hour)."""

    uses: int
    window: timedelta = WINDOW


def _lock_id(key: str) -> int:
    """A stable 32-bit number for PostgreSQL's advisory locks (distinct keys may share
    one: they then wait for each other, which is harmless)."""
    return zlib.crc32(f"rate-limit:{key}".encode())


async def spend(
    session: AsyncSession,
    limits: Mapping[str, int | Limit],
    *,
    code: str = "rate_limited",
    detail: str = TOO_MANY,
) -> None:
    """Count one use against each key's limit (per hour, or per its `Limit`'s window), or
    raise 429 with `Retry-After` if any key has none left: a `DomainError` with `code` and
    `detail`. Nothing is committed: the caller's commit records the use with whatever it
    is for, and a rollback forgets it. One key has one window: two limits of one action
    (a minute's and a day's) are two keys."""
    checked = {
        bounded_key(key, RateLimitHit.key.type.length): (
            limit if isinstance(limit, Limit) else Limit(limit)
        )
        for key, limit in limits.items()
    }
    if any(limit.window > LONGEST_WINDOW for limit in checked.values()):
        raise ValueError(f"a rate limit's window is at most {LONGEST_WINDOW}")
    now = utcnow()
    for key in sorted(checked):  # one order everywhere: no deadlock
        await advisory_lock(session, _lock_id(key))
    # On SQLite this first write takes the database's write lock until the commit.
    await session.execute(delete(RateLimitHit).where(RateLimitHit.at <= now - LONGEST_WINDOW))
    waits = []
    for key, (uses, window) in checked.items():
        # The uses-th newest use in the window: while there is one, the key has none
        # left, until that one leaves the window.
        blocking = await session.scalar(
            select(RateLimitHit.at)
            .where(RateLimitHit.key == key, RateLimitHit.at > now - window)
            .order_by(RateLimitHit.at.desc())
            .offset(uses - 1)
            .limit(1)
        )
        if blocking is not None:
            waits.append((blocking + window - now).total_seconds())
    if waits:
        headers = {"Retry-After": str(max(1, round(max(waits) + 0.5)))}
        raise DomainError(status.HTTP_429_TOO_MANY_REQUESTS, code, detail, headers=headers)
    session.add_all(RateLimitHit(key=key, at=now) for key in checked)


# New accounts per client address and hour (SIGNUPS_PER_HOUR), whichever way they are
# made (the register form, a provider's sign-in).
SIGN_UP_LIMIT = "sign_up_limit"
SIGN_UP_LIMIT_DETAIL = (
    "Too many sign-ups from your network address in the past hour; try again later"
)


async def spend_sign_up(session: AsyncSession, client_address: str) -> None:
    """One new account from `client_address` (SIGNUPS_PER_HOUR), whichever way it is
    made: 429 `sign_up_limit` once they are spent."""
    await spend(
        session,
        {f"sign-up-client:{client_address}": get_settings().signups_per_hour},
        code=SIGN_UP_LIMIT,
        detail=SIGN_UP_LIMIT_DETAIL,
    )
