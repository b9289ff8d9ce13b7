"""Two-factor authentication as the account sees it: enrolment (a pending secret,
turned on by its first code), turning it off, recovery codes replaced, and the second
step of a password sign-in (an `mfa_token` traded with a code for a session).

The codes themselves are accounts/totp.py's. Every code check goes through the login
throttle (web/signin.throttled), so guessing codes spends the same per-account budget
as guessing passwords. Each change is one transaction with its security event and its
notice mail: all of it happens, or none of it.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request, status
from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import notices, rate_limits, security_log, sessions, tokens, totp
from accounts.security_log import EventType, SignInMethod
from accounts.totp import SecondFactor
from database import rows_changed
from errors.domain import DomainError
from models import MfaChallenge, User
from web.signin import throttled

# An mfa_token: how long it lives, how many wrong codes it survives, its random bytes.
CHALLENGE_LIFETIME = timedelta(minutes=5)
CHALLENGE_MAX_FAILURES = 5
CHALLENGE_TOKEN_BYTES = 32
MFA_TOKEN_MAX = 128
# Changes per account and hour: enough for any person, too few to churn mail or rows.
ENROLMENTS_PER_HOUR = 10
TOTP_CHANGES_PER_HOUR = 10
# Password sign-ins reaching the second step, per account and hour (each a row).
CHALLENGES_PER_HOUR = 30

SIGN_IN_METHODS = {
    SecondFactor.TOTP: SignInMethod.PASSWORD_TOTP,
    SecondFactor.RECOVERY_CODE: SignInMethod.PASSWORD_RECOVERY_CODE,
}


@dataclass(frozen=True)
class Enrolment:
    secret: str
    otpauth_uri: str
    qr_svg: str


def _already_enabled() -> DomainError:
    return DomainError(
        status.HTTP_409_CONFLICT,
        "totp_already_enabled",
        "Two-factor authentication is already on: turn it off first to use another app",
    )


def _not_enabled() -> DomainError:
    return DomainError(
        status.HTTP_409_CONFLICT, "totp_not_enabled", "Two-factor authentication is off"
    )


def _not_pending() -> DomainError:
    return DomainError(
        status.HTTP_409_CONFLICT,
        "totp_not_pending",
        "No two-factor enrolment is waiting for a code: start one first",
    )


def _code_invalid() -> DomainError:
    return DomainError(
        status.HTTP_400_BAD_REQUEST,
        "totp_code_invalid",
        "That code is wrong, used already or expired: type the current one from your app",
    )


def _token_invalid() -> DomainError:
    """Unknown, malformed, expired, used or worn out by wrong codes: which, is not said."""
    return DomainError(
        status.HTTP_401_UNAUTHORIZED,
        "mfa_token_invalid",
        "This sign-in has expired: log in with your password again",
    )


def _sign_in_code_invalid() -> DomainError:
    return DomainError(
        status.HTTP_401_UNAUTHORIZED,
        "mfa_code_invalid",
        "That code is wrong, used already or expired",
    )


async def _account(db: AsyncSession, user_id: int) -> User:
    """The account as stored now (a bearer token's user is a detached copy)."""
    user = await db.get(User, user_id, populate_existing=True)
    if user is None:  # deleted while the request ran
        raise _not_enabled()
    return user


async def start_enrolment(db: AsyncSession, *, user_id: int) -> Enrolment:
    """A new secret, kept sealed as the account's pending one (a previous pending one is
    replaced): nothing is enforced until a code of it is confirmed."""
    user = await _account(db, user_id)
    if user.totp_enabled:
        raise _already_enabled()
    await rate_limits.spend(db, {f"totp-enrolment:{user.id}": ENROLMENTS_PER_HOUR})
    secret = totp.new_secret()
    user.totp_pending_secret = totp.seal(secret)
    uri = totp.otpauth_uri(user, secret)
    await db.commit()
    return Enrolment(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


async def confirm_enrolment(
    request: Request, db: AsyncSession, *, user_id: int, code: str
) -> list[str]:
    """Turn 2FA on with the first code of the pending secret (throttled like a
    password; the code's step is claimed, so it cannot sign in later): the ten recovery
    codes to show once."""
    user = await _account(db, user_id)
    if user.totp_enabled:
        raise _already_enabled()
    pending = user.totp_pending_secret
    secret = totp.unseal(pending) if pending else None
    if pending is None or secret is None:
        raise _not_pending()
    await db.commit()  # the throttle writes through its own connections

    async def check() -> list[str] | None:
        try:
            if not await totp.accept_totp(db, user, secret, code):
                await db.rollback()
                return None
            codes, hashes = totp.new_recovery_codes()
            turned_on = await rows_changed(
                db,
                update(User)
                .where(User.id == user.id, User.totp_pending_secret == pending)
                .values(totp_secret=pending, totp_pending_secret=None, recovery_codes=hashes)
                .execution_options(synchronize_session=False),
            )
            if turned_on != 1:  # confirmed or restarted by a request racing this one
                raise _not_pending()
            await security_log.record(db, user.id, EventType.TOTP_ENABLED, request)
            await notices.queue_totp_enabled(db, user)
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        return codes

    codes = await throttled(request, user.email_key, check, lambda codes: codes is not None)
    if codes is None:
        raise _code_invalid()
    return codes


async def turn_off(
    db: AsyncSession, *, user_id: int, request: Request | None, by_admin: bool = False
) -> User:
    """2FA off: the secret, a pending one, the recovery codes and the last step go.
    `request` None and `by_admin`: from the server's shell (manage.py reset-2fa),
    which no rate limit holds back."""
    user = await _account(db, user_id)
    if not by_admin:
        await rate_limits.spend(db, {f"totp-change:{user.id}": TOTP_CHANGES_PER_HOUR})
    turned_off = await rows_changed(
        db,
        update(User)
        .where(User.id == user.id, User.totp_secret.is_not(None))
        .values(totp_secret=None, totp_pending_secret=None, recovery_codes="", totp_last_step=None)
        .execution_options(synchronize_session=False),
    )
    if turned_off != 1:
        raise _not_enabled()
    detail = "by an admin" if by_admin else ""
    await security_log.record(db, user.id, EventType.TOTP_DISABLED, request, detail)
    await notices.queue_totp_disabled(db, user, by_admin=by_admin)
    await db.commit()
    return user


async def replace_recovery_codes(db: AsyncSession, *, user_id: int, request: Request) -> list[str]:
    """A new set of recovery codes, the old ones void: the new ones to show once."""
    user = await _account(db, user_id)
    await rate_limits.spend(db, {f"totp-change:{user.id}": TOTP_CHANGES_PER_HOUR})
    codes, hashes = totp.new_recovery_codes()
    replaced = await rows_changed(
        db,
        update(User)
        .where(User.id == user.id, User.totp_secret.is_not(None))
        .values(recovery_codes=hashes)
        .execution_options(synchronize_session=False),
    )
    if replaced != 1:
        raise _not_enabled()
    await security_log.record(db, user.id, EventType.RECOVERY_CODES_REPLACED, request)
    await notices.queue_recovery_codes_replaced(db, user)
    await db.commit()
    return codes


# --- The second step of a password sign-in -------------------------------------------


async def start_challenge(
    db: AsyncSession, *, user: User, method: str = SignInMethod.PASSWORD
) -> DomainError:
    """The first factor of an account with 2FA is proven (`method`: its password, or a
    provider's "oidc:<name>"): the 401 `mfa_required` that hands out a new `mfa_token`
    (only its digest is kept), for POST /token/mfa."""
    now = sessions.utcnow()
    await tokens.purge(db, MfaChallenge, MfaChallenge.expires_at <= now)
    await rate_limits.spend(db, {f"mfa-challenge:{user.id}": CHALLENGES_PER_HOUR})
    token, token_hash = tokens.new_secret(CHALLENGE_TOKEN_BYTES)
    db.add(
        MfaChallenge(
            token_hash=token_hash,
            user_id=user.id,
            method=str(method),
            created_at=now,
            expires_at=now + CHALLENGE_LIFETIME,
        )
    )
    await db.commit()
    return DomainError(
        status.HTTP_401_UNAUTHORIZED,
        "mfa_required",
        "Type the code from your authenticator app (or a recovery code) to finish signing in",
        headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"},
        extra={"mfa_token": token},
    )


async def complete_challenge(
    request: Request, db: AsyncSession, *, mfa_token: str, code: str
) -> tuple[User, str]:
    """Trade a live `mfa_token` and a code for the account and how it proved itself
    (a SignInMethod, or the first factor's "oidc:<name>" and the second's name);
    the token is spent. A wrong code is counted on the token (dead after
    CHALLENGE_MAX_FAILURES) and in the login throttle, and logged."""
    if len(mfa_token) > MFA_TOKEN_MAX or not mfa_token.isascii():
        raise _token_invalid()
    token_hash = tokens.digest(mfa_token)

    def alive(now: datetime) -> list[ColumnElement[bool]]:
        return [
            MfaChallenge.token_hash == token_hash,
            MfaChallenge.expires_at > now,
            MfaChallenge.failures < CHALLENGE_MAX_FAILURES,
        ]

    challenge = await db.scalar(select(MfaChallenge).where(*alive(sessions.utcnow())))
    user = await db.get(User, challenge.user_id) if challenge else None
    await db.commit()  # the throttle writes through its own connections
    if challenge is None or user is None or not user.totp_enabled:
        raise _token_invalid()
    # A rollback expires the objects.
    user_id, challenge_id, first_factor = user.id, challenge.id, challenge.method

    async def check() -> SecondFactor | None:
        try:
            # Spent first, in the transaction that uses the code: of two requests
            # racing with one token, one gets in and the other changes nothing.
            spent = await rows_changed(
                db,
                delete(MfaChallenge)
                .where(*alive(sessions.utcnow()))
                .execution_options(synchronize_session=False),
            )
            if spent != 1:
                raise _token_invalid()
            factor = await totp.accept_second_factor(db, user, code)
            if factor is None:
                await db.rollback()
                await db.execute(
                    update(MfaChallenge)
                    .where(MfaChallenge.id == challenge_id)
                    .values(failures=MfaChallenge.failures + 1)
                    .execution_options(synchronize_session=False)
                )
                await security_log.record(db, user_id, EventType.SIGN_IN_FAILED, request, "code")
                await db.commit()
                return None
            if factor == SecondFactor.RECOVERY_CODE:
                await recovery_code_used(db, user=user, request=request)
            await db.commit()
        except BaseException:
            await db.rollback()
            raise
        return factor

    factor = await throttled(request, user.email_key, check, lambda found: found is not None)
    if factor is None:
        raise _sign_in_code_invalid()
    if first_factor == SignInMethod.PASSWORD:
        return user, SIGN_IN_METHODS[factor]
    return user, f"{first_factor}+{factor}"


async def recovery_code_used(db: AsyncSession, *, user: User, request: Request) -> None:
    """A recovery code was just used up (a sign-in, a reauthentication): logged, and the
    owner mailed how many are left, in the caller's transaction."""
    left = user.recovery_codes_left
    await security_log.record(db, user.id, EventType.RECOVERY_CODE_USED, request, str(left))
    await notices.queue_recovery_code_used(db, user, left)
