"""/api/users: sign-up, login, and each user's own account."""

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

import email_links
import notices
import rate_limits
import sessions
from auth import CurrentSession, CurrentUser, hash_password, token_for, verify_password
from config import settings
from database import SessionDep, open_session
from models import EMAIL_MAX, User, UserSession, fold
from page_cache import cached_page
from pagination import LIMIT_DEFAULT, After, Limit, page_of_posts
from routers.pictures import forget_if_unused
from routers.posts import post_page_json
from schemas import (
    PASSWORD_MAX,
    PasswordChange,
    PasswordField,
    PathId,
    PostPage,
    TextField,
    Token,
    UserCreate,
    UserPrivate,
    UserPublic,
    UserUpdate,
    error_responses,
    password_problem,
)
from throttle import LoginThrottle

router = APIRouter(prefix="/api/users", tags=["users"])

LOGIN_FAILED = "Incorrect email or password"
SIGN_UP_LIMIT = "sign_up_limit"
SIGN_UP_LIMIT_DETAIL = (
    "Too many sign-ups from your network address in the past hour; try again later"
)


async def reject_repeated_form_fields(request: Request) -> None:
    """`username=a&username=b` is ambiguous: refuse it rather than pick one."""
    names = [name for name, _ in (await request.form()).multi_items()]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise RequestValidationError(
            [
                {
                    "type": "repeated_field",
                    "loc": ("body", name),
                    "msg": "Field given more than once",
                }
                for name in repeated
            ]
        )


async def ensure_available(
    session: AsyncSession, *, username: str | None, email: str | None, exclude_id: int | None = None
) -> None:
    """409 if another account already has this username or email, whatever its case."""
    username_key = fold(username) if username else None
    email_key = fold(email) if email else None
    conditions = [
        column == key
        for column, key in ((User.username_key, username_key), (User.email_key, email_key))
        if key
    ]
    if not conditions:
        return
    query = select(User.username_key, User.email_key).where(or_(*conditions))
    if exclude_id is not None:
        query = query.where(User.id != exclude_id)
    taken = (await session.execute(query)).all()
    if any(row.username_key == username_key for row in taken):
        raise HTTPException(status.HTTP_409_CONFLICT, detail="Username already exists")
    if taken:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="Email already registered")


async def commit_unique(
    session: AsyncSession, *, username: str | None, email: str | None, exclude_id: int | None = None
) -> None:
    """Commit; if a concurrent request took the name or email first, answer as the
    pre-check would have, so the database constraint is the final word."""
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        await ensure_available(session, username=username, email=email, exclude_id=exclude_id)
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="Username or email already taken"
        ) from None


async def get_user_or_404(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="User not found")
    return user


async def check_password(
    request: Request, email_key: str, password: str, password_hash: str | None
) -> tuple[bool, str | None]:
    """`verify_password`, throttled: every password check, whichever route it comes
    through, spends the same per-account and per-client budget (429 once it is gone)."""
    throttle: LoginThrottle = request.state.login_throttle
    attempt = await throttle.reserve(email_key, sessions.client_address(request))
    try:
        valid, new_hash = await verify_password(password, password_hash)
    except Exception:
        await throttle.failed(attempt)
        raise
    await (throttle.succeeded if valid else throttle.failed)(attempt)
    return valid, new_hash


async def confirm_current_password(
    request: Request, session: AsyncSession, user: User, password: str | None, action: str
) -> None:
    """Sensitive changes need the password again, not only a token that may be stolen."""
    if password is None:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST, detail=f"current_password is required to {action}"
        )
    await session.commit()  # release the connection while Argon2 runs
    valid, _ = await check_password(request, user.email_key, password, user.password_hash)
    if not valid:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail="Current password is incorrect")


def ensure_self(current_user: User, user: User) -> None:
    if user.id != current_user.id:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="Not authorized to change this user")


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPrivate,
    responses=error_responses(400, 409, 413, 429),
)
async def create_user(request: Request, user_in: UserCreate, session: SessionDep) -> User:
    """Sign up, and mail the address a link to verify it. Limited per client address
    (SIGNUPS_PER_HOUR, counted before the hash: a refused attempt costs no Argon2) and
    by the address's budget for unverified mail (429 `mail_limit`), so neither a
    sign-up flood nor a sign-up-and-delete loop makes a mail cannon."""
    await ensure_available(session, username=user_in.username, email=user_in.email)
    client = f"sign-up-client:{sessions.client_address(request)}"
    await rate_limits.spend(
        session,
        {client: settings.signups_per_hour},
        code=SIGN_UP_LIMIT,
        detail=SIGN_UP_LIMIT_DETAIL,
    )
    # End the read before the slow hash, so no connection or lock is held meanwhile.
    await session.commit()
    password_hash = await hash_password(user_in.password)
    user = User(username=user_in.username, email=user_in.email, password_hash=password_hash)
    session.add(user)
    await email_links.queue_verification(session, user)  # sent only if the account is made
    await commit_unique(session, username=user_in.username, email=user_in.email)
    return user


