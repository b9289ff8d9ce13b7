"""Comments: a post's thread, writing, editing and deleting one's own, moderation
(approval, reports), and the one-click unsubscribe from comment mails. The rules are
comments/service.py's; these routes only parse, call and answer."""

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from auth import CommentsWriter, CurrentUser, OptionalUser
from comments import notifications
from comments import service as comment_service
from content.pagination import LIMIT_MAX, After
from content.posts import get_post_or_404
from database import SessionDep
from models import Comment
from schemas import (
    Accepted,
    CommentCreate,
    CommentPage,
    CommentResponse,
    CommentUpdate,
    PathId,
    ReportCreate,
    ReportedCommentPage,
    ReportedCommentResponse,
    error_responses,
    refused_422,
)
from web.templating import render

router = APIRouter(tags=["comments"])
COMMENTS_DEFAULT = 50
CommentLimit = Annotated[int, Query(ge=1, le=LIMIT_MAX, description="Comments per page")]
TEXT_REFUSALS = refused_422(
    "The body did not validate, or the comment is empty (`comment_empty`), too long "
    "(`comment_too_long`), holds control characters (`comment_invalid_characters`), or "
    "replies to no published comment of this post (`comment_parent_invalid`)"
)
UnsubscribeToken = Annotated[str, Query(max_length=200, description="From the mail's link")]


def _page(comments: list[Comment], next_cursor: str | None) -> CommentPage:
    return CommentPage.model_validate(
        {"items": comments, "next_cursor": next_cursor}, from_attributes=True
    )


@router.get(
    "/api/posts/{post_id:int}/comments",
    response_model=CommentPage,
    responses=error_responses(400, 404),
)
async def read_comments(
    post_id: PathId,
    viewer: OptionalUser,
    session: SessionDep,
    after: After,
    limit: CommentLimit = COMMENTS_DEFAULT,
) -> CommentPage:
    """The post's comments and replies, oldest first. Signed in, your own pending
    comments too, and on your own posts (or as an admin) every pending one."""
    post = await get_post_or_404(session, post_id, viewer)
    page = await comment_service.list_comments(
        session, post=post, viewer=viewer, after=after, limit=limit
    )
    return _page(page.comments, page.next_cursor)


@router.post(
    "/api/posts/{post_id:int}/comments",
    status_code=status.HTTP_201_CREATED,
    response_model=CommentResponse,
    responses=error_responses(401, 403, 404, 413, 429, 503) | TEXT_REFUSALS,
)
async def create_comment(
    post_id: PathId, comment_in: CommentCreate, current_user: CommentsWriter, session: SessionDep
) -> Comment:
    """An account's first comment waits for approval (`status: "pending"`); once one is
    approved, its comments publish at once. Needs a verified email."""
    comment = await comment_service.create_comment(
        session,
        post_id=post_id,
        author=current_user,
        content=comment_in.content,
        parent_id=comment_in.parent_id,
    )
    await session.commit()
    return comment


@router.get(
    "/api/comments/pending", response_model=CommentPage, responses=error_responses(400, 401)
)
async def read_pending_comments(
    current_user: CurrentUser,
    session: SessionDep,
    after: After,
    limit: CommentLimit = COMMENTS_DEFAULT,
) -> CommentPage:
    """Comments waiting for approval on your posts (an admin: on every post), oldest first."""
    page = await comment_service.pending_comments(
        session, viewer=current_user, after=after, limit=limit
    )
    return _page(page.comments, page.next_cursor)


@router.patch(
    "/api/comments/{comment_id:int}",
    response_model=CommentResponse,
    responses=error_responses(401, 403, 404, 413, 503) | TEXT_REFUSALS,
)
async def edit_comment(
    comment_id: PathId, comment_in: CommentUpdate, current_user: CommentsWriter, session: SessionDep
) -> Comment:
    """Its author only; `updated_at` shows it was edited."""
    comment = await comment_service.edit_comment(
        session, comment_id=comment_id, user=current_user, content=comment_in.content
    )
    await session.commit()
    return comment


