"""/api/users passkeys: add, list, rename and remove them; sign in with one.

What the ceremonies are checked against (relying party, challenges, counters) is in
accounts/passkeys.py; the WebAuthn verification itself is py_webauthn's.
"""

from typing import Any

from fastapi import APIRouter, Request, Response, status
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import notices, passkeys, security_log
from accounts.security_log import EventType, SignInMethod
from auth import CurrentSession, CurrentUser, RecentSession
from database import SessionDep
from errors.domain import DomainError
from models import Passkey
from schemas import (
    PASSKEY_OPTIONS_RESPONSE,
    PasskeyInfo,
    PasskeyOptionsRequest,
    PasskeyRegistration,
    PasskeyRename,
    PasskeySignIn,
    PathId,
    Token,
    error_responses,
)
from web.signin import sign_in
from web.step_up import confirm_recent

router = APIRouter(prefix="/api/users", tags=["passkeys"])


async def _own_passkey(session: AsyncSession, user_id: int, passkey_id: int) -> Passkey:
    """One of the user's passkeys; 404 for any other, someone else's included."""
    passkey = await session.scalar(
        select(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user_id)
    )
    if passkey is None:
        raise DomainError(status.HTTP_404_NOT_FOUND, "passkey_not_found", "Passkey not found")
    return passkey


@router.post(
    "/me/passkeys/options",
    responses=PASSKEY_OPTIONS_RESPONSE | error_responses(400, 401, 413, 429),
)
async def passkey_registration_options(
    request: Request,
    current: CurrentSession,
    session: SessionDep,
    body: PasskeyOptionsRequest | None = None,
) -> dict[str, Any]:
    """Start adding a passkey: options for `navigator.credentials.create()`. Needs
    recent authentication or `current_password` (web/step_up.py); the body may be left
    out."""
    password = body.current_password if body is not None else None
    await confirm_recent(request, session, current, current_password=password)
    return await passkeys.registration_options(session, request, current.user)


@router.post(
    "/me/passkeys",
    status_code=status.HTTP_201_CREATED,
    response_model=PasskeyInfo,
    responses=error_responses(400, 401, 409, 413, 429),
)
async def add_passkey(
    request: Request, body: PasskeyRegistration, current: RecentSession, session: SessionDep
) -> Passkey:
    """Finish adding a passkey: the browser's answer to the options, on a session that
    authenticated recently (web/step_up.py). The owner is
    mailed a notice (429 `mail_limit`, and no passkey, once the account's mail budget
    is spent)."""
    current_user = current.user
    passkey = await passkeys.register(
        session, request, current_user, body.credential.model_dump(), body.name
    )
    await notices.queue_passkey_added(session, current_user, passkey.name)
    await security_log.record(
        session, current_user.id, EventType.PASSKEY_ADDED, request, passkey.name
    )
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise DomainError(
            status.HTTP_409_CONFLICT,
            "passkey_already_registered",
            "This passkey is already registered",
        ) from None
    return passkey


@router.get("/me/passkeys", response_model=list[PasskeyInfo], responses=error_responses(401))
async def list_passkeys(current_user: CurrentUser, session: SessionDep) -> list[Passkey]:
    """The account's passkeys, oldest first."""
    return list(
        await session.scalars(
            select(Passkey).where(Passkey.user_id == current_user.id).order_by(Passkey.id)
        )
    )


@router.patch(
    "/me/passkeys/{passkey_id:int}",
    response_model=PasskeyInfo,
    responses=error_responses(400, 401, 404, 413),
)
async def rename_passkey(
    passkey_id: PathId, body: PasskeyRename, current_user: CurrentUser, session: SessionDep
) -> Passkey:
    passkey = await _own_passkey(session, current_user.id, passkey_id)
    passkey.name = body.name
    await session.commit()
    return passkey


@router.delete(
    "/me/passkeys/{passkey_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 404, 429),
)
async def remove_passkey(
    request: Request, passkey_id: PathId, current: RecentSession, session: SessionDep
) -> None:
    """The passkey no longer signs anyone in, at once; needs recent authentication
    (web/step_up.py). The owner is mailed a notice (429 `mail_limit`, and the passkey
    stays, once the account's mail budget is spent)."""
    current_user = current.user
    passkey = await _own_passkey(session, current_user.id, passkey_id)
    await session.delete(passkey)
    await notices.queue_passkey_removed(session, current_user, passkey.name)
    await security_log.record(
        session, current_user.id, EventType.PASSKEY_REMOVED, request, passkey.name
    )
    await session.commit()


@router.post(
    "/token/passkey/options",
    responses=PASSKEY_OPTIONS_RESPONSE | error_responses(413),
)
async def passkey_sign_in_options(request: Request, session: SessionDep) -> dict[str, Any]:
    """Start signing in with a passkey: options for `navigator.credentials.get()`."""
    return await passkeys.sign_in_options(session, request)


@router.post(
    "/token/passkey",
    response_model=Token,
    responses=error_responses(400, 401, 403, 413, 429),
)
async def sign_in_with_passkey(
    request: Request, response: Response, body: PasskeySignIn, session: SessionDep
) -> Token:
    """Sign in with the browser's answer to the options: a session starts exactly as
    with a password (the access token here, the refresh cookie beside it). A passkey
    proves two factors (user verification is required), so no code is asked for."""
    user = await passkeys.authenticate(session, request, body.credential.model_dump())
    return await sign_in(request, response, session, user, SignInMethod.PASSKEY)
