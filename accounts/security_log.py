"""The security log: what happened to how an account is signed into, for its owner to
read (GET /api/users/me/security-events, the account page's "Recent security activity").

An event is added in the transaction of what it records (`record` never commits), so
the log says what was committed and nothing else; a refused change leaves no event.
Events older than SECURITY_LOG_DAYS are deleted as new ones are written (no cron job),
and never read back (`page_of_events`), so the limit holds while nothing is written.
Times come from the sessions' clock (accounts/sessions.utcnow), which tests move.
"""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from fastapi import Request
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import sessions
from config import get_settings
from content.pagination import encode_id_cursor
from models import SECURITY_EVENT_DETAIL_MAX, SecurityEvent

# The cursor's kind (content/pagination.encode_id_cursor): another list's cursor is refused.
CURSOR_KIND = "security-events"


class EventType(StrEnum):
    """The kinds of event, as the API names them (a contract: never renamed)."""

    SIGN_IN = "sign_in"  # detail: the SignInMethod
    # detail: what failed: "password", "code" (a sign-in's second step) or
    # "reauthentication" (a signed-in session's password or code was wrong)
    SIGN_IN_FAILED = "sign_in_failed"
    REAUTHENTICATED = "reauthenticated"  # detail: the SignInMethod
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a name, not a secret)
    PASSWORD_RESET = "password_reset"  # noqa: S105 (a name, not a secret)
    EMAIL_CHANGED = "email_changed"  # detail: the new address
    TOTP_ENABLED = "totp_enabled"
    TOTP_DISABLED = "totp_disabled"  # detail: "by an admin" when manage.py did it
    RECOVERY_CODES_REPLACED = "recovery_codes_replaced"
    RECOVERY_CODE_USED = "recovery_code_used"  # detail: how many are left
    PASSKEY_ADDED = "passkey_added"  # detail: the passkey's name
    PASSKEY_REMOVED = "passkey_removed"  # detail: the passkey's name
    IDENTITY_LINKED = "identity_linked"  # detail: the provider's name
    IDENTITY_UNLINKED = "identity_unlinked"  # detail: the provider's name
    SESSION_ENDED = "session_ended"  # one session ended from the sessions list
    OTHER_SESSIONS_ENDED = "other_sessions_ended"  # "log out everywhere else"
    ACCESS_TOKEN_CREATED = "access_token_created"  # noqa: S105 (a name) detail: its name
    ACCESS_TOKEN_REVOKED = "access_token_revoked"  # noqa: S105 (a name) detail: its name
    # detail: its name (the event's address is the new one)
    ACCESS_TOKEN_NEW_ADDRESS = "access_token_new_address"  # noqa: S105 (a name)
    SUSPENDED = "suspended"
    RESTORED = "restored"


class SignInMethod(StrEnum):
    """How a session proved who uses it (UserSession.auth_method, a sign-in's detail)."""

    PASSWORD = "password"  # noqa: S105 (a name, not a secret)
    PASSKEY = "passkey"
    PASSWORD_TOTP = "password+totp"  # noqa: S105 (a name, not a secret)
    PASSWORD_RECOVERY_CODE = "password+recovery_code"  # noqa: S105 (a name, not a secret)
    # A provider's sign-in is "oidc:<name>" (see `provider_method`), with "+totp" or
    # "+recovery_code" after it when the account's second factor followed.


def provider_method(provider: str) -> str:
    """The sign-in method of a session started through the OpenID Connect provider
    `provider` (its configured name)."""
    return f"oidc:{provider}"


def _oldest_kept(now: datetime) -> datetime:
    return now - timedelta(days=get_settings().security_log_days)


async def record(
    session: AsyncSession,
    user_id: int,
    event: EventType,
    request: Request | None,
    detail: str = "",
) -> None:
    """Add `event` for the account, with the client's address and browser; committed
    (or not) with the caller's transaction. Also drops events past the keeping time."""
    now = sessions.utcnow()
    await session.execute(
        delete(SecurityEvent)
        .where(SecurityEvent.created_at < _oldest_kept(now))
        .execution_options(synchronize_session=False)
    )
    # None: from the server's shell (manage.py), or an admin's act whose address is not
    # the owner's business; no client either way.
    user_agent, ip = sessions.client_details(request) if request is not None else ("", "")
    session.add(
        SecurityEvent(
            user_id=user_id,
            type=event.value,
            created_at=now,
            ip=ip,
            user_agent=user_agent,
            detail=detail[:SECURITY_EVENT_DETAIL_MAX],
        )
    )


class PageOfEvents(NamedTuple):
    events: list[SecurityEvent]
    next_cursor: str | None


async def page_of_events(
    session: AsyncSession, *, user_id: int, before: int | None, limit: int
) -> PageOfEvents:
    """The account's events newest first, `limit` at a time, resumed below the id
    `before` (ids only grow: ix_security_events_user_id_id walks them in order). Events
    past the keeping time are left out even while no new event has purged them."""
    query = (
        select(SecurityEvent)
        .where(
            SecurityEvent.user_id == user_id,
            SecurityEvent.created_at >= _oldest_kept(sessions.utcnow()),
        )
        .order_by(SecurityEvent.id.desc())
        .limit(limit + 1)
    )
    if before is not None:
        query = query.where(SecurityEvent.id < before)
    rows = list(await session.scalars(query))
    if len(rows) <= limit:
        return PageOfEvents(rows, None)
    return PageOfEvents(rows[:limit], encode_id_cursor(CURSOR_KIND, rows[limit - 1].id))
