"""Login throttling: slow down password guessing per account and per client.

After MAX_FAILURES_PER_EMAIL failed logins for one email within WINDOW, or
MAX_FAILURES_PER_CLIENT from one client address, further attempts answer 429 with
`Retry-After` until the oldest failure leaves the window. The window is short on
purpose: someone who fails on purpose against your email can delay you by at most
WINDOW, never lock you out for good, and a successful login clears the count.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from fastapi import HTTPException, status
from sqlalchemy import delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import LoginFailure, utcnow

WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_CLIENT = 20


class LoginThrottle(Protocol):
    """What the login route needs. DatabaseThrottle implements it on the app's own
    database; a Redis or memcached store would implement these three methods."""

    async def check(self, email_key: str, client: str) -> None:
        """Raise 429 while either the email or the client is over its limit."""

    async def record_failure(self, email_key: str, client: str) -> None: ...

    async def reset(self, email_key: str) -> None: ...


def too_many_attempts(retry_after: float) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail="Too many failed login attempts; try again later",
        headers={"Retry-After": str(max(1, round(retry_after + 0.5)))},
    )


class DatabaseThrottle:
    """Failures kept in the `login_failures` table, so all workers and all machines
    on one database share them. Each call is one short transaction of its own."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        window: timedelta = timedelta(seconds=WINDOW_SECONDS),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.window = window
        self.clock = clock

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

    async def check(self, email_key: str, client: str) -> None:
        async with self.sessionmaker() as session:
            waits = [
                await self._retry_after(session, f"email:{email_key}", MAX_FAILURES_PER_EMAIL),
                await self._retry_after(session, f"client:{client}", MAX_FAILURES_PER_CLIENT),
            ]
        if any(wait is not None for wait in waits):
            raise too_many_attempts(max(wait for wait in waits if wait is not None))

    async def record_failure(self, email_key: str, client: str) -> None:
        now = self.clock()
        async with self.sessionmaker() as session:
            # Expired rows go as new ones come, so the table stays the size of a window.
            await session.execute(
                delete(LoginFailure).where(LoginFailure.failed_at <= now - self.window)
            )
            session.add_all(
                [
                    LoginFailure(key=f"email:{email_key}", failed_at=now),
                    LoginFailure(key=f"client:{client}", failed_at=now),
                ]
            )
            await session.commit()

    async def reset(self, email_key: str) -> None:
        key = f"email:{email_key}"
        async with self.sessionmaker() as session:
            # Nearly every login has nothing to clear: then no write transaction at all.
            if await session.scalar(select(exists().where(LoginFailure.key == key))):
                await session.execute(delete(LoginFailure).where(LoginFailure.key == key))
                await session.commit()
