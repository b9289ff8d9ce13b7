"""The durable outbox: no mail is lost, none goes out twice in normal operation.

- `enqueue()` adds a message to the caller's transaction, so it exists exactly when
  the change that caused it was committed, and the request answers at once: no SMTP
  on a request's path. The message is stored encrypted (`seal`): its links are
  single-use keys to an account, and the database file is not the place for them.
- `OutboxSender`, started by the app's lifespan in each worker, delivers due messages.
  It claims a batch in one short transaction (`FOR UPDATE SKIP LOCKED` on PostgreSQL,
  SQLite's write lock), which pushes the messages' next attempt a lease into the
  future: other workers and machines skip them meanwhile, and if this one is killed
  mid-send the lease runs out and another takes them over. A message is deleted as
  soon as the server accepts it, in a transaction of its own; a failed one is tried
  again with exponential backoff, and given up (kept, marked failed, logged) once its
  `give_up_at` passes or the server refuses it for good (a 5xx reply). Stopping, a
  sender finishes the message in flight and hands the rest of its batch back.
- A commit that queued mail wakes this worker's sender at once; otherwise it looks
  again when the earliest retry is due, and at least every POLL_SECONDS.

Delivery is at least once: a worker killed after the server accepted a message but
before it was deleted lets the message go out again when the lease ends, with the
same Message-ID, by which mail clients drop the copy.
"""

import asyncio
import base64
import contextlib
import logging
import random
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from functools import lru_cache
from typing import Any

import aiosmtplib
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Update, delete, event, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session as SyncSession

from config import get_settings
from database import checkpoint_sqlite
from mailing import smtp
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

# A stored message starts with this when it is encrypted; rows queued before messages
# were (a message on the wire starts with its From header) are sent as they are.
SEALED_PREFIX = "fernet1:"

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
            message=seal(smtp.serialize(message)),
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


class UnreadableMessage(Exception):
    """A stored message that cannot be decrypted: SECRET_KEY changed since it was
    queued (or the row was altered). It is given up, never sent."""


@lru_cache(maxsize=2)
def _fernet(key: bytes) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(key))


def _cipher() -> Fernet:
    """Fernet (AES-128-CBC and HMAC-SHA256) under the outbox's own key, derived from
    SECRET_KEY as every key of the app is (config.Settings.derived_key)."""
    return _fernet(get_settings().derived_key("outbox message"))


def seal(message: str) -> str:
    """`message` encrypted and authenticated, as it is stored in the outbox."""
    token = _cipher().encrypt(message.encode())
    return SEALED_PREFIX + token.decode("ascii")


def unseal(stored: str) -> str:
    """The message a row holds, decrypted; raises UnreadableMessage."""
    if not stored.startswith(SEALED_PREFIX):
        return stored  # queued in plain text, before messages were encrypted
    try:
        sealed = stored.removeprefix(SEALED_PREFIX).encode("ascii")
        return _cipher().decrypt(sealed).decode()
    except (InvalidToken, UnicodeError) as error:
        raise UnreadableMessage(
            "cannot be decrypted with this SECRET_KEY (changed since it was queued?)"
        ) from error


