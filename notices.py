"""Security notices mailed to an account's owner after a change to how it is signed
into: a new password, a passkey added or removed. If it was not them, they learn it
now and know what to do. Each is queued in the caller's transaction (outbox.py), so it
goes out if and only if the change is committed.
"""

from sqlalchemy.ext.asyncio import AsyncSession

import mail
import outbox
from config import settings
from models import User, utcnow


def _queue(session: AsyncSession, user: User, subject: str, template: str, **context: str) -> None:
    message = mail.compose(
        settings,
        mail.mailbox(user.username, user.email),
        subject,
        template,
        username=user.username,
        when=utcnow().strftime("%d %B %Y at %H:%M UTC"),
        **context,
    )
    outbox.enqueue(session, message)


def queue_password_changed(session: AsyncSession, user: User) -> None:
    _queue(session, user, "Your password was changed", "password_changed.txt")


def queue_passkey_added(session: AsyncSession, user: User, passkey_name: str) -> None:
    _queue(
        session, user, "A passkey was added to your account", "passkey_added.txt", name=passkey_name
    )


def queue_passkey_removed(session: AsyncSession, user: User, passkey_name: str) -> None:
    _queue(
        session,
        user,
        "A passkey was removed from your account",
        "passkey_removed.txt",
        name=passkey_name,
    )
