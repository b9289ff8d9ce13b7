"""A real SMTP server in the test process (aiosmtpd), and the mailbox it fills."""

import asyncio
import logging
import re
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from tests.live_server import free_port

# aiosmtpd logs every command at INFO.
logging.getLogger("mail.log").setLevel(logging.WARNING)

WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        return self.message.get_body(("plain",)).get_content()

    def link(self, path: str) -> str:
        """The address in this mail that goes to `path` (e.g. "/reset-password")."""
        found = re.search(rf"https?://\S+{re.escape(path)}\?token=[\w-]+", self.text)
        assert found, f"no {path} link in:\n{self.text}"
        return found.group(0)

    def token(self, path: str) -> str:
        return self.link(path).rpartition("token=")[2]


class Mailbox:
    """What the server accepted; `refuse` and `delay` make it misbehave on purpose."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse: str | None = None  # e.g. "451 4.3.0 try again later"
        self.delay = 0.0
        self.started = 0  # messages whose DATA arrived: a send under way has started
        self._changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.started += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refuse:
            return self.refuse
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self._changed:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
            self._changed.notify_all()
        return "250 2.0.0 OK"

    def clear(self) -> None:
        with self._changed:
            self.received.clear()
        self.started = 0
        self.refuse = None
        self.delay = 0.0

    def to(self, address: str) -> list[Received]:
        with self._changed:
            return self._to(address)

    def wait_for(
        self, address: str, count: int = 1, timeout: float = WAIT_SECONDS
    ) -> list[Received]:
        """The first `count` mails to `address`, waiting for them to arrive."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(found := self._to(address)) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(found)} of {count} mails to {address} arrived"
                self._changed.wait(left)
        return found[:count]

    def _to(self, address: str) -> list[Received]:
        return [mail for mail in self.received if address in mail.recipients]


class SMTPServer:
    """aiosmtpd on a free loopback port, which can be stopped and started again (an
    outage) on the same port."""

    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self.port = free_port()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(
            self.mailbox, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=True
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def running(self) -> bool:
        return self.controller is not None
