"""/api/users: sign-up, login, and each user's own account."""

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response, status
from fastapi.exceptions import RequestValidationError
from sqlalchemy import select

from accounts import access_tokens, email_links, mfa, notices, rate_limits, security_log, sessions
from accounts.security_log import EventType
from accounts.users import commit_unique, ensure_available, ensure_self, get_user_or_404
from auth import CurrentSession, PostsReader, RecentSession, hash_password, token_for
from comments.service import delete_account_comments
from content.pagination import LIMIT_DEFAULT, After, Limit, page_of_posts
from content.posts import post_page_json
from database import SessionDep, open_session
from errors.domain import DomainError
from images.pictures import forget_if_unused
from models import EMAIL_MAX, User, UserSession, fold
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
from web.page_cache import cached_page
from web.signin import check_password, login_failed, sign_in
from web.step_up import confirm_recent

router = APIRouter(prefix="/api/users", tags=["users"])

# The profile's optional fields: an empty string clears them.
PROFILE_FIELDS = frozenset({"bio", "website"})


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
    await rate_limits.spend_sign_up(session, sessions.client_address(request))
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
    responses=error_responses(400, 401, 403, 413, 429),
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
    """OAuth2 password flow; the form's `username` field carries the email. On an
    account with 2FA, the right password answers 401 `mfa_required` with an
    `mfa_token` for POST /token/mfa, and no session starts yet; a wrong one answers
    as on any account, so nothing says which accounts have 2FA."""
    email_key = fold(username.strip())
    user = await session.scalar(select(User).where(User.email_key == email_key))
    await session.commit()  # release the connection while Argon2 runs
    # On an account with 2FA the password is half the proof: it forgives no wrong codes.
    valid, new_hash = await check_password(
        request,
        email_key,
        password,
        user.password_hash if user else None,
        forgive=not (user and user.totp_enabled),
    )
    if user is None or not valid:
        if user is not None:
            await security_log.record(
                session, user.id, EventType.SIGN_IN_FAILED, request, "password"
            )
            await session.commit()
        raise login_failed()
    if new_hash:  # hashing parameters were raised since this hash was made
        user.password_hash = new_hash
        await session.commit()
    if user.totp_enabled:
        raise await mfa.start_challenge(session, user=user)
    return await sign_in(request, response, session, user)


@router.get("/me", response_model=UserPrivate, responses=error_responses(401))
async def read_current_user(current_user: PostsReader) -> User:
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
    the answer carries a fresh access token for it. Needs recent authentication or
    `current_password` (web/step_up.py)."""
    current_user = current_session.user
    await confirm_recent(request, session, current_session, current_password=body.current_password)
    problem = password_problem(
        body.new_password, username=current_user.username, email=current_user.email
    )
    if problem:
        raise DomainError(status.HTTP_422_UNPROCESSABLE_CONTENT, "password_too_guessable", problem)
    session.add(current_user)
    current_user.password_hash = await hash_password(body.new_password)
    # 429 `mail_limit` (nothing changed) once the account's mail budget is spent.
    await notices.queue_password_changed(session, current_user)
    await security_log.record(session, current_user.id, EventType.PASSWORD_CHANGED, request)
    await access_tokens.end_all(session, user_id=current_user.id)
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
    current: CurrentSession,
    session: SessionDep,
) -> User:
    """A rename needs only the token; a new email also needs recent authentication or
    `current_password` (web/step_up.py), checked before anything else is said about the
    new address, and starts unverified: a link
    to verify it is mailed to it, within the new address's and the account's mail
    budgets (else 429 `mail_limit`, and nothing changes)."""
    user = await get_user_or_404(session, user_id)
    ensure_self(current.user, user)
    new_email = user_in.email is not None and fold(user_in.email) != user.email_key
    if new_email:
        await confirm_recent(request, session, current, current_password=user_in.current_password)
    await ensure_available(
        session, username=user_in.username, email=user_in.email, exclude_id=user.id
    )
    for field, value in user_in.model_dump(
        exclude_unset=True, exclude={"current_password"}
    ).items():
        # An empty bio or website clears it.
        setattr(user, field, (value or None) if field in PROFILE_FIELDS else value)
    if new_email:  # unproven until its owner opens the link mailed to it
        user.email_verified = False
        await email_links.queue_verification(session, user)
        await security_log.record(session, user.id, EventType.EMAIL_CHANGED, request, user.email)
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
    current: RecentSession,
    session: SessionDep,
) -> None:
    """Deletes the account and, through the foreign keys' cascades, all its posts and
    sessions; its comments (those others replied to stay as placeholders) and reports;
    and its picture, unless another account uses the same one. Needs recent
    authentication (web/step_up.py): a token alone may be stolen."""
    user = await get_user_or_404(session, user_id)
    ensure_self(current.user, user)
    picture = user.image_file
    await delete_account_comments(session, user.id)
    await session.delete(user)
    await session.flush()
    await forget_if_unused(session, picture)
    await session.commit()
    sessions.clear_refresh_cookie(request, response)