@router.post(
    "/token",
    response_model=Token,
    dependencies=[Depends(reject_repeated_form_fields)],
    responses=error_responses(400, 401, 413, 429),
)
async def login_for_access_token(
    request: Request,
    response: Response,
    session: SessionDep,
    username: Annotated[
        str, Form(max_length=4 * EMAIL_MAX, description="Your email address"), TextField
    ],
    password: Annotated[str, Form(max_length=PASSWORD_MAX), PasswordField],
) -> Token:
    """OAuth2 password flow; the form's `username` field carries the email."""
    email_key = fold(username.strip())
    user = await session.scalar(select(User).where(User.email_key == email_key))
    await session.commit()  # release the connection while Argon2 runs
    valid, new_hash = await check_password(
        request, email_key, password, user.password_hash if user else None
    )
    if user is None or not valid:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=LOGIN_FAILED,
            headers={"WWW-Authenticate": "Bearer"},
        )
    if new_hash:  # hashing parameters were raised since this hash was made
        user.password_hash = new_hash
        await session.commit()
    return await sign_in(request, response, session, user)


async def sign_in(request: Request, response: Response, session: AsyncSession, user: User) -> Token:
    """Start a session for `user`, whose identity has just been proven (a password, a
    passkey): the refresh cookie on `response`, the access token in the answer."""
    row, refresh_token = await sessions.start(session, user, request)
    sessions.set_refresh_cookie(request, response, row, refresh_token)
    response.headers["Cache-Control"] = "no-store"
    return Token(access_token=token_for(user, row.id))


@router.get("/me", response_model=UserPrivate, responses=error_responses(401))
async def read_current_user(current_user: CurrentUser) -> User:
    return current_user


@router.post("/me/password", response_model=Token, responses=error_responses(400, 401, 413, 429))
async def change_password(
    request: Request,
    body: PasswordChange,
    response: Response,
    current_session: CurrentSession,
    session: SessionDep,
) -> Token:
    """Re-hash under a new password and end every other session; this one goes on, and
    the answer carries a fresh access token for it."""
    current_user = current_session.user
    await confirm_current_password(
        request, session, current_user, body.current_password, "change the password"
    )
    problem = password_problem(
        body.new_password, username=current_user.username, email=current_user.email
    )
    if problem:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=problem)
    session.add(current_user)
    current_user.password_hash = await hash_password(body.new_password)
    # 429 `mail_limit` (nothing changed) once the account's mail budget is spent.
    await notices.queue_password_changed(session, current_user)
    await sessions.revoke(  # commits the new hash and the notice too
        session, UserSession.user_id == current_user.id, UserSession.id != current_session.id
    )
    response.headers["Cache-Control"] = "no-store"
    return Token(access_token=token_for(current_user, current_session.id))


@router.get("/{user_id:int}", response_model=UserPublic, responses=error_responses(404))
async def read_user(user_id: PathId, session: SessionDep) -> User:
    return await get_user_or_404(session, user_id)


@router.get("/{user_id:int}/posts", response_model=PostPage, responses=error_responses(400, 404))
async def read_user_posts(
    request: Request, user_id: PathId, after: After, limit: Limit = LIMIT_DEFAULT
) -> Response:
    """One author's posts, newest first, `limit` at a time (see GET /api/posts)."""

    async def render() -> Response:
        async with open_session(request) as session:
            await get_user_or_404(session, user_id)
            return post_page_json(await page_of_posts(session, after, limit, user_id))

    return await cached_page(request, render)


@router.patch(
    "/{user_id:int}",
    response_model=UserPrivate,
    responses=error_responses(400, 401, 403, 404, 409, 413, 429),
)
async def update_user(
    request: Request,
    user_id: PathId,
    user_in: UserUpdate,
    current_user: CurrentUser,
    session: SessionDep,
) -> User:
    """A rename needs only the token; a new email also needs `current_password`, checked
    before anything else is said about the new address, and starts unverified: a link
    to verify it is mailed to it, within the new address's and the account's mail
    budgets (else 429 `mail_limit`, and nothing changes)."""
    user = await get_user_or_404(session, user_id)
    ensure_self(current_user, user)
    new_email = user_in.email is not None and fold(user_in.email) != user.email_key
    if new_email:
        await confirm_current_password(
            request, session, user, user_in.current_password, "change the email"
        )
    await ensure_available(
        session, username=user_in.username, email=user_in.email, exclude_id=user.id
    )
    for field, value in user_in.model_dump(
        exclude_unset=True, exclude={"current_password"}
    ).items():
        setattr(user, field, value)
    if new_email:  # unproven until its owner opens the link mailed to it
        user.email_verified = False
        await email_links.queue_verification(session, user)
    await commit_unique(session, username=user_in.username, email=user_in.email, exclude_id=user.id)
    return user


@router.delete(
    "/{user_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
async def delete_user(
    request: Request,
    response: Response,
    user_id: PathId,
    current_user: CurrentUser,
    session: SessionDep,
) -> None:
    """Deletes the account and, through the foreign keys' cascades, all its posts and
    sessions; and its picture, unless another account uses the same one."""
    user = await get_user_or_404(session, user_id)
    ensure_self(current_user, user)
    picture = user.image_file
    await session.delete(user)
    await session.flush()
    await forget_if_unused(session, picture)
    await session.commit()
    sessions.clear_refresh_cookie(request, response)
