"""/api/posts: anyone may read published posts; only signed-in authors write, and only
their own. Drafts and scheduled posts are their author's alone (content/posts.py)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from auth import OptionalPostsReader, PostsReader, PostsWriter
from content import posts as post_service
from content.pagination import (
    LIMIT_DEFAULT,
    After,
    Limit,
    by_change,
    own_posts,
    page_of,
    page_of_posts,
)
from content.posts import get_own_post, get_post_or_404, post_page_json
from database import SessionDep, open_session
from models import Post, User
from schemas import (
    PathId,
    PostCreate,
    PostPage,
    PostReplace,
    PostResponse,
    PostUpdate,
    PreviewRequest,
    PreviewResponse,
    Tag,
    error_responses,
    refused_422,
)
from web.page_cache import cached_page

router = APIRouter(prefix="/api/posts", tags=["posts"])
# What a create or a PATCH may refuse with a code of its own besides FastAPI's 422 list.
POST_REFUSALS = refused_422(
    "The body did not validate, `publish_at` came with a draft (`schedule_conflict`), "
    "or the slug has no letter or digit (`invalid_slug`)"
)

own_router = APIRouter(prefix="/api/users/me/posts", tags=["posts"])


async def save_changes(
    session: AsyncSession, post_id: int, user: User, changes: dict[str, object]
) -> Post:
    """PUT sends every text field and PATCH only some; both land here."""
    post = await get_own_post(session, post_id, user, "update")
    await post_service.update_post(session, post=post, changes=changes)
    await session.commit()
    return post


TagFilter = Annotated[
    Tag | None, Query(description="Only posts with this tag (normalised as tags are)")
]


@router.get("", response_model=PostPage, responses=error_responses(400))
async def read_posts(
    request: Request, after: After, limit: Limit = LIMIT_DEFAULT, tag: TagFilter = None
) -> Response:
    """The newest published posts, `limit` at a time: follow `next_cursor` for older ones.
    With `tag`, only that tag's (an unknown tag has none)."""

    async def render() -> Response:
        async with open_session(request) as session:
            return post_page_json(await page_of_posts(session, after, limit, tag=tag))

    return await cached_page(request, render)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PostResponse,
    responses=error_responses(400, 401, 413, 429, 503) | POST_REFUSALS,
)
async def create_post(post_in: PostCreate, current_user: PostsWriter, session: SessionDep) -> Post:
    """Published at once by default; `status: "draft"` keeps it for you alone, and
    `publish_at` schedules it. The author is whoever the token names."""
    post = await post_service.create_post(
        session,
        author=current_user,
        title=post_in.title,
        content=post_in.content,
        summary=post_in.summary,
        status=post_in.status,
        publish_at=post_in.publish_at,
        tags=post_in.tags,
        comments_enabled=post_in.comments_enabled,
    )
    await session.commit()
    return post


@router.post(
    "/preview",
    response_model=PreviewResponse,
    responses=error_responses(400, 401, 413, 429, 503),
)
async def preview_post(
    preview: PreviewRequest, current_user: PostsWriter, session: SessionDep
) -> PreviewResponse:
    """Content rendered exactly as publishing it would (the Write / Preview toggle),
    uploaded images included. Signed-in authors only: it is the editor's tool, not a
    public rendering service. 429 `preview_limit` past PREVIEWS_PER_MINUTE."""
    html = await post_service.preview(session, author=current_user, content=preview.content)
    return PreviewResponse(html=html)


@router.get("/{post_id:int}", response_model=PostResponse, responses=error_responses(404))
async def read_post(post_id: PathId, viewer: OptionalPostsReader, session: SessionDep) -> Post:
    """A published post, or your own draft or scheduled post (404 for anyone else)."""
    return await get_post_or_404(session, post_id, viewer)


@router.put(
    "/{post_id:int}",
    response_model=PostResponse,
    responses=error_responses(400, 401, 403, 404, 413, 503),
)
async def replace_post(
    post_id: PathId, post_in: PostReplace, current_user: PostsWriter, session: SessionDep
) -> Post:
    return await save_changes(session, post_id, current_user, post_in.model_dump())


@router.patch(
    "/{post_id:int}",
    response_model=PostResponse,
    responses=error_responses(400, 401, 403, 404, 413, 503) | POST_REFUSALS,
)
async def update_post(
    post_id: PathId, post_in: PostUpdate, current_user: PostsWriter, session: SessionDep
) -> Post:
    """Change any of the fields; `status` and `publish_at` move the post through its
    life cycle (publish a draft, schedule or reschedule, take it back to draft)."""
    return await save_changes(
        session, post_id, current_user, post_in.model_dump(exclude_unset=True)
    )


@router.delete(
    "/{post_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
async def delete_post(post_id: PathId, current_user: PostsWriter, session: SessionDep) -> None:
    """Your own post, or, for an admin, anyone's (logged in the admin-actions log)."""
    await post_service.delete_post(session, post_id=post_id, user=current_user)


StatusFilter = Annotated[
    Literal["draft", "scheduled", "published"] | None,
    Query(description="Only posts with this status"),
]


@own_router.get("", response_model=PostPage, responses=error_responses(400, 401))
async def read_own_posts(
    current_user: PostsReader,
    session: SessionDep,
    after: After,
    status_filter: Annotated[StatusFilter, Query(alias="status")] = None,
    limit: Limit = LIMIT_DEFAULT,
) -> Response:
    """Your posts of every status (drafts and scheduled ones included), the last
    changed first, `limit` at a time."""
    query = own_posts(current_user.id, status_filter, after)
    return post_page_json(await page_of(session, query, limit, by_change))
