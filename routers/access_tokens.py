"""/api/users/me/tokens: personal access tokens (accounts/access_tokens.py). Made on a
session that authenticated recently, listed and revoked on any live session; never by
a token itself (every route here is the sessions' alone)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response, status
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from accounts import access_tokens, rate_limits
from accounts.access_tokens import EXPIRES_IN_DAYS_MAX, Scope
from auth import CurrentSession, RecentSession
from database import SessionDep
from models import PAT_NAME_MAX, PersonalAccessToken
from schemas import InputModel, PathId, _one_line, error_responses

router = APIRouter(prefix="/api/users/me/tokens", tags=["access tokens"])

# Tokens an account may make per hour (each mails a notice, too).
CREATED_PER_HOUR = 20

TokenName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=PAT_NAME_MAX),
    AfterValidator(_one_line),
]


class AccessTokenCreate(InputModel):
    name: TokenName
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(Scope))]
    # None: it never expires (it still ends when revoked, on a password reset...).
    expires_in_days: Annotated[int, Field(ge=1, le=EXPIRES_IN_DAYS_MAX)] | None = None


class AccessTokenInfo(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


class AccessTokenCreated(BaseModel):
    id: int
    name: str
    scopes: list[Scope]
    # Shown this once: only its hash is kept.
    token: str
    created_at: datetime
    expires_at: datetime | None


def _info(row: PersonalAccessToken) -> AccessTokenInfo:
    return AccessTokenInfo(
        id=row.id,
        name=row.name,
        scopes=[Scope(scope) for scope in row.scopes.split()],
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AccessTokenCreated,
    responses=error_responses(401, 403, 409, 413, 429),
)
async def create_access_token(
    request: Request,
    response: Response,
    body: AccessTokenCreate,
    current: RecentSession,
    session: SessionDep,
) -> AccessTokenCreated:
    """A token for scripts, limited to `scopes`; `token` is shown this once (only its
    hash is kept). Needs recent authentication; at most 50 per account (409
    `too_many_access_tokens`). The owner is mailed a notice."""
    await rate_limits.spend(session, {f"access-tokens:{current.user_id}": CREATED_PER_HOUR})
    row, secret = await access_tokens.create(
        session,
        request,
        user=current.user,
        name=body.name,
        scopes=body.scopes,
        expires_in_days=body.expires_in_days,
    )
    response.headers["Cache-Control"] = "no-store"
    info = _info(row)
    return AccessTokenCreated(
        id=info.id,
        name=info.name,
        scopes=info.scopes,
        token=secret,
        created_at=info.created_at,
        expires_at=info.expires_at,
    )


@router.get("", response_model=list[AccessTokenInfo], responses=error_responses(401, 403))
async def list_access_tokens(current: CurrentSession, session: SessionDep) -> list[AccessTokenInfo]:
    """The account's tokens, newest first, without their secrets."""
    rows = await access_tokens.list_tokens(session, user_id=current.user_id)
    return [_info(row) for row in rows]


@router.delete(
    "/{token_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
async def revoke_access_token(
    request: Request, token_id: PathId, current: CurrentSession, session: SessionDep
) -> None:
    """End a token at once. Any live session may: revoking only takes power away, and
    someone whose token leaked must be able to end it without first proving who they are
    again (as ending a session, DELETE /api/users/me/sessions/{id})."""
    await access_tokens.revoke(session, request, user=current.user, token_id=token_id)
