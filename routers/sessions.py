"""/api/users sessions: renew the access token, sign out, list and end sign-ins, and
read the account's security log.

The session model itself (lifetimes, rotation, reuse detection) is in accounts/sessions.py.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Cookie, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from accounts import security_log, sessions
from accounts.security_log import EventType
from auth import CurrentSession, OptionalSession, RecentSession, token_for
from content.pagination import LIMIT_MAX, IdCursor, id_cursor_position
from database import SessionDep
from errors.domain import DomainError
from models import SESSION_ID_MAX, UserSession
from schemas import Token, error_responses
from web.signin import account_suspended

router = APIRouter(prefix="/api/users", tags=["sessions"])

RefreshCookie = Annotated[
    str | None, Cookie(alias=sessions.REFRESH_COOKIE, include_in_schema=False)
]


class SessionInfo(BaseModel):
    id: str
    created_at: datetime
    last_used_at: datetime
    user_agent: str
    ip: str
    current: bool
    # A SignInMethod, or "oidc:<provider>" (with "+totp" or "+recovery_code" after it).
    auth_method: str


class SecurityEventInfo(BaseModel):
    """One entry of the security log (accounts/security_log.py says what `detail` holds
    for each type). `ip` and `user_agent` are empty for what an admin or the server's
    shell did."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    type: EventType
    created_at: datetime
    ip: str
    user_agent: str
    detail: str


class SecurityEventPage(BaseModel):
    items: list[SecurityEventInfo]
    next_cursor: str | None


EVENTS_LIMIT_DEFAULT = 20
EventsLimit = Annotated[int, Query(ge=1, le=LIMIT_MAX, description="Events per page")]


def ensure_same_site(request: Request) -> None:
    """The refresh cookie is SameSite=Strict already; refuse a cross-site request
    outright too (Fetch Metadata, then Origin), leaving the session as it was."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    cross_site = request.headers.get("sec-fetch-site") == "cross-site"
    if cross_site or (origin is not None and origin != own):
        raise DomainError(
            status.HTTP_403_FORBIDDEN, "cross_site_refused", "Cross-site request refused"
        )


@router.post("/token/refresh", response_model=Token, responses=error_responses(401, 403))
async def refresh_access_token(
    request: Request, response: Response, session: SessionDep, refresh_token: RefreshCookie = None
) -> Token | JSONResponse:
    """A new access token for the session in the `refresh_token` cookie, which rotates."""
    ensure_same_site(request)
    try:
        row, new_refresh_token = await sessions.refresh(session, refresh_token, request)
    except DomainError as refused:
        # Answered here, not raised: the exception handler's response would replace
        # `response`, and with it the header that clears the dead cookie.
        answer = JSONResponse(
            refused.body(), status_code=refused.status_code, headers=refused.headers
        )
        sessions.clear_refresh_cookie(request, answer)
        return answer
    if row.user.suspended_at is not None:  # suspending ends its sessions; in case one lived
        await sessions.revoke(session, UserSession.id == row.id)
        suspended = account_suspended()
        answer = JSONResponse(suspended.body(), status_code=suspended.status_code)
        sessions.clear_refresh_cookie(request, answer)
        return answer
    if new_refresh_token is not None:
        sessions.set_refresh_cookie(request, response, row, new_refresh_token)
    response.headers["Cache-Control"] = "no-store"
    return Token(access_token=token_for(row.user, row.id))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(403))
async def logout(
    request: Request,
    response: Response,
    session: SessionDep,
    current: OptionalSession,
    refresh_token: RefreshCookie = None,
) -> None:
    """Ends the session named by the refresh cookie or the bearer token, and clears the
    cookie. Signing out twice, or while signed out, is not an error."""
    ensure_same_site(request)
    ended = [row.id for row in (current, await sessions.holder(session, refresh_token)) if row]
    if ended:
        await sessions.revoke(session, UserSession.id.in_(ended))
    sessions.clear_refresh_cookie(request, response)


@router.get("/me/sessions", response_model=list[SessionInfo], responses=error_responses(401))
async def list_sessions(current: CurrentSession, session: SessionDep) -> list[SessionInfo]:
    """Your live sign-ins, the most recently used first."""
    now = sessions.utcnow()
    rows = await session.scalars(
        select(UserSession)
        .where(UserSession.user_id == current.user_id, UserSession.revoked_at.is_(None))
        .order_by(UserSession.last_used_at.desc(), UserSession.created_at.desc())
    )
    return [
        SessionInfo(
            id=row.id,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            user_agent=row.user_agent,
            ip=row.ip,
            current=row.id == current.id,
            auth_method=row.auth_method,
        )
        for row in rows
        if sessions.is_live(row, now)
    ]


@router.delete(
    "/me/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 404),
)
async def end_session(
    request: Request, session_id: str, current: CurrentSession, session: SessionDep
) -> None:
    """Ends one of your sessions; any id that is not one of yours is simply not found."""
    row = await session.get(UserSession, session_id) if len(session_id) <= SESSION_ID_MAX else None
    if row is None or row.user_id != current.user_id or row.revoked_at is not None:
        raise DomainError(status.HTTP_404_NOT_FOUND, "session_not_found", "Session not found")
    await security_log.record(session, current.user_id, EventType.SESSION_ENDED, request)
    await sessions.revoke(session, UserSession.id == row.id)


@router.delete(
    "/me/sessions", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(401)
)
async def end_other_sessions(request: Request, current: RecentSession, session: SessionDep) -> None:
    """Signs out everywhere else: every session of yours but this one ends. Needs recent
    authentication (web/step_up.py)."""
    await security_log.record(session, current.user_id, EventType.OTHER_SESSIONS_ENDED, request)
    await sessions.revoke(
        session, UserSession.user_id == current.user_id, UserSession.id != current.id
    )


@router.get(
    "/me/security-events",
    response_model=SecurityEventPage,
    responses=error_responses(400, 401),
)
async def list_security_events(
    current: CurrentSession,
    session: SessionDep,
    limit: EventsLimit = EVENTS_LIMIT_DEFAULT,
    cursor: IdCursor = None,
) -> SecurityEventPage:
    """What happened to how your account is signed into (sign-ins, password and email
    changes, passkeys, sessions ended...), newest first, `limit` at a time, for
    SECURITY_LOG_DAYS. 400 `invalid_cursor` for a cursor not from this list."""
    page = await security_log.page_of_events(
        session,
        user_id=current.user_id,
        before=id_cursor_position(security_log.CURSOR_KIND, cursor),
        limit=limit,
    )
    return SecurityEventPage(
        items=[SecurityEventInfo.model_validate(row) for row in page.events],
        next_cursor=page.next_cursor,
    )
