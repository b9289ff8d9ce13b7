"""Single-use links mailed to an account (to verify its address, to reset its
password), and the mails that carry them.

A link's token is 32 random bytes; only its SHA-256 is stored, so the table alone
opens nothing. A token works once, until it expires, and only while the account still
has the address it was mailed to; a reset token also only while the password is the
one it was issued against (as Django's reset tokens do), so a password changed by any
other way kills it. Each mail is counted against its budgets and queued in the
caller's transaction (accounts/account_mail.py).
"""

import asyncio
import contextlib
import logging
import secrets
from datetime import timedelta

from fastapi import status
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import joinedload

from accounts import account_mail, tokens
from config import get_settings
from database import rows_changed
from errors.domain import DomainError
from models import EmailToken, User, utcnow

logger = logging.getLogger("inkwell.email_links")

VERIFY_EMAIL = "verify-email"
RESET_PASSWORD = "reset-password"  # noqa: S105 (a purpose, not a password)
LIFETIMES = {VERIFY_EMAIL: timedelta(days=3), RESET_PASSWORD: timedelta(minutes=60)}
TOKEN_BYTES = 32
# Used and expired tokens are kept this long, to tell "already used" from "invalid".
KEEP_EXPIRED = timedelta(days=1)


async def _issue(session: AsyncSession, user: User, purpose: str) -> str:
    """A new token for `user`, added to the session; returns the token itself."""
    now = utcnow()
    # Old tokens go as new ones come: no cron job. Without autoflush, so that a new
    # account is still written by the caller's commit, where a name taken in a
    # race is answered as such (accounts/users.py, commit_unique).
    with session.no_autoflush:
        await tokens.purge(session, EmailToken, EmailToken.expires_at < now - KEEP_EXPIRED)
    token, token_hash = tokens.new_secret(TOKEN_BYTES)
    # What a reset link remembers of the password hash it may replace.
    stamp = tokens.digest(user.password_hash) if purpose == RESET_PASSWORD else None
    session.add(
        EmailToken(
            token_hash=token_hash,
            purpose=purpose,
            user=user,
            email_key=user.email_key,
            password_stamp=stamp,
            created_at=now,
            expires_at=now + LIFETIMES[purpose],
        )
    )
    return token


# Per purpose: the page its link opens, and the mail's subject and template.
LINK_MAILS = {
    VERIFY_EMAIL: ("/verify-email", "Confirm your email address", "verify_email.txt"),
    RESET_PASSWORD: ("/reset-password", "Reset your password", "reset_password.txt"),
}


