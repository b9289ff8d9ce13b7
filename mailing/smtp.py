"""Mail: what a message looks like on the wire, and how it leaves.

Messages are made with the standard library's `email` package (plain text, UTF-8,
every header a mail client and a spam filter expect) from the templates in
templates/mail/, and handed to the SMTP server by aiosmtplib. Nothing here is called
on a request's path: requests queue messages (mailing/outbox.py), whose sender calls this.
"""

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email import message_from_string, policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Protocol

import aiosmtplib
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from config import BASE_DIR, Settings
from models import utcnow

logger = logging.getLogger("inkwell.mail")

MAIL_TEMPLATES = BASE_DIR / "templates" / "mail"
# Plain text: nothing to escape (select_autoescape would escape only HTML).
_templates = Environment(
    loader=FileSystemLoader(MAIL_TEMPLATES),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}


def mailbox(name: str, address: str) -> Address:
    """`name <address>` as SMTP carries it: the domain in its ASCII form (IDNA), as
    email-validator keeps it in Unicode. A local part beyond ASCII stays as it is; such
    a message needs a server that speaks SMTPUTF8 (see `serialize`)."""
    local, _, domain = address.rpartition("@")
    with contextlib.suppress(UnicodeError):  # if IDNA 2003 cannot, it goes as UTF-8
        domain = domain.encode("idna").decode("ascii")
    return Address(display_name=name, username=local, domain=domain)


def needs_smtputf8(*addresses: str) -> bool:
    return not all(address.isascii() for address in addresses)


def compose(
    settings: Settings, to: Address, subject: str, template: str, **context: Any
) -> EmailMessage:
    """A message from the site to `to`, its body rendered from templates/mail/<template>.

    Message-ID and Date are set here, once, so a message retried after a failure is
    the same message (mail clients drop a duplicate by its Message-ID).
    """
    sender = settings.mail_sender
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = make_msgid(domain=sender.domain or None)
    # RFC 3834: written by a program; vacation responders must not answer it.
    message["Auto-Submitted"] = "auto-generated"
    body = _templates.get_template(template).render(site_url=settings.site_url, **context)
    message.set_content(body, cte="quoted-printable")
    return message


def serialize(message: EmailMessage) -> str:
    """The message as it goes on the wire (CRLF; 7-bit unless an address is not ASCII,
    which SMTPUTF8 lets through as UTF-8), for the outbox."""
    addresses = [
        address.addr_spec for name in ("From", "To") for address in message[name].addresses
    ]
    utf8 = needs_smtputf8(*addresses)
    return message.as_string(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)


class Connection(Protocol):
    async def send(self, sender: str, recipient: str, message: str) -> None:
        """Hand one message over; raises when it was not accepted."""


class Transport(Protocol):
    def connect(self) -> Any:
        """An async context manager: a `Connection` for a batch of messages."""


class SMTPTransport:
    """The configured SMTP server, one connection per batch of messages."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Connection]:
        s = self.settings
        password = s.smtp_password.get_secret_value() if s.smtp_password else None
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host,
            port=s.smtp_port or DEFAULT_PORTS[s.smtp_security],
            username=s.smtp_username,
            password=password,
            use_tls=s.smtp_security == "tls",
            # "starttls" insists on it; "none" never tries, even if offered.
            start_tls=s.smtp_security == "starttls",
            timeout=s.smtp_timeout,
            # The EHLO name: the site's. Left unset, aiosmtplib asks socket.getfqdn(),
            # a reverse DNS lookup that took seconds on a machine without a resolver.
            local_hostname=s.mail_sender.domain or "localhost",
        )
        try:
            await client.connect()  # and STARTTLS and AUTH, as configured
        except BaseException:
            client.close()  # a refused login leaves the socket open otherwise
            raise
        try:
            yield _SMTPConnection(client)
        except BaseException:
            # Cut off (a stop whose grace ran out, the database failing): no polite
            # QUIT, which would wait for a slow server's reply to the message first.
            client.close()
            raise
        try:
            await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            client.close()


class _SMTPConnection:
    def __init__(self, client: aiosmtplib.SMTP) -> None:
        self.client = client

    async def send(self, sender: str, recipient: str, message: str) -> None:
        options = ["SMTPUTF8"] if needs_smtputf8(sender, recipient) else []
        await self.client.sendmail(sender, [recipient], message.encode(), mail_options=options)


class LogTransport:
    """Development mode (no SMTP_HOST): each message is written to the log, where the
    person running `uv run fastapi dev` can open its links. Never used in production,
    since these messages carry single-use links."""

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[Connection]:
        yield self

    async def send(self, sender: str, recipient: str, message: str) -> None:
        parsed = message_from_string(message, policy=policy.default)
        body = parsed.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        logger.info(
            "Development mode (no SMTP_HOST), so this mail is logged, not sent:\n"
            "From: %s\nTo: %s\nSubject: %s\n\n%s",
            parsed["From"],
            parsed["To"],
            parsed["Subject"],
            text,
        )


def transport_for(settings: Settings) -> Transport:
    return SMTPTransport(settings) if settings.smtp_host else LogTransport()
