"""The security log: what happened to how an account is signed into, for its owner to
read (GET /api/users/me/security-events, the account page's "Recent security activity").

An event is added in the transaction of what it records (`record` never commits), so
the log says what was committed and nothing else; a refused change leaves no event.
Events older than SECURITY_LOG_DAYS are deleted as new ones are written: no cron job.
"""

from datetime import timedelta
from enum import StrEnum

from fastapi import Request
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.sessions import client_details
from config import get_settings
from models import SECURITY_EVENT_DETAIL_MAX, SecurityEvent, utcnow


class EventType(StrEnum):
    """The kinds of event, as the API names them (a contract: never renamed)."""

    SIGN_IN = "sign_in"  # detail: the SignInMethod
    SIGN_IN_FAILED = "sign_in_failed"  # detail: what failed ("password", "code")
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
    SESSION_ENDED = "session_ended"  # one session ended from the sessions list
    OTHER_SESSIONS_ENDED = "other_sessions_ended"  # "log out everywhere else"
    SUSPENDED = "suspended"
    RESTORED = "restored"


class SignInMethod(StrEnum):
    """How a session proved who uses it (UserSession.auth_method, a sign-in's detail)."""

    PASSWORD = "password"  # noqa: S105 (a name, not a secret)
    PASSKEY = "passkey"
    PASSWORD_TOTP = "password+totp"  # noqa: S105 (a name, not a secret)
    PASSWORD_RECOVERY_CODE = "password+recovery_code"  # noqa: S105 (a name, not a secret)


async def record(
    session: AsyncSession,
    user_id: int,
    event: EventType,
    request: Request | None,
    detail: str = "",
) -> None:
    """Add `event` for the account, with the client's address and browser; committed
    (or not) with the caller's transaction. Also drops events past the keeping time."""
    now = utcnow()
    await session.execute(
        delete(SecurityEvent)
        .where(SecurityEvent.created_at < now - timedelta(days=get_settings().security_log_days))
        .execution_options(synchronize_session=False)
    )
    # None: from the server's shell (manage.py), no client.
    user_agent, ip = client_details(request) if request is not None else ("", "")
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