@router.delete(
    "/api/comments/{comment_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
async def delete_comment(
    comment_id: PathId, current_user: CommentsWriter, session: SessionDep
) -> None:
    """By its author, the post's author or an admin. With replies it stays as a
    placeholder (`status: "deleted"`, no author, no text)."""
    await comment_service.delete_comment(session, comment_id=comment_id, user=current_user)
    await session.commit()


@router.post(
    "/api/comments/{comment_id:int}/approval",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
async def approve_comment(
    comment_id: PathId, current_user: CurrentUser, session: SessionDep
) -> None:
    """The post's author or an admin publishes a pending comment; its author's next
    comments publish at once."""
    await comment_service.approve_comment(session, comment_id=comment_id, user=current_user)
    await session.commit()


@router.post(
    "/api/comments/{comment_id:int}/reports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    responses=error_responses(401, 404, 409),
)
async def report_comment(
    comment_id: PathId, report: ReportCreate, current_user: CurrentUser, session: SessionDep
) -> Accepted:
    """Tell the admins about a comment; once per account and comment (409 after)."""
    await comment_service.report_comment(
        session, comment_id=comment_id, user=current_user, reason=report.reason
    )
    await session.commit()
    return Accepted(detail="Thank you: the admins will look at it")


@router.get(
    "/api/admin/comments/reported",
    response_model=ReportedCommentPage,
    responses=error_responses(400, 401, 403),
)
async def read_reported_comments(
    current_user: CurrentUser,
    session: SessionDep,
    after: After,
    limit: CommentLimit = COMMENTS_DEFAULT,
) -> ReportedCommentPage:
    """Comments someone reported, oldest first, each with its reports (admins only)."""
    found, next_cursor = await comment_service.reported_comments(
        session, viewer=current_user, after=after, limit=limit
    )
    items = [
        ReportedCommentResponse.model_validate(
            {
                **CommentResponse.model_validate(entry.comment).model_dump(),
                "reports": entry.reports,
            },
            from_attributes=True,
        )
        for entry in found
    ]
    return ReportedCommentPage(items=items, next_cursor=next_cursor)


@router.delete(
    "/api/admin/comments/{comment_id:int}/reports",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
async def dismiss_reports(
    comment_id: PathId, current_user: CurrentUser, session: SessionDep
) -> None:
    """Clear a comment's reports and keep the comment (admins only); logged in the
    admin-actions log as `dismiss_reports`. Nothing to clear changes nothing."""
    await comment_service.dismiss_reports(session, comment_id=comment_id, user=current_user)
    await session.commit()


# Off the API: the page an unsubscribe link opens, and the one-click POST (RFC 8058).
# Like the other pages reached by a token from a mail, no Referer carries the token
# anywhere and no cache keeps the page.
TOKEN_PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
UNSUBSCRIBE_TITLE = "Mails about comments"


def _unsubscribe_page(request: Request, token: str, *, done: bool) -> HTMLResponse:
    response = render(
        request,
        "unsubscribe.html",
        UNSUBSCRIBE_TITLE,
        "Stop mails about comments on Inkwell.",
        token=token,
        done=done,
    )
    response.headers.update(TOKEN_PAGE_HEADERS)
    return response


@router.get(notifications.UNSUBSCRIBE_PATH, include_in_schema=False)
async def unsubscribe_page(
    request: Request, token: UnsubscribeToken, session: SessionDep
) -> Response:
    """Asks before it does anything: mail scanners open links."""
    await notifications.user_for_token(session, token)
    return _unsubscribe_page(request, token, done=False)


@router.post(notifications.UNSUBSCRIBE_PATH, include_in_schema=False)
async def unsubscribe(request: Request, token: UnsubscribeToken, session: SessionDep) -> Response:
    """One click, no sign-in (RFC 8058): comment mails off for the token's account,
    and nothing else."""
    await _turn_off_comment_mail(session, token)
    return _unsubscribe_page(request, token, done=True)


async def _turn_off_comment_mail(session: AsyncSession, token: str) -> None:
    user = await notifications.user_for_token(session, token)
    user.comment_mail = False
    await session.commit()
