"""/api/users/me/totp, /api/users/me/recovery-codes and /api/users/token/mfa: turning
two-factor authentication on and off, and the second step of a password sign-in
(accounts/mfa.py). Every change needs a recently authenticated session."""

from fastapi import APIRouter, Request, Response, status

from accounts import mfa
from auth import RecentSession
from database import SessionDep
from schemas import (
    MfaSignIn,
    RecoveryCodes,
    Token,
    TotpConfirmation,
    TotpEnrolment,
    error_responses,
)
from web.signin import sign_in

router = APIRouter(prefix="/api/users", tags=["users"])


def _no_store(response: Response) -> None:
    """Secrets and one-time codes are never kept by a cache."""
    response.headers["Cache-Control"] = "no-store"


@router.post(
    "/me/totp",
    response_model=TotpEnrolment,
    responses=error_responses(401, 409, 413, 429),
)
async def start_totp(
    response: Response, current_session: RecentSession, session: SessionDep
) -> TotpEnrolment:
    """Start enrolment: a new secret (as text, as an `otpauth://` URI and as a QR code),
    pending until POST /me/totp/confirmation proves the app has it. Nothing is
    enforced yet; 409 `totp_already_enabled` while 2FA is on."""
    enrolment = await mfa.start_enrolment(session, user_id=current_session.user_id)
    _no_store(response)
    return TotpEnrolment(
        secret=enrolment.secret, otpauth_uri=enrolment.otpauth_uri, qr_svg=enrolment.qr_svg
    )


@router.post(
    "/me/totp/confirmation",
    response_model=RecoveryCodes,
    responses=error_responses(400, 401, 409, 413, 429),
)
async def confirm_totp(
    request: Request,
    response: Response,
    body: TotpConfirmation,
    current_session: RecentSession,
    session: SessionDep,
) -> RecoveryCodes:
    """Turn 2FA on with a current code of the pending secret (throttled like a
    password): the ten recovery codes, shown this once."""
    codes = await mfa.confirm_enrolment(
        request, session, user_id=current_session.user_id, code=body.code
    )
    _no_store(response)
    return RecoveryCodes(recovery_codes=codes)


@router.delete(
    "/me/totp",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 409, 429),
)
async def turn_off_totp(
    request: Request, current_session: RecentSession, session: SessionDep
) -> None:
    """Turn 2FA off (409 `totp_not_enabled` when it is off): the recovery codes go too."""
    await mfa.turn_off(session, user_id=current_session.user_id, request=request)


@router.post(
    "/me/recovery-codes",
    response_model=RecoveryCodes,
    responses=error_responses(401, 409, 429),
)
async def replace_recovery_codes(
    request: Request, response: Response, current_session: RecentSession, session: SessionDep
) -> RecoveryCodes:
    """A new set of ten recovery codes; the old ones stop working."""
    codes = await mfa.replace_recovery_codes(
        session, user_id=current_session.user_id, request=request
    )
    _no_store(response)
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/token/mfa",
    response_model=Token,
    responses=error_responses(401, 403, 413, 429),
)
async def sign_in_with_code(
    request: Request, response: Response, body: MfaSignIn, session: SessionDep
) -> Token:
    """The second step of a password sign-in on an account with 2FA: the `mfa_token`
    from POST /token's 401 `mfa_required`, and a current code from the app or an unused
    recovery code. Answers as a login does (the access token, the refresh cookie)."""
    user, method = await mfa.complete_challenge(
        request, session, mfa_token=body.mfa_token, code=body.code
    )
    return await sign_in(request, response, session, user, method)