def retry_delay(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed ones: doubling, capped,
    with some jitter so that senders do not retry in lockstep."""
    delay = min(FIRST_RETRY_SECONDS * 2.0 ** (attempts - 1), MAX_RETRY_SECONDS)
    return delay * random.uniform(0.9, 1.1)  # noqa: S311 (jitter, not a secret)


def _describe(error: BaseException) -> str:
    """Why a send failed, for the log and the row: the exception's class and the
    server's reply code, never its text (it may quote addresses or credentials)."""
    if isinstance(error, UnreadableMessage):  # our own words
        return f"{type(error).__name__}: {error}"
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
        self, sessionmaker: async_sessionmaker[AsyncSession], transport: smtp.Transport
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
        """Stop sending, at once if idle. In the middle of a batch, the message in
        flight is finished (within a grace period) and the batch's unsent messages are
        handed back, due now, so that a restarted or another worker sends them within
        seconds rather than after the lease. A send still running after the grace is
        cancelled and its message handed back too, counted as an attempt: the server
        may have accepted it and its reply was what got lost (RFC 1047), so it may
        arrive twice, with one Message-ID (delivery is at least once). Waiting out the
        lease instead would not spare that copy, only delay a message never received.
        (A flag rather than only `cancel()`: a cancellation that arrives as the wake-up
        event is set was seen swallowed, and shutdown hung.)"""
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
        """Send what is due now; the number of messages claimed (0: nothing was due).

        Each message the server accepts is deleted at once, in a transaction of its
        own, so nothing later in the batch (a stop, a kill, a lost connection) can make
        it go out again. Stopping, the sender takes no further message from the batch:
        the ones it did not try are handed back (see `stop`).
        """
        rows = await self._claim()
        if not rows:
            return 0
        # Hand the rest back well before the lease ends: a batch of slow sends could
        # otherwise outlive it, and another sender would take the same messages.
        give_back_at = asyncio.get_running_loop().time() + LEASE_SECONDS / 2
        batch = _Batch(rows)
        try:
            async with self.transport.connect() as connection:
                for row in rows:
                    if self._stopping or asyncio.get_running_loop().time() > give_back_at:
                        break
                    batch.in_flight = row.id
                    if not await self._send(connection, row, batch):
                        break  # the connection is gone: the rest wait for a retry
                    batch.in_flight = None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            # Connecting (or closing) failed: a server down or misconfigured, which
            # says nothing final about any one message.
            for row in rows:
                if row.id not in batch.accepted:
                    batch.failures.setdefault(row.id, (error, False))
        finally:
            # Also when cancelled mid-send (the grace of `stop` ran out): recorded,
            # then the cancellation goes on.
            await self._record(batch)
        return len(rows)

    async def _send(self, connection: smtp.Connection, row: Any, batch: "_Batch") -> bool:
        """Send one claimed message and delete it once accepted; False when the
        connection is gone (every message not yet tried then counts a failed attempt)."""
        try:
            message = unseal(row.message)
            await connection.send(row.sender, row.recipient, message)
        except UnreadableMessage as error:
            batch.failures[row.id] = (error, True)
            return True
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            batch.failures[row.id] = (error, _permanent(error))
            if not isinstance(error, aiosmtplib.SMTPServerDisconnected | OSError):
                return True
            lost = ConnectionError("connection lost")
            for other in batch.rows:
                if other.id not in batch.accepted:
                    batch.failures.setdefault(other.id, (lost, False))
            return False
        batch.accepted.add(row.id)
        async with self.sessionmaker() as session:
            await session.execute(
                delete(OutboxMessage).where(OutboxMessage.id == row.id),
                execution_options={"synchronize_session": False},
            )
            await session.commit()
        batch.deleted.add(row.id)
        return True

    async def _record(self, batch: "_Batch") -> None:
        """Write down how the batch went, in one transaction: failures (retried later, or
        given up), messages handed back, and deletions that did not happen at once."""
        now = utcnow()
        undeleted = batch.accepted - batch.deleted
        handed_back = [
            row
            for row in batch.rows
            if row.id not in batch.accepted and row.id not in batch.failures
        ]
        if undeleted or handed_back or batch.failures:
            async with self.sessionmaker() as session:
                if undeleted:
                    await session.execute(
                        delete(OutboxMessage).where(OutboxMessage.id.in_(undeleted)),
                        execution_options={"synchronize_session": False},
                    )
                for row in handed_back:
                    await session.execute(self._hand_back(row, now, batch.in_flight == row.id))
                for row in batch.rows:
                    if row.id in batch.failures:
                        await session.execute(self._failed(row, now, *batch.failures[row.id]))
                await session.commit()
            if handed_back:
                logger.info("Outbox: %d message(s) handed back, unsent", len(handed_back))
                for sender in list(_senders):  # another of this process may take them now
                    sender.wake()
        if batch.accepted:  # their rows are gone: out of SQLite's log too
            await checkpoint_sqlite(self.sessionmaker.kw["bind"])

    @staticmethod
    def _hand_back(row: Any, now: datetime, interrupted: bool) -> Update:
        """A claimed message this sender will not send after all: due now, for the next
        claim of any sender, and its attempt not counted. Except the message whose send
        was cut off (`interrupted`): the server may have accepted it, its reply lost
        (RFC 1047), so that attempt counts, and the copy keeps its Message-ID."""
        values: dict[str, Any] = {"next_attempt_at": now}
        if interrupted:
            values["last_error"] = "Interrupted: stopped mid-send, may have been accepted"
        else:
            values["attempts"] = OutboxMessage.attempts - 1
        return _update_row(row.id, values)

    @staticmethod
    def _failed(row: Any, now: datetime, error: BaseException, final: bool) -> Update:
        """A message not accepted: tried again after a while, or given up."""
        reason = _describe(error)
        retry_at = now + timedelta(seconds=retry_delay(row.attempts))
        values: dict[str, Any] = {"last_error": reason[:200]}
        if final or retry_at > row.give_up_at:
            values["failed_at"] = now
            logger.error(
                "Outbox message %d given up after %d attempt(s): %s", row.id, row.attempts, reason
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
        return _update_row(row.id, values)


def _update_row(message_id: int, values: dict[str, Any]) -> Update:
    return (
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


@dataclass
class _Batch:
    """What became of each message of a claimed batch, as it is sent."""

    rows: list[Any]
    accepted: set[int] = field(default_factory=set)  # the server took them
    deleted: set[int] = field(default_factory=set)  # and their rows are gone
    # Not accepted: the error, and whether it is final.
    failures: dict[int, tuple[BaseException, bool]] = field(default_factory=dict)
    in_flight: int | None = None  # being sent (when a cancellation cuts it off)
