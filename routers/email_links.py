"""/api/users: what the links mailed to an account do. Verify its address, send that
link again, ask for a password reset, and choose a new password with one."""

from fastapi import APIRouter, Request, status
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from accounts import access_tokens, email_links, notices, rate_limits, security_log, sessions
from accounts.email_links import RESET_PASSWORD, VERIFY_EMAIL
from accounts.security_log import EventType
from auth import CurrentUser, hash_password
from database import SessionDep, rows_changed
from errors.domain import DomainError
from models import User, UserSession, fold
from schemas import (
    Accepted,
    EmailVerification,
    PasswordResetConfirm,
    PasswordResetRequest,
    error_responses,
    password_problem,
)

router = APIRouter(prefix="/api/users", tags=["users"])

# Mails a person or a client may have sent per hour (accounts/rate_limits.py).
RESENDS_PER_ACCOUNT = 3
RESETS_PER_EMAIL = 3
RESETS_PER_CLIENT = 10
RESET_ACCEPTED = (
    "If an account uses this address, a link to reset its password is on its way. "
    "It works for 60 minutes."
)


@router.post(
    "/verify-email", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(400, 413)
)
async def verify_email(body: EmailVerification, session: SessionDep) -> None:
    """Mark the address a verification link was mailed to as the account's own. Needs
    no sign-in: the link may be opened on another device."""
    row = await email_links.find(session, body.token, VERIFY_EMAIL)
    await email_links.use(session, row)
    row.user.email_verified = True
    await session.commit()


@router.post(
    "/me/verify-email/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses=error_responses(401, 409, 429),
)
async def resend_verification(current_user: CurrentUser, session: SessionDep) -> Accepted:
    """Mail a fresh verification link; earlier ones keep working until they expire.
    Besides its own limit, it spends the address's and the account's mail budgets
    (429 `mail_limit`)."""
    if current_user.email_verified:
        raise DomainError(
            status.HTTP_409_CONFLICT,
            "email_already_verified",
            "Your email address is already verified",
        )
    await rate_limits.spend(session, {f"resend:{current_user.id}": RESENDS_PER_ACCOUNT})
    session.add(current_user)
    await email_links.queue_verification(session, current_user)
    await session.commit()
    return Accepted(detail=f"A new link is on its way to {current_user.email}.")


@router.post(
    "/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses=error_responses(400, 413, 429),
)
async def request_password_reset(
    request: Request, body: PasswordResetRequest, session: SessionDep
) -> Accepted:
    """Mail a reset link if an account uses this address. The answer, and its time,
    are the same either way: the request only counts itself against the limits (which
    count every address alike, known or not), and whether an account uses the address
    is looked up seconds after the answer has gone, detached from the request (no
    hashing, no SMTP, no account-dependent work on the request's path or right
    after it). An unverified address past its mail budget silently gets nothing."""
    email_key = fold(body.email)
    limits = {
        f"reset-email:{email_key}": RESETS_PER_EMAIL,
        f"reset-client:{sessions.client_address(request)}": RESETS_PER_CLIENT,
    }
    await rate_limits.spend(session, limits)
    await session.commit()
    email_links.reset_password_later(request.state.sessionmaker, email_key)
    return Accepted(detail=RESET_ACCEPTED)


@router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(400, 413),
)
async def confirm_password_reset(
    request: Request, body: PasswordResetConfirm, session: SessionDep
) -> None:
    """Set the new password, end every session of the account (its access and refresh
    tokens answer 401 from now on) and mail a notice. The link proves the address too."""
    row = await email_links.find(session, body.token, RESET_PASSWORD)
    user = row.user
    problem = password_problem(body.new_password, username=user.username, email=user.email)
    if problem:
        raise DomainError(status.HTTP_422_UNPROCESSABLE_CONTENT, "password_too_guessable", problem)
    old_hash = user.password_hash
    await session.commit()  # release the connection while Argon2 runs
    new_hash = await hash_password(body.new_password)
    await email_links.use(session, row)
    # Only over the password and address the link was issued for: a change that
    # raced in while the hash was made wins, and this link is dead.
    changed = await rows_changed(
        session,
        update(User)
        .where(User.id == user.id, User.password_hash == old_hash, User.email_key == row.email_key)
        .values(password_hash=new_hash, email_verified=True)
        .execution_options(synchronize_session=False),
    )
    if changed != 1:
        raise DomainError(
            status.HTTP_400_BAD_REQUEST,
            "link_account_changed",
            "This link no longer works: the account changed since it was sent",
        )
    # The link proved the address (as just written): the notice may greet by name.
    set_committed_value(user, "email_verified", True)
    await notices.queue_password_changed(session, user, by_reset=True)
    await security_log.record(session, user.id, EventType.PASSWORD_RESET, request)
    await access_tokens.end_all(session, user_id=user.id)
    await sessions.revoke(session, UserSession.user_id == user.id)  # commits it all
