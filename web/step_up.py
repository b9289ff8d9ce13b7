"""Step-up: sensitive actions (a new email or password, deleting the account, adding or
removing a passkey, ending the other sessions) need a session that proved who uses it
within REAUTH_WINDOW_MINUTES, not only a token that may have been stolen. (Turning
2FA on or off and replacing the recovery codes need it too: the TOTP routes take
auth.RecentSession.)

Signing in counts; so does `POST /api/users/me/reauthentication` (the password, plus
a code when 2FA is on, or a passkey). The `current_password` some request bodies
carried before step-up still works instead: right, it also counts as reauthenticating;
wrong, it is 400 `current_password_incorrect` and spends the login throttle. On an
account with 2FA the password alone is not a reauthentication (it would step around
the second factor), so there `current_password` only confirms a session that is
recent anyway.
"""

from fastapi import Request, status
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import mfa, passkeys, security_log, sessions, totp
from accounts.security_log import EventType, SignInMethod
from accounts.totp import SecondFactor
from auth import LiveSession, reauthentication_required, verify_password
from errors.domain import DomainError
from models import User
from web.signin import confirm_current_password, throttled


async def confirm_recent(
    request: Request, session: AsyncSession, live: LiveSession, *, current_password: str | None
) -> None:
    """Let a sensitive action go ahead: the session authenticated recently, or (no 2FA)
    `current_password` is given and right, which marks the session authenticated
    (committed at once, so a retry after a later refusal needs no password again).
    401 `reauthentication_required` otherwise, and nothing changes."""
    user = live.user
    if user.totp_enabled and not live.recently_authenticated():
        raise reauthentication_required()
    if current_password is not None:
        await confirm_current_password(request, session, user, current_password)
        if not user.totp_enabled:
            await sessions.mark_authenticated(session, live.id)
            await session.commit()
        return
    if not live.recently_authenticated():
        raise reauthentication_required()


def _failed(detail: str) -> DomainError:
    return DomainError(status.HTTP_400_BAD_REQUEST, "reauthentication_failed", detail)


def _code_required() -> DomainError:
    return DomainError(
        status.HTTP_400_BAD_REQUEST,
        "mfa_code_required",
        "Enter the code from your authenticator app, or a recovery code",
    )


async def reauthenticate_with_password(
    request: Request,
    session: AsyncSession,
    live: LiveSession,
    *,
    password: str,
    code: str | None,
) -> None:
    """The session proves again who uses it: the password, and with 2FA on a current
    TOTP code or an unused recovery code (400 `mfa_code_required` without one, before
    any check). One attempt of the login throttle (429 once spent); a wrong password or
    code is 400 `reauthentication_failed`, which never says which of the two was wrong.
    Marks the session authenticated and logs `reauthenticated`. Commits."""
    user = await session.get(User, live.user_id, populate_existing=True)
    await session.commit()  # release the connection while Argon2 runs
    if user is None:  # deleted meanwhile
        raise reauthentication_required()
    two_factor = user.totp_enabled  # read now: a rollback below expires `user`
    if two_factor and not code:
        raise _code_required()

    async def check() -> SignInMethod | None:
        """The password, then the code: a method when both hold, else None (and a
        `sign_in_failed` event). Ends its transaction: the throttle writes apart."""
        try:
            valid, _ = await verify_password(password, user.password_hash)
            factor: SecondFactor | None = None
            if valid and two_factor and code is not None:
                factor = await totp.accept_second_factor(session, user, code)
                valid = factor is not None
            if not valid:
                await session.rollback()
                await security_log.record(
                    session, user_id, EventType.SIGN_IN_FAILED, request, "reauthentication"
                )
                await session.commit()
                return None
            if factor is SecondFactor.RECOVERY_CODE:
                await mfa.recovery_code_used(session, user=user, request=request)
            method = mfa.SIGN_IN_METHODS[factor] if factor is not None else SignInMethod.PASSWORD
            await _mark(request, session, live, method)  # commits
        except BaseException:
            await session.rollback()
            raise
        return method

    user_id = user.id
    method = await throttled(request, user.email_key, check, lambda found: found is not None)
    if method is None:
        raise _failed("Incorrect password or code" if two_factor else "Incorrect password")


async def second_factor_first(
    request: Request, session: AsyncSession, live: LiveSession, *, code: str | None
) -> str:
    """A reauthentication through a provider (routers/reauthentication.py) on an
    account with 2FA proves the code first, here, and the provider the rest at its
    callback: the factor proven ("totp" or "recovery_code", spent now), or "" without
    2FA. Throttled like a password (and forgiving nothing: half the proof is to come);
    400 `mfa_code_required` without a code, `reauthentication_failed` for a wrong one."""
    user = await session.get(User, live.user_id, populate_existing=True)
    await session.commit()  # the throttle writes through its own connections
    if user is None:  # deleted meanwhile
        raise reauthentication_required()
    if not user.totp_enabled:
        return ""
    if not code:
        raise _code_required()
    user_id = user.id

    async def check() -> SecondFactor | None:
        try:
            factor = await totp.accept_second_factor(session, user, code)
            if factor is None:
                await session.rollback()
                await security_log.record(
                    session, user_id, EventType.SIGN_IN_FAILED, request, "reauthentication"
                )
            elif factor is SecondFactor.RECOVERY_CODE:
                await mfa.recovery_code_used(session, user=user, request=request)
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        return factor

    factor = await throttled(
        request, user.email_key, check, lambda found: found is not None, forgive=False
    )
    if factor is None:
        raise _failed("That code is wrong, used already or expired")
    return factor.value


async def reauthenticate_with_passkey(
    request: Request, session: AsyncSession, live: LiveSession, *, answer: dict[str, object]
) -> None:
    """The session proves again who uses it with one of the account's own passkeys (see
    accounts/passkeys.reauthenticate for what is refused). Commits."""
    await passkeys.reauthenticate(session, request, live.user, dict(answer))
    await _mark(request, session, live, SignInMethod.PASSKEY)


async def _mark(
    request: Request, session: AsyncSession, live: LiveSession, method: SignInMethod
) -> None:
    await sessions.mark_authenticated(session, live.id)
    await security_log.record(
        session, live.user_id, EventType.REAUTHENTICATED, request, method.value
    )
    await session.commit()
