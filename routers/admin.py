"""/api/admin: what admins do (admin/). Every route needs an admin's token: 401 without
a valid one, 403 `admin_required` for a member."""

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from accounts.users import get_user_or_404
from admin import accounts as account_admin
from admin.actions import CURSOR_KIND as ACTIONS_CURSOR
from admin.actions import page_of_actions
from auth import AdminUser
from content.pagination import (
    LIMIT_DEFAULT,
    After,
    IdCursor,
    Limit,
    id_cursor_position,
    page_of_posts,
)
from content.posts import post_page_json
from database import SessionDep
from schemas import (
    AdminAccount,
    AdminAccountPage,
    AdminActionPage,
    AdminActionResponse,
    PathId,
    PostPage,
    error_responses,
)

router = APIRouter(prefix="/api/admin", tags=["admin"])

ADMIN_LIMIT_DEFAULT = 20
Search = Annotated[
    str | None,
    Query(
        max_length=account_admin.SEARCH_MAX,
        description="Part of a username or email, in any case",
    ),
]


@router.get("/users", response_model=AdminAccountPage, responses=error_responses(400, 401, 403))
async def list_accounts(
    _admin: AdminUser,
    session: SessionDep,
    q: Search = None,
    limit: Limit = ADMIN_LIMIT_DEFAULT,
    cursor: IdCursor = None,
) -> AdminAccountPage:
    """Accounts whose username or email contains `q`, newest first, `limit` at a time."""
    before = id_cursor_position(account_admin.CURSOR_KIND, cursor)
    page = await account_admin.search_accounts(session, query=q, before=before, limit=limit)
    return AdminAccountPage(
        items=[AdminAccount.model_validate(row._asdict()) for row in page.accounts],
        next_cursor=page.next_cursor,
    )


@router.post(
    "/users/{user_id:int}/suspension",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404, 409),
)
async def suspend_account(user_id: PathId, admin: AdminUser, session: SessionDep) -> None:
    """Suspend the account: it signs in no more, its sessions end, its posts leave the
    site. 409 `last_admin` when it would leave no admin who can sign in."""
    await account_admin.suspend(session, actor=admin, user_id=user_id)


@router.delete(
    "/users/{user_id:int}/suspension",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
async def restore_account(user_id: PathId, admin: AdminUser, session: SessionDep) -> None:
    """Lift the suspension: the account may sign in again and its posts come back."""
    await account_admin.restore(session, actor=admin, user_id=user_id)


@router.get(
    "/users/{user_id:int}/posts",
    response_model=PostPage,
    responses=error_responses(400, 401, 403, 404),
)
async def read_account_posts(
    user_id: PathId,
    _admin: AdminUser,
    session: SessionDep,
    after: After,
    limit: Limit = LIMIT_DEFAULT,
) -> Response:
    """The account's published posts, newest first, suspended or not (the public
    listing, /api/users/{id}/posts, leaves out a suspended author's)."""
    await get_user_or_404(session, user_id)
    page = await page_of_posts(session, after, limit, user_id, suspended_too=True)
    return post_page_json(page)


@router.get("/actions", response_model=AdminActionPage, responses=error_responses(400, 401, 403))
async def list_actions(
    _admin: AdminUser,
    session: SessionDep,
    limit: Limit = ADMIN_LIMIT_DEFAULT,
    cursor: IdCursor = None,
) -> AdminActionPage:
    """The admin-actions log, newest first, `limit` at a time. Read-only: no route
    writes it, and the database refuses changes to it."""
    page = await page_of_actions(
        session, before=id_cursor_position(ACTIONS_CURSOR, cursor), limit=limit
    )
    return AdminActionPage(
        items=[AdminActionResponse.model_validate(row) for row in page.actions],
        next_cursor=page.next_cursor,
    )
