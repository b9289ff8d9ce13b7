"""The durable outbox: no mail is lost, none goes out twice in normal operation.

- `enqueue()` adds a message to the caller's transaction, so it exists exactly when
  the change that caused it was committed, and the request answers at once: no SMTP
  on a request's path.
- `OutboxSender`, started by the app's lifespan in each worker, delivers due messages.
  It claims a batch in one short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
  SQLite's write lock), which pushes the messages' next attempt a lease into the
  future: other workers and machines skip them meanwhile, and if this one is killed
  mid-send the lease runs out and another takes them over. An accepted message is
  deleted; a failed one is tried again with exponential backoff, and given up (kept,
  marked failed, logged) once its `give_up_at` passes or the server refuses it for
  good (a 5xx reply).
- A commit that queued mail wakes this worker's sender at once; otherwise it looks
  again when the earliest retry is due, and at least every POLL_SECONDS.

Delivery is at least once: a worker killed after the server accepted a message but
before it was deleted lets the message go out again when the lease ends, with the
same Message-ID, by which mail clients drop the copy.
"""

import asyncio
import contextlib
import logging
import random
import weakref
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import aiosmtplib
from sqlalchemy import delete, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session as SyncSession

import mail
from models import OutboxMessage, utcnow

logger = logging.getLogger("inkwell.outbox")

# A message is given up when still not accepted this long after it was queued.
DEFAULT_GIVE_UP_AFTER = timedelta(days=3)
# First retry after this many seconds, then twice as long each time, up to MAX.
FIRST_RETRY_SECONDS = 30.0
MAX_RETRY_SECONDS = 3600.0
# How long a claim keeps other senders off a message: far longer than one send.
LEASE_SECONDS = 300.0
BATCH_SIZE = 20
# The longest a sender sleeps without looking (rows queued by another process).
POLL_SECONDS = 30.0
# How long stopping waits for a send in progress, before and after cancelling it.
STOP_GRACE_SECONDS = 2.0
# After the database itself failed, wait this long before trying again.
DATABASE_RETRY_SECONDS = 5.0

_QUEUED = "outbox_queued"
# The senders running in this process, woken by any commit that queued mail.
_senders: "weakref.WeakSet[OutboxSender]" = weakref.WeakSet()


def enqueue(
    session: AsyncSession,
    message: EmailMessage,
    give_up_after: timedelta = DEFAULT_GIVE_UP_AFTER,
) -> None:
    """Queue `message` in `session`'s transaction: it is sent if, and once, that
    transaction commits."""
    now = utcnow()
    session.add(
        OutboxMessage(
            sender=message["From"].addresses[0].addr_spec,
            recipient=message["To"].addresses[0].addr_spec,
            message=mail.serialize(message),
            created_at=now,
            next_attempt_at=now,
            give_up_at=now + give_up_after,
        )
    )
    session.sync_session.info[_QUEUED] = True


@event.listens_for(SyncSession, "after_commit")
def _wake_senders(session: SyncSession) -> None:
    if session.info.pop(_QUEUED, False):
        for sender in list(_senders):
            sender.wake()


@event.listens_for(SyncSession, "after_rollback")
def _forget_queued(session: SyncSession) -> None:
    session.info.pop(_QUEUED, None)


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: doubling, capped,
    with some jitter so that senders do not retry in lockstep."""
    delay = min(FIRST_RETRY_SECONDS * 2 ** (attempts - 1), MAX_RETRY_SECONDS)
    return delay * random.uniform(0.9, 1.1)  # noqa: S311 (jitter, not a secret)


def _describe(error: BaseException) -> str:
    """Why a send failed, for the log and the row: the exception's class and the
    server's reply code, never its text (it may quote addresses or credentials)."""
    code = getattr(error, "code", None)
    return f"{type(error).__name__}" + (f" {code}" if code else "")


def _permanent(error: BaseException) -> bool:
    """A 5xx reply refuses this message for good, as does a server that cannot carry
    it (an address beyond ASCII, no SMTPUTF8): retrying cannot help."""
    if isinstance(error, aiosmtplib.SMTPNotSupported):
        return True
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= refusal.code < 600 for refusal in error.recipients)
    code = getattr(error, "code", None)
    return isinstance(error, aiosmtplib.SMTPResponseException) and 500 <= (code or 0) < 600


