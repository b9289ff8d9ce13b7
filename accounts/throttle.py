"""Password-guess throttling, per account and per client.

After MAX_FAILURES_PER_EMAIL failed password checks for one email within WINDOW, or
MAX_FAILURES_PER_CLIENT from one client address, further attempts answer 429 with
`Retry-After` until the oldest failure leaves the window. The window is short on
purpose: someone who fails on purpose against your email can delay you by at most
WINDOW, never lock you out for good, and a successful check clears the count.

Every attempt is reserved *before* its password is verified, in one transaction that
checks the limit and records the attempt as pending; the outcome then turns it into a
failure or takes it back. Checking first and recording after the slow hash let a burst
of parallel guesses all pass the check before any of them was recorded. Pending
attempts count against the limit, so 40 guesses at once get exactly 5 verified; an
attempt that finds the budget held only by pending ones waits for them to finish
rather than failing, so people logging in together (one office behind one address)
are delayed by a hash at most, never refused. A pending attempt whose server died
counts as a failure once PENDING_SECONDS have passed.
"""

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from fastapi import status
from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from database import advisory_lock
from errors.domain import DomainError
from models import LoginFailure, utcnow

WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_CLIENT = 20
# Any constant: on PostgreSQL, reservations wait for each other on this advisory lock.
RESERVATION_LOCK_ID = 7_140_514
# A check still pending after this long was cut short (a crash): count it as failed.
PENDING_SECONDS = 60
# How long an attempt waits for pending ones to finish before it answers 429 itself.
MAX_WAIT_SECONDS = 20.0
# A key's kind ("email", "client", "reset-email"...) as kept in a hashed key.
MAX_KIND = 32
KEY_LENGTH = LoginFailure.key.type.length


@dataclass(frozen=True)
class Attempt:
    """A password check counted as failed until `succeeded` says otherwise."""

    email_key: str
    ids: tuple[int, ...]  # what the store recorded for it


class LoginThrottle(Protocol):
    """What the routes that check passwords need. DatabaseThrottle implements it on the
    app's own database; a Redis store would implement these three methods."""

    async def reserve(self, email_key: str, client: str) -> Attempt:
        """Raise 429 while the email or the client is over its limit; otherwise record
        the attempt as pending, atomically with that check."""

    async def failed(self, attempt: Attempt) -> None:
        """The password was wrong: the attempt counts as a failure for the window."""

    async def succeeded(self, attempt: Attempt, *, forgive: bool = True) -> None:
        """The password was right: forget the attempt and (`forgive`) the email's
        failures. A password that is only the first of two factors forgives nothing:
        the wrong codes before it keep counting until a right code."""


def bounded_key(key: str, max_length: int) -> str:
    """`key` as it is when it fits its column, else its kind (what comes before the first
    ":") and the SHA-256 of the rest. What follows the kind can be any length (a login
    form's email, an X-Forwarded-For address): PostgreSQL refuses a value longer than
    its column where SQLite stores it. Used wherever a throttle or rate-limit key is
    stored or looked up (here and accounts/rate_limits.py), so both always agree."""
    if len(key) <= max_length:
        return key
    kind, _, rest = key.partition(":")
    digest = hashlib.sha256(rest.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind[:MAX_KIND]}:sha256:{digest}"


def too_many_attempts(retry_after: float) -> DomainError:
    return DomainError(
        status.HTTP_429_TOO_MANY_REQUESTS,
        "too_many_attempts",
        "Too many failed password attempts; try again later",
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
        await advisory_lock(session, RESERVATION_LOCK_ID)
        expired = select(LoginFailure.id).where(LoginFailure.failed_at <= now - self.window)
        # SKIP LOCKED (PostgreSQL; SQLite has no row locks and ignores it): a row that
        # another transaction is deleting is simply left to it.
        await session.execute(
            delete(LoginFailure).where(
                LoginFailure.id.in_(expired.with_for_update(skip_locked=True).scalar_subquery())
            ),
            execution_options={"synchronize_session": False},
        )

    async def _retry_after(
        self, session: AsyncSession, key: str, limit: int, now: datetime
    ) -> tuple[float | None, bool]:
        """Seconds until the `limit`-th newest failure in the window expires, if the key
        is over its limit; and whether pending attempts alone fill what is left."""
        stale = now - timedelta(seconds=PENDING_SECONDS)
        rows = (
            await session.execute(
                select(LoginFailure.failed_at, LoginFailure.pending)
                .where(LoginFailure.key == key, LoginFailure.failed_at > now - self.window)
                .order_by(LoginFailure.failed_at.desc())
            )
        ).all()
        failures = [at for at, pending in rows if not pending or at <= stale]
        if len(failures) >= limit:
            return (failures[limit - 1] + self.window - now).total_seconds(), False
        return None, len(rows) >= limit

    async def reserve(self, email_key: str, client: str) -> Attempt:
        keys = {
            bounded_key(f"email:{email_key}", KEY_LENGTH): MAX_FAILURES_PER_EMAIL,
            bounded_key(f"client:{client}", KEY_LENGTH): MAX_FAILURES_PER_CLIENT,
        }
        loop = asyncio.get_running_loop()
        give_up, pause = loop.time() + MAX_WAIT_SECONDS, 0.02
        while True:
            now = self.clock()
            async with self.sessionmaker() as session:
                await self._serialize(session, now)
                checks = [await self._retry_after(session, k, n, now) for k, n in keys.items()]
                waits = [wait for wait, _ in checks if wait is not None]
                if waits:
                    raise too_many_attempts(max(waits))
                if not any(busy for _, busy in checks):
                    rows = [LoginFailure(key=key, failed_at=now, pending=True) for key in keys]
                    session.add_all(rows)
                    await session.commit()
                    return Attempt(email_key, tuple(row.id for row in rows))
            # The budget is held by checks still running: their outcome decides.
            if loop.time() > give_up:
                raise too_many_attempts(1)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.25)

    async def failed(self, attempt: Attempt) -> None:
        async with self.sessionmaker() as session:
            await session.execute(
                update(LoginFailure)
                .where(LoginFailure.id.in_(attempt.ids))
                .values(pending=False)
                .execution_options(synchronize_session=False)
            )
            await session.commit()

    async def succeeded(self, attempt: Attempt, *, forgive: bool = True) -> None:
        email = bounded_key(f"email:{attempt.email_key}", KEY_LENGTH)
        async with self.sessionmaker() as session:
            await session.execute(
                delete(LoginFailure).where(
                    or_(LoginFailure.key == email, LoginFailure.id.in_(attempt.ids))
                    if forgive
                    else LoginFailure.id.in_(attempt.ids)
                )
            )
            await session.commit()
