"""A graceful restart in the middle of a mail batch: the message in flight is
finished, the rest are handed back, and the restarted server sends them within
seconds (not after the 5-minute lease), none of them twice."""

import signal
import time
from collections import Counter

from sqlalchemy import select

from config import get_settings
from database import create_engine, create_sessionmaker
from mailing import outbox
from models import OutboxMessage, utcnow
from tests.databases import fresh_database
from tests.live_server import LiveServer
from tests.mail_server import Mailbox, SMTPServer
from tests.test_outbox import message, queue, run

MESSAGES = 12
# Far below the lease (outbox.LEASE_SECONDS, 300 s) that held the rest before.
REST_ARRIVE_WITHIN = 20.0


async def _queue(database_url: str, count: int) -> None:
    engine = create_engine(database_url)
    await queue(create_sessionmaker(engine), *(message(n) for n in range(count)))
    await engine.dispose()


async def _left(database_url: str) -> list[OutboxMessage]:
    engine = create_engine(database_url)
    async with create_sessionmaker(engine)() as session:
        found = list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        session.expunge_all()
    await engine.dispose()
    return found


def _message_ids(mailbox: Mailbox) -> Counter[str]:
    return Counter(str(received.message["Message-ID"]) for received in list(mailbox.received))


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_sigterm_mid_batch_then_restart_sends_the_rest_at_once_and_none_twice(
    tmp_path, smtp_server: SMTPServer, mailbox: Mailbox
):
    servers: list[LiveServer] = []
    with fresh_database(tmp_path, migrated=True) as database_url:
        # Queued before the server starts: its sender claims all 12 in one batch.
        run(_queue(database_url, MESSAGES))
        # Both servers share the database and the key the messages are sealed with.
        env = {
            "DATABASE_URL": database_url,
            "SECRET_KEY": get_settings().secret_key.get_secret_value(),
        }
        try:
            mailbox.delay = 0.4  # a slow server: the batch takes about 5 s
            (tmp_path / "first").mkdir()
            first = LiveServer(tmp_path / "first", smtp_port=smtp_server.port, env=env)
            servers.append(first)
            first.wait_until_ready()
            _wait_for(lambda: len(mailbox.received) >= 2, 15, "the first 2 never arrived")
            first.process.send_signal(signal.SIGTERM)
            first.process.wait(timeout=15)  # uvicorn re-raises the signal once done
            assert "Application shutdown complete" in first.log.read_text()
            sent_before = len(mailbox.received)
            assert sent_before < MESSAGES, "the batch ended before the restart: no test"

            # What it handed back is due now, the interrupted attempt not counted.
            left = run(_left(database_url))
            assert len(left) == MESSAGES - sent_before
            assert all(row.next_attempt_at <= utcnow() for row in left)
            assert {row.attempts for row in left} == {0}

            mailbox.delay = 0.0
            (tmp_path / "second").mkdir()
            second = LiveServer(tmp_path / "second", smtp_port=smtp_server.port, env=env)
            servers.append(second)
            second.wait_until_ready()
            _wait_for(
                lambda: len(_message_ids(mailbox)) >= MESSAGES,
                REST_ARRIVE_WITHIN,
                f"only {len(_message_ids(mailbox))} of {MESSAGES} arrived after the restart "
                f"(the lease is {outbox.LEASE_SECONDS:.0f} s)",
            )
            # Gone, its sender done: any second copy would be here by now.
            second.shut_down()
            copies = _message_ids(mailbox)
            assert len(copies) == MESSAGES
            assert max(copies.values()) == 1, "a message arrived twice"
            assert run(_left(database_url)) == []
        finally:
            for server in reversed(servers):
                server.stop()
