"""Password-guess throttling, per account and per client.

After MAX_FAILURES_PER_EMAIL failed password checks for one email within WINDOW, or
MAX_FAILURES_PER_CLIENT from one client address, further attempts answer 429 with
`Retry-After` until the oldest failure leaves the window. The window is short on
purpose: someone who fails on purpose against your email can delay you by at most
WINDOW, never lock you out for good, and a successful check clears the count.

Every attempt is counted as a failure *before* the password is verified, in one
transaction that checks the limit and records the attempt together; a correct
password then takes its own record back. Checking first and recording after the
slow hash would let a burst of parallel guesses all pass the check before any of
them is recorded. An attempt cut short by a crash stays counted, which errs on the
safe side.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from fastapi import HTTPException, status
from sqlalchemy import delete, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import LoginFailure, utcnow

WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_CLIENT = 20
# Any constant: on PostgreSQL, reservations wait for each other on this advisory lock.
RESERVATION_LOCK_ID = 7_140_514


@dataclass(frozen=True)
class Attempt:
    """A password check counted as failed until `succeeded` says otherwise."""

    email_key: str
    ids: tuple[int, ...]  # what the store recorded for it


class LoginThrottle(Protocol):
    """What the routes that check passwords need. DatabaseThrottle implements it on the
    app's own database; a Redis store would implement these two methods."""

    async def reserve(self, email_key: str, client: str) -> Attempt:
        """Raise 429 while the email or the client is over its limit; otherwise record
        the attempt as a failure, atomically with that check."""

    async def succeeded(self, attempt: Attempt) -> None:
        """The password was right: forget the attempt and the email's failures."""


def too_many_attempts(retry_after: float) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail="Too many failed password attempts; try again later",
        headers={"Retry-After": str(max(1, round(retry_after + 0.5)))},
    )


class DatabaseThrottle:
    """Failures kept in the `login_failures` table, so all workers and all machines
    on one database share them."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        window: timedelta = timedelta(seconds=WINDOW_SECONDS),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.window = window
        self.clock = clock

    async def _serialize(self, session: AsyncSession, now: datetime) -> None:
        """Make concurrent reservations take turns, from here to their commit.

        On PostgreSQL an advisory lock; on SQLite the first write takes the database's
        write lock, so the clean-up of expired rows comes first and doubles as the lock.
        """
        if session.bind.dialect.name == "postgresql":
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:id)"), {"id": RESERVATION_LOCK_ID}
            )
        expired = select(LoginFailure.id).where(LoginFailure.failed_at <= now - self.window)
        # SKIP LOCKED (PostgreSQL; SQLite has no row locks and ignores it): a row that
        # another transaction is deleting is simply left to it.
        await session.execute(
            delete(LoginFailure).where(
                LoginFailure.id.in_(expired.with_for_update(skip_locked=True).scalar_subquery())
            ),
            execution_options={"synchronize_session": False},
        )

    async def _retry_after(self, session: AsyncSession, key: str, limit: int) -> float | None:
        """Seconds until the `limit`-th newest failure in the window expires, if any."""
        now = self.clock()
        limiting = await session.scalar(
            select(LoginFailure.failed_at)
            .where(LoginFailure.key == key, LoginFailure.failed_at > now - self.window)
            .order_by(LoginFailure.failed_at.desc())
            .offset(limit - 1)
            .limit(1)
        )
        return None if limiting is None else (limiting + self.window - now).total_seconds()

    async def reserve(self, email_key: str, client: str) -> Attempt:
        now = self.clock()
        keys = {
            f"email:{email_key}": MAX_FAILURES_PER_EMAIL,
            f"client:{client}": MAX_FAILURES_PER_CLIENT,
        }
        async with self.sessionmaker() as session:
            await self._serialize(session, now)
            waits = [await self._retry_after(session, key, limit) for key, limit in keys.items()]
            if any(wait is not None for wait in waits):
                raise too_many_attempts(max(wait for wait in waits if wait is not None))
            rows = [LoginFailure(key=key, failed_at=now) for key in keys]
            session.add_all(rows)
            await session.commit()
        return Attempt(email_key, tuple(row.id for row in rows))

    async def succeeded(self, attempt: Attempt) -> None:
        async with self.sessionmaker() as session:
            await session.execute(
                delete(LoginFailure).where(
                    or_(
                        LoginFailure.key == f"email:{attempt.email_key}",
                        LoginFailure.id.in_(attempt.ids),
                    )
                )
            )
            await session.commit()
