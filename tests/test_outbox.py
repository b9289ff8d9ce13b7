"""The outbox against a real SMTP server: mail queued in a transaction goes out once
it commits, waits out an outage or a restart, and goes out once with several senders."""

import asyncio
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from datetime import timedelta
from email import message_from_string, policy
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import get_settings
from database import create_engine, create_sessionmaker
from mailing import outbox, smtp
from mailing.outbox import OutboxSender
from models import OutboxMessage, utcnow
from tests.helpers import settings_changed
from tests.mail_server import Mailbox, SMTPServer


@pytest.fixture
def quick_retries(monkeypatch) -> None:
    """Retries after a few hundredths of a second instead of half a minute."""
    monkeypatch.setattr(outbox, "FIRST_RETRY_SECONDS", 0.05)
    monkeypatch.setattr(outbox, "MAX_RETRY_SECONDS", 0.2)


@asynccontextmanager
async def senders(
    database_url: str, count: int = 1
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], list[OutboxSender]]]:
    """`count` senders, each with its own engine (as workers have), and a sessionmaker."""
    engines = [create_engine(database_url) for _ in range(count)]
    running = [
        OutboxSender(create_sessionmaker(e), smtp.transport_for(get_settings())) for e in engines
    ]
    for sender in running:
        sender.start()
    try:
        yield create_sessionmaker(engines[0]), running
    finally:
        for sender in running:
            await sender.stop()
        for engine in engines:
            await engine.dispose()


def message(number: int, to: str = "reader@example.com") -> Any:
    return smtp.compose(
        get_settings(),
        smtp.mailbox("Reader", to),
        f"Message {number}",
        "password_changed.txt",
        username="Reader",
        when=f"test {number}",
    )


async def queue(sessionmaker: async_sessionmaker[AsyncSession], *messages: Any) -> None:
    async with sessionmaker() as session:
        for item in messages:
            outbox.enqueue(session, item)
        await session.commit()


async def rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sessionmaker() as session:
        found = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        session.expunge_all()  # kept as read: closing rolls back, which would expire them
        return found


async def eventually(check, seconds: float = 10.0) -> None:
    """Wait, without blocking the loop the senders run on, until `check()` is true."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def attempts(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return await session.scalar(select(func.max(OutboxMessage.attempts))) or 0


async def count(sessionmaker: async_sessionmaker[AsyncSession], *where: Any) -> int:
    async with sessionmaker() as session:
        query = select(func.count()).select_from(OutboxMessage).where(*where)
        return await session.scalar(query) or 0


async def until(read, *, at_least: int | None = None, at_most: int | None = None) -> None:
    """Poll `await read()` until it reaches the bound."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        value = await read()
        if (at_least is None or value >= at_least) and (at_most is None or value <= at_most):
            return
        assert loop.time() < deadline, f"still {value}"
        await asyncio.sleep(0.02)


