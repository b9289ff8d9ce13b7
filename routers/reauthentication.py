"""/api/users/me/reauthentication: a signed-in session proves again who uses it, so
that sensitive actions may go ahead for REAUTH_WINDOW_MINUTES (web/step_up.py)."""

from typing import Any

from fastapi import APIRouter, Request, Response, status
from pydantic import Field

from accounts import passkeys
from accounts.oidc import MAX_NEXT_LENGTH, FlowPurpose, provider_named, start_flow
from auth import CurrentSession
from database import SessionDep
from models import OIDC_PROVIDER_MAX
from schemas import (
    PASSKEY_OPTIONS_RESPONSE,
    CurrentPassword,
    IdentityLinkStarted,
    InputModel,
    PasskeySignIn,
    SecondFactorCode,
    error_responses,
    omittable,
)
from web import step_up

router = APIRouter(prefix="/api/users", tags=["reauthentication"])


class Reauthentication(InputModel):
    password: CurrentPassword
    code: SecondFactorCode | None = omittable(
        "With 2FA on: a current code from the authenticator app, or an unused recovery code"
    )


@router.post(
    "/me/reauthentication",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(400, 401, 413, 429),
)
async def reauthenticate(
    request: Request, body: Reauthentication, current: CurrentSession, session: SessionDep
) -> None:
    """Confirm it is you with your password (and, with 2FA on, a code): sensitive
    actions then go ahead for REAUTH_WINDOW_MINUTES. Spends the login throttle like a
    login; 400 `reauthentication_failed` for a wrong password or code, 400
    `mfa_code_required` when 2FA is on and no code came."""
    await step_up.reauthenticate_with_password(
        request, session, current, password=body.password, code=body.code
    )


@router.post(
    "/me/reauthentication/passkey/options",
    responses=PASSKEY_OPTIONS_RESPONSE | error_responses(400, 401, 413),
)
async def reauthentication_passkey_options(
    request: Request, current: CurrentSession, session: SessionDep
) -> dict[str, Any]:
    """Start confirming it is you with a passkey: options for
    `navigator.credentials.get()` that only this account's passkeys answer."""
    return await passkeys.reauthentication_options(session, request, current.user)


@router.post(
    "/me/reauthentication/passkey",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(400, 401, 413, 429),
)
async def reauthenticate_with_passkey(
    request: Request, body: PasskeySignIn, current: CurrentSession, session: SessionDep
) -> None:
    """Confirm it is you with the browser's answer to the options: one of this account's
    passkeys, with user verification."""
    await step_up.reauthenticate_with_passkey(
        request, session, current, answer=body.credential.model_dump()
    )


class ProviderReauthentication(InputModel):
    provider: str = Field(max_length=OIDC_PROVIDER_MAX, description="A provider linked to you")
    next: str = Field(
        default="/",
        max_length=MAX_NEXT_LENGTH,
        description="This site's page to come back to (another site's address means /)",
    )
    code: SecondFactorCode | None = omittable(
        "With 2FA on: a current code from the authenticator app, or an unused recovery "
        "code (checked now, and spent; the provider proves the rest)"
    )


@router.post(
    "/me/reauthentication/oidc",
    response_model=IdentityLinkStarted,
    responses=error_responses(400, 401, 404, 413, 429),
)
async def reauthentication_provider_start(
    request: Request,
    response: Response,
    body: ProviderReauthentication,
    current: CurrentSession,
    session: SessionDep,
) -> IdentityLinkStarted:
    """Start confirming it is you by signing in at a provider linked to your account:
    send the browser to `authorization_url`; it comes back to `next`, the session
    confirmed. With 2FA on, `code` comes too and is checked first (400
    `mfa_code_required` without one, `reauthentication_failed` when wrong; throttled
    like a login)."""
    provider = provider_named(request.state.oidc_providers, body.provider)
    factor = await step_up.second_factor_first(request, session, current, code=body.code)
    url = start_flow(
        request,
        response,
        provider,
        next_path=body.next,
        purpose=FlowPurpose.REAUTHENTICATE,
        user_id=current.user_id,
        session_id=current.id,
        second_factor=factor,
    )
    return IdentityLinkStarted(authorization_url=url)