class OutboxSender:
    """Delivers the outbox through `transport`; one per worker, run by the lifespan."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], transport: mail.Transport
    ) -> None:
        self.sessionmaker = sessionmaker
        self.transport = transport
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run(), name="outbox-sender")
        _senders.add(self)

    async def stop(self) -> None:
        """Stop sending, at once if idle. A send still running after a grace period is
        cancelled: its message is left to its lease, and goes out after a restart or
        from another worker. (A flag rather than only `cancel()`: a cancellation that
        arrives as the wake-up event is set was seen swallowed, and shutdown hung.)"""
        _senders.discard(self)
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            done, _ = await asyncio.wait({self._task}, timeout=STOP_GRACE_SECONDS)
            if not done:  # in the middle of a send
                self._task.cancel()
                await asyncio.wait({self._task}, timeout=STOP_GRACE_SECONDS)

    def wake(self) -> None:
        """Look at the outbox now (safe to call from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                while not self._stopping and await self.deliver_due():
                    pass
                pause = await self._seconds_until_due()
            except Exception:
                logger.exception("The outbox could not be read; trying again shortly")
                pause = DATABASE_RETRY_SECONDS
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a
            # cancellation that arrives as the event is set, and stop() would hang.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(pause):
                    await self._wake.wait()

    async def _seconds_until_due(self) -> float:
        async with self.sessionmaker() as session:
            due: datetime | None = await session.scalar(
                select(func.min(OutboxMessage.next_attempt_at)).where(
                    OutboxMessage.failed_at.is_(None)
                )
            )
        if due is None:
            return POLL_SECONDS
        return min(max((due - utcnow()).total_seconds(), 0.0), POLL_SECONDS)

    async def _claim(self) -> list[Any]:
        """Take up to BATCH_SIZE due messages for this sender, in one transaction."""
        now = utcnow()
        due = (
            select(OutboxMessage.id)
            .where(OutboxMessage.failed_at.is_(None), OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(BATCH_SIZE)
            .with_for_update(skip_locked=True)
        )
        claim = (
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(due.scalar_subquery()))
            .where(OutboxMessage.next_attempt_at <= now)
            .values(
                next_attempt_at=now + timedelta(seconds=LEASE_SECONDS),
                attempts=OutboxMessage.attempts + 1,
            )
            .returning(
                OutboxMessage.id,
                OutboxMessage.sender,
                OutboxMessage.recipient,
                OutboxMessage.message,
                OutboxMessage.attempts,
                OutboxMessage.give_up_at,
            )
            .execution_options(synchronize_session=False)
        )
        async with self.sessionmaker() as session:
            rows = (await session.execute(claim)).all()
            await session.commit()
        return sorted(rows, key=lambda row: row.id)

    async def deliver_due(self) -> int:
        """Send what is due now; the number of messages claimed (0: nothing was due)."""
        rows = await self._claim()
        if not rows:
            return 0
        # Per message: None once accepted, else the error and whether it is final.
        outcomes: dict[int, tuple[BaseException, bool] | None] = {}
        try:
            async with self.transport.connect() as connection:
                for row in rows:
                    try:
                        await connection.send(row.sender, row.recipient, row.message)
                        outcomes[row.id] = None
                    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
                        outcomes[row.id] = (error, _permanent(error))
                        if isinstance(error, aiosmtplib.SMTPServerDisconnected | OSError):
                            break  # the connection is gone: the rest wait for a retry
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            # Connecting (or closing) failed: a server down or misconfigured, which
            # says nothing final about any one message.
            for row in rows:
                outcomes.setdefault(row.id, (error, False))
        for row in rows:  # left untried when the connection dropped
            outcomes.setdefault(row.id, (ConnectionError("connection lost"), False))
        await self._record(rows, outcomes)
        return len(rows)

    async def _record(
        self, rows: list[Any], outcomes: dict[int, tuple[BaseException, bool] | None]
    ) -> None:
        now = utcnow()
        delivered = [row.id for row in rows if outcomes[row.id] is None]
        async with self.sessionmaker() as session:
            if delivered:
                await session.execute(
                    delete(OutboxMessage).where(OutboxMessage.id.in_(delivered)),
                    execution_options={"synchronize_session": False},
                )
            for row in rows:
                outcome = outcomes[row.id]
                if outcome is None:
                    continue
                error, final = outcome
                reason = _describe(error)
                retry_at = now + timedelta(seconds=retry_delay(row.attempts))
                give_up = final or retry_at > row.give_up_at
                values: dict[str, Any] = {"last_error": reason[:200]}
                if give_up:
                    values["failed_at"] = now
                    logger.error(
                        "Outbox message %d given up after %d attempt(s): %s",
                        row.id,
                        row.attempts,
                        reason,
                    )
                else:
                    values["next_attempt_at"] = retry_at
                    logger.warning(
                        "Outbox message %d not sent (%s); attempt %d, next in %.0f s",
                        row.id,
                        reason,
                        row.attempts,
                        (retry_at - now).total_seconds(),
                    )
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row.id)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
            await session.commit()