def run(coroutine) -> Any:
    """The scenario on an event loop of its own, in a thread of its own: the browser
    tests' Playwright keeps a loop running in this one."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def test_a_message_has_the_headers_mail_clients_expect(mailbox: Mailbox, database_url):
    async def scenario() -> None:
        async with senders(database_url) as (sessionmaker, _):
            await queue(sessionmaker, message(1, "zoë@bücher.example"))
            await eventually(lambda: mailbox.received)

    run(scenario())
    (received,) = mailbox.received
    headers = received.message
    for name in ("Message-ID", "Date", "From", "To", "Subject"):
        assert headers[name], name
    assert headers["Subject"] == "Message 1"
    assert headers["Auto-Submitted"] == "auto-generated"
    assert headers.get_content_type() == "text/plain"
    assert "test 1" in received.text
    # The domain in its ASCII form; the local part needs (and got) SMTPUTF8.
    assert received.recipients == ["zoë@xn--bcher-kva.example"]


def test_a_rolled_back_transaction_sends_nothing(mailbox: Mailbox, database_url):
    async def scenario() -> int:
        async with senders(database_url) as (sessionmaker, running):
            async with sessionmaker() as session:
                outbox.enqueue(session, message(1))
                await session.rollback()
            await running[0].deliver_due()
            return len(await rows(sessionmaker))

    assert run(scenario()) == 0
    assert mailbox.received == []


def test_mail_queued_during_an_outage_goes_out_when_the_server_is_back(
    smtp_server: SMTPServer, mailbox: Mailbox, database_url, quick_retries
):
    async def scenario() -> list[OutboxMessage]:
        async with senders(database_url) as (sessionmaker, _):
            smtp_server.stop()
            try:
                await queue(sessionmaker, message(1))
                await until(lambda: attempts(sessionmaker), at_least=2)  # tried, tried again
                (waiting,) = await rows(sessionmaker)
                assert waiting.failed_at is None
                assert waiting.last_error
            finally:
                smtp_server.start()
            await eventually(lambda: mailbox.received)
            await until(lambda: count(sessionmaker), at_most=0)
            return await rows(sessionmaker)

    assert run(scenario()) == []  # delivered, so gone
    assert len(mailbox.to("reader@example.com")) == 1


def test_mail_queued_before_a_restart_goes_out_after_it(mailbox: Mailbox, database_url):
    async def queue_without_a_sender() -> None:
        engine = create_engine(database_url)
        await queue(create_sessionmaker(engine), message(1), message(2))
        await engine.dispose()

    async def restart() -> None:
        async with senders(database_url):
            await eventually(lambda: len(mailbox.received) == 2)

    run(queue_without_a_sender())
    assert mailbox.received == []
    run(restart())
    assert sorted(m.message["Subject"] for m in mailbox.received) == ["Message 1", "Message 2"]


def test_a_message_claimed_by_a_killed_sender_goes_out_when_its_lease_ends(
    mailbox: Mailbox, database_url, monkeypatch
):
    monkeypatch.setattr(outbox, "LEASE_SECONDS", 0.3)

    async def scenario() -> None:
        engine = create_engine(database_url)
        sessionmaker = create_sessionmaker(engine)
        await queue(sessionmaker, message(1))
        # A sender that claimed the message and died before sending it.
        killed = OutboxSender(sessionmaker, smtp.transport_for(get_settings()))
        assert len(await killed._claim()) == 1
        await engine.dispose()
        async with senders(database_url):
            await eventually(lambda: mailbox.received)

    run(scenario())
    assert len(mailbox.received) == 1


@pytest.mark.parametrize("how_many", [2, 4])
def test_several_senders_deliver_each_message_once(mailbox: Mailbox, database_url, how_many):
    async def scenario() -> None:
        async with senders(database_url, how_many) as (sessionmaker, running):
            # Queued in several commits, while every sender is awake and claiming.
            for batch in range(6):
                await queue(sessionmaker, *(message(batch * 10 + n) for n in range(10)))
                for sender in running:
                    sender.wake()
            await eventually(lambda: len(mailbox.received) >= 60)
            await until(lambda: count(sessionmaker), at_most=0)
            assert await rows(sessionmaker) == []
        # Every sender has stopped, its sends finished: any duplicate would be here.

    run(scenario())
    subjects = [m.message["Subject"] for m in mailbox.received]
    assert sorted(subjects) == sorted({f"Message {n}" for n in range(60)})


def test_a_refused_message_is_given_up_and_kept(mailbox: Mailbox, database_url, caplog):
    mailbox.refuse = "550 5.1.1 no such mailbox"

    async def scenario() -> list[OutboxMessage]:
        async with senders(database_url) as (sessionmaker, _):
            await queue(sessionmaker, message(1))
            await eventually(lambda: any("given up" in r.message for r in caplog.records))
            return await rows(sessionmaker)

    with caplog.at_level(logging.ERROR, logger="inkwell.outbox"):
        (row,) = run(scenario())
    assert row.failed_at is not None
    assert row.attempts == 1
    assert row.last_error == "SMTPDataError 550"
    assert "no such mailbox" not in caplog.text  # the server's words are not logged


def test_a_temporary_refusal_is_retried(mailbox: Mailbox, database_url, quick_retries):
    mailbox.refuse = "451 4.3.0 try again later"

    async def scenario() -> None:
        async with senders(database_url) as (sessionmaker, _):
            await queue(sessionmaker, message(1))
            await until(lambda: attempts(sessionmaker), at_least=2)
            mailbox.refuse = None
            await eventually(lambda: mailbox.received)

    run(scenario())
    assert len(mailbox.received) == 1


def test_a_message_is_given_up_after_its_time(mailbox: Mailbox, database_url, smtp_server):
    async def scenario() -> list[OutboxMessage]:
        async with senders(database_url) as (sessionmaker, _):
            smtp_server.stop()
            try:
                async with sessionmaker() as session:
                    outbox.enqueue(session, message(1), give_up_after=timedelta(0))
                    await session.commit()
                await until(
                    lambda: count(sessionmaker, OutboxMessage.failed_at.is_not(None)), at_least=1
                )
            finally:
                smtp_server.start()
            return await rows(sessionmaker)

    (row,) = run(scenario())
    assert row.failed_at is not None
    assert row.last_error.startswith(("SMTPConnect", "ConnectionRefused", "OSError"))


@pytest.mark.settings(smtp_host=None)
def test_development_mode_writes_mail_to_the_log(database_url, settings, caplog):

    async def scenario() -> None:
        async with senders(database_url) as (sessionmaker, _):
            await queue(sessionmaker, message(7))
            await eventually(lambda: "Message 7" in caplog.text)

    with caplog.at_level(logging.INFO, logger="inkwell.mail"):
        run(scenario())
    assert "not sent" in caplog.text
    assert "test 7" in caplog.text  # the body, links and all, for the developer


def test_stored_messages_are_encrypted_and_open_to_the_wire_format(database_url):
    async def scenario() -> list[OutboxMessage]:
        engine = create_engine(database_url)
        sessionmaker = create_sessionmaker(engine)
        await queue(sessionmaker, message(1))
        stored = await rows(sessionmaker)
        await engine.dispose()
        return stored

    (row,) = run(scenario())
    assert row.message.startswith(outbox.SEALED_PREFIX)
    assert "Message 1" not in row.message
    assert "test 1" not in row.message
    wire = outbox.unseal(row.message)
    parsed = message_from_string(wire, policy=policy.default)
    assert parsed["Subject"] == "Message 1"
    assert row.recipient == "reader@example.com"
    assert row.sender == get_settings().mail_sender.addr_spec
    assert "\r\n" in wire


async def plain_text_row(sessionmaker: async_sessionmaker[AsyncSession], number: int) -> None:
    """A row as queued before messages were encrypted: the wire format itself."""
    await queue(sessionmaker, message(number))
    async with sessionmaker() as session:
        row = await session.scalar(select(OutboxMessage).order_by(OutboxMessage.id.desc()))
        row.message = smtp.serialize(message(number))
        await session.commit()


def test_a_message_queued_in_plain_text_before_the_upgrade_is_still_sent(
    mailbox: Mailbox, database_url
):
    async def scenario() -> None:
        engine = create_engine(database_url)
        await plain_text_row(create_sessionmaker(engine), 1)
        await engine.dispose()
        async with senders(database_url) as (sessionmaker, _):
            await eventually(lambda: mailbox.received)
            await until(lambda: count(sessionmaker), at_most=0)

    run(scenario())
    (received,) = mailbox.received
    assert received.message["Subject"] == "Message 1"


def test_a_message_sealed_with_another_secret_key_is_given_up_not_sent(
    mailbox: Mailbox, database_url, monkeypatch, caplog
):
    """SECRET_KEY changed while mail waited: that row is given up with a clear reason,
    and the sender goes on with the others."""

    async def queue_with_the_old_key() -> None:
        engine = create_engine(database_url)
        await queue(create_sessionmaker(engine), message(1))
        await engine.dispose()

    with settings_changed(secret_key=SecretStr("an-older-key-" + "x" * 40)):
        run(queue_with_the_old_key())

    async def scenario() -> list[OutboxMessage]:
        async with senders(database_url) as (sessionmaker, _):
            await queue(sessionmaker, message(2))
            await eventually(lambda: mailbox.received)
            await until(
                lambda: count(sessionmaker, OutboxMessage.failed_at.is_not(None)), at_least=1
            )
            return await rows(sessionmaker)

    with caplog.at_level(logging.ERROR, logger="inkwell.outbox"):
        (given_up,) = run(scenario())
    assert [m.message["Subject"] for m in mailbox.received] == ["Message 2"]
    assert given_up.last_error.startswith("UnreadableMessage: cannot be decrypted")
    assert "given up" in caplog.text


def test_each_message_is_deleted_as_soon_as_it_is_accepted(mailbox: Mailbox, database_url):
    """Not after the whole batch: a worker stopped or killed later in the batch must
    not send again what already went out."""
    mailbox.delay = 0.3

    async def scenario() -> int:
        async with senders(database_url) as (sessionmaker, _):
            await queue(sessionmaker, *(message(n) for n in range(4)))
            await eventually(lambda: mailbox.received)
            await until(lambda: count(sessionmaker), at_most=3)
            return len(mailbox.received)

    assert run(scenario()) < 4  # the batch was still going when its first row went


def test_stopping_mid_batch_hands_the_unsent_messages_back(mailbox: Mailbox, database_url):
    """The message in flight is finished; the others are due again at once, their
    attempt not counted, rather than held for the rest of the 5-minute lease."""
    mailbox.delay = 0.3

    async def scenario() -> list[OutboxMessage]:
        async with senders(database_url) as (sessionmaker, running):
            await queue(sessionmaker, *(message(n) for n in range(8)))
            await eventually(lambda: mailbox.received)
            await running[0].stop()
            return await rows(sessionmaker)

    left = run(scenario())
    sent = len(mailbox.received)
    assert 1 <= sent < 8
    assert len(left) == 8 - sent  # each message either went once or is still queued
    assert {row.attempts for row in left} == {0}
    assert all(row.next_attempt_at <= utcnow() for row in left)
    assert all(row.failed_at is None and row.last_error is None for row in left)


def test_a_send_cut_off_by_the_stop_grace_is_handed_back_as_an_attempt(
    mailbox: Mailbox, database_url, monkeypatch
):
    monkeypatch.setattr(outbox, "STOP_GRACE_SECONDS", 0.2)
    mailbox.delay = 1.0  # longer than the grace: the send is cancelled

    async def scenario() -> list[OutboxMessage]:
        async with senders(database_url) as (sessionmaker, running):
            await queue(sessionmaker, message(1), message(2))
            await until(lambda: attempts(sessionmaker), at_least=1)  # claimed
            await eventually(lambda: mailbox.started >= 1)  # in the middle of the first send
            await running[0].stop()
            return await rows(sessionmaker)

    first, second = run(scenario())
    assert first.attempts == 1  # it was tried: the server may have it
    assert first.last_error.startswith("Interrupted")
    assert second.attempts == 0
    assert first.next_attempt_at <= utcnow()
    assert second.next_attempt_at <= utcnow()


def test_a_batch_outliving_half_its_lease_hands_the_rest_back(
    mailbox: Mailbox, database_url, monkeypatch, caplog
):
    """Slow sends must not outlast the claim: another sender would take the same
    messages. The rest are handed back, and claimed again at once."""
    monkeypatch.setattr(outbox, "LEASE_SECONDS", 0.6)
    mailbox.delay = 0.2

    async def scenario() -> None:
        async with senders(database_url) as (sessionmaker, _):
            await queue(sessionmaker, *(message(n) for n in range(5)))
            await eventually(lambda: len(mailbox.received) >= 5)
            await until(lambda: count(sessionmaker), at_most=0)

    with caplog.at_level(logging.INFO, logger="inkwell.outbox"):
        run(scenario())
    assert "handed back" in caplog.text
    subjects = sorted(m.message["Subject"] for m in mailbox.received)
    assert subjects == [f"Message {n}" for n in range(5)]