async def _queue_link(session: AsyncSession, user: User, purpose: str) -> None:
    """Issue a token for `purpose` and queue the mail that carries its link (429
    `mail_limit` past the address's or the account's budget). The link starts from
    PUBLIC_URL, never from a request's Host (which a client chooses). A mail still
    stuck when its link expires is given up: it would only be noise."""
    token = await _issue(session, user, purpose)
    path, subject, template = LINK_MAILS[purpose]
    lifetime = LIFETIMES[purpose]
    await account_mail.send(
        session,
        user,
        subject,
        template,
        # The reset flow is the owner's way back in: limited per address instead.
        account_budget=purpose != RESET_PASSWORD,
        give_up_after=lifetime,
        email=user.email,
        link=f"{get_settings().site_url}{path}?token={token}",
        minutes=int(lifetime.total_seconds() // 60),
        days=lifetime.days,
    )


async def queue_verification(session: AsyncSession, user: User) -> None:
    """Mail `user` a link that proves their address is theirs."""
    await _queue_link(session, user, VERIFY_EMAIL)


async def queue_password_reset(session: AsyncSession, user: User) -> None:
    """Mail `user` a link to choose a new password."""
    await _queue_link(session, user, RESET_PASSWORD)


async def queue_password_reset_for(
    sessionmaker: async_sessionmaker[AsyncSession], email_key: str
) -> None:
    """Mail a reset link to the account that uses this (folded) address, if any. Run
    well after a reset request has been answered (`reset_password_later`), so that
    nothing about it shows in that answer or the requests that follow. The token and
    the mail are committed together; past the address's budget nothing is sent, and
    nobody is told (the answer went long ago, and must not differ anyway)."""
    async with sessionmaker() as session:
        user = await session.scalar(select(User).where(User.email_key == email_key))
        if user is None:
            return
        try:
            await queue_password_reset(session, user)
        except DomainError as error:
            if error.code != account_mail.MAIL_LIMIT:
                raise
            return  # rolled back as the session closes
        await session.commit()


# A reset request's follow-up (the lookup, and for a known address the token, the mail
# and its SMTP conversation) starts this many seconds after the answer, at random.
RESET_DELAY_SECONDS = (0.5, 5.0)
_random = secrets.SystemRandom()
# Detached follow-ups not done yet (asyncio keeps only weak references to tasks), and
# those of them still in their random wait.
_pending: set[asyncio.Task[None]] = set()
_waiting: set[asyncio.Task[None]] = set()


def reset_delay() -> float:
    """Seconds from a reset request's answer to its follow-up: random, from a source an
    attacker cannot predict from earlier ones."""
    return _random.uniform(*RESET_DELAY_SECONDS)


def reset_password_later(sessionmaker: async_sessionmaker[AsyncSession], email_key: str) -> None:
    """Look the address up and mail its account a reset link, later, detached from the
    request. Run right after the answer (a BackgroundTask), that work fell on the
    event loop just as the client's next request came: after a known address the next
    request took 3 times as long, which told the address was known. At a random moment
    seconds later, its cost lands on whatever the server is doing then, unrelated to
    the client's requests, and the limits per address and client leave too few tries
    to find it statistically. Nothing of it is written before then: a worker that
    stops gracefully meanwhile does it as it stops (`run_pending_resets`); one killed
    loses the request (the person asks again), never a message."""
    task = asyncio.get_running_loop().create_task(_reset_after_a_while(sessionmaker, email_key))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def run_pending_resets() -> None:
    """For a worker that stops (its lifespan's shutdown, after the last request, so no
    timing is left to hide): the follow-ups still waiting are done now, not lost."""
    for task in list(_waiting):
        task.cancel()  # the wait only: see _reset_after_a_while
    await asyncio.gather(*_pending, return_exceptions=True)


async def _reset_after_a_while(
    sessionmaker: async_sessionmaker[AsyncSession], email_key: str
) -> None:
    task = asyncio.current_task()
    assert task is not None
    _waiting.add(task)
    # Cancelled while waiting, the worker is stopping: then it is done at once.
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(reset_delay())
    _waiting.discard(task)
    try:
        await queue_password_reset_for(sessionmaker, email_key)
    except Exception:
        logger.exception("A password reset request was lost")


def _invalid(code: str, detail: str) -> DomainError:
    return DomainError(status.HTTP_400_BAD_REQUEST, code, detail)


async def find(session: AsyncSession, token: str, purpose: str) -> EmailToken:
    """The live token and its user, or 400 saying what is wrong with the link."""
    row = await session.scalar(
        select(EmailToken)
        .options(joinedload(EmailToken.user))
        .where(EmailToken.token_hash == tokens.digest(token), EmailToken.purpose == purpose)
    )
    if row is None:
        raise _invalid("link_invalid", "This link is not valid; check that it was copied whole")
    if row.used_at is not None:
        raise _invalid("link_used", "This link has already been used")
    if utcnow() >= row.expires_at:
        raise _invalid("link_expired", "This link has expired; ask for a new one")
    if row.user.email_key != row.email_key:
        raise _invalid(
            "link_email_changed", "This link was sent to an address the account no longer uses"
        )
    if row.password_stamp is not None and row.password_stamp != tokens.digest(
        row.user.password_hash
    ):
        raise _invalid(
            "link_password_changed",
            "This link no longer works: the password has changed since it was sent",
        )
    return row


async def use(session: AsyncSession, row: EmailToken) -> None:
    """Spend the token in the caller's transaction; 400 if another request just did."""
    spent = await rows_changed(
        session,
        update(EmailToken)
        .where(EmailToken.id == row.id, EmailToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False),
    )
    if spent != 1:
        raise _invalid("link_used", "This link has already been used")
