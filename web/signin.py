"""What every way of proving who you are shares: the throttled password check (one
budget whichever route a password comes through), asking for the password again before
a sensitive change, and starting a session once the proof is in."""

from collections.abc import Awaitable, Callable
from typing import TypeVar

from fastapi import Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import security_log, sessions
from accounts.security_log import EventType, SignInMethod
from accounts.throttle import LoginThrottle
from auth import token_for, verify_password
from errors.domain import DomainError
from models import User
from schemas import Token

LOGIN_FAILED = "Incorrect email or password"
T = TypeVar("T")


def login_failed() -> DomainError:
    """The one answer to a wrong email or password: which of the two is never said."""
    return DomainError(
        status.HTTP_401_UNAUTHORIZED,
        "invalid_credentials",
        LOGIN_FAILED,
        headers={"WWW-Authenticate": "Bearer"},
    )


async def throttled(
    request: Request,
    email_key: str,
    check: Callable[[], Awaitable[T]],
    passed: Callable[[T], bool] = bool,
    *,
    forgive: bool = True,
) -> T:
    """Run `check` (a password or a code of the account `email_key`) within the login
    throttle: one per-account and per-client budget for every guess, whatever is
    guessed (429 once it is gone). `passed` says whether the outcome was right; an
    exception counts as a failure. A right answer clears the account's failures unless
    not `forgive` (a password that a code must follow). `check` must end its own
    transaction: the throttle writes through connections of its own."""
    throttle: LoginThrottle = request.state.login_throttle
    attempt = await throttle.reserve(email_key, sessions.client_address(request))
    try:
        outcome = await check()
    except Exception:
        await throttle.failed(attempt)
        raise
    if passed(outcome):
        await throttle.succeeded(attempt, forgive=forgive)
    else:
        await throttle.failed(attempt)
    return outcome


async def check_password(
    request: Request,
    email_key: str,
    password: str,
    password_hash: str | None,
    *,
    forgive: bool = True,
) -> tuple[bool, str | None]:
    """`verify_password`, throttled: every password check, whichever route it comes
    through, spends the same per-account and per-client budget (429 once it is gone).
    `forgive=False` on an account with 2FA: see `throttled`."""
    return await throttled(
        request,
        email_key,
        lambda: verify_password(password, password_hash),
        lambda result: result[0],
        forgive=forgive,
    )


async def confirm_current_password(
    request: Request, session: AsyncSession, user: User, password: str
) -> None:
    """The `current_password` a sensitive change came with, checked (and throttled):
    400 `current_password_incorrect` when wrong. web/step_up.py decides when it is
    needed."""
    await session.commit()  # release the connection while Argon2 runs
    valid, _ = await check_password(request, user.email_key, password, user.password_hash)
    if not valid:
        raise DomainError(
            status.HTTP_400_BAD_REQUEST,
            "current_password_incorrect",
            "Current password is incorrect",
        )


def account_suspended() -> DomainError:
    """A suspended account signs in by no method (password, passkey, refresh). Said only
    once the password or passkey has been proven, so the refusal tells a guesser nothing."""
    return DomainError(
        status.HTTP_403_FORBIDDEN,
        "account_suspended",
        "This account is suspended: it cannot sign in until an admin restores it",
    )


async def sign_in(
    request: Request,
    response: Response,
    session: AsyncSession,
    user: User,
    method: str = SignInMethod.PASSWORD,
) -> Token:
    """Start a session for `user`, whose identity has just been proven (a password, a
    passkey, a password and a code, a provider): the refresh cookie on `response`, the access token
    in the answer, a `sign_in` event in the security log. Every way of signing in comes
    through here, so a suspended account is refused here."""
    if user.suspended_at is not None:
        raise account_suspended()
    await security_log.record(session, user.id, EventType.SIGN_IN, request, str(method))
    row, refresh_token = await sessions.start(session, user, request, str(method))
    sessions.set_refresh_cookie(request, response, row, refresh_token)
    response.headers["Cache-Control"] = "no-store"
    return Token(access_token=token_for(user, row.id))
