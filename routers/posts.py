"""/api/posts: anyone may read; only signed-in authors write, and only their own posts."""

from fastapi import APIRouter, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from auth import CurrentUser
from content.markdown_render import render_off_loop
from content.pagination import LIMIT_DEFAULT, After, Limit, page_of_posts
from content.posts import get_own_post, get_post_or_404, post_page_json
from database import SessionDep, open_session
from models import Post, User
from schemas import (
    PathId,
    PostCreate,
    PostPage,
    PostResponse,
    PostUpdate,
    PreviewRequest,
    PreviewResponse,
    error_responses,
)
from web.page_cache import cached_page

router = APIRouter(prefix="/api/posts", tags=["posts"])


async def save_changes(
    session: AsyncSession, post_id: int, user: User, changes: dict[str, str]
) -> Post:
    """PUT sends every field and PATCH only some; both land here."""
    if "content" in changes:  # rendered off the loop; the assignment below finds it
        await render_off_loop(changes["content"])
    post = await get_own_post(session, post_id, user, "update")
    for field, value in changes.items():
        setattr(post, field, value)
    await session.commit()
    return post


@router.get("", response_model=PostPage, responses=error_responses(400))
async def read_posts(request: Request, after: After, limit: Limit = LIMIT_DEFAULT) -> Response:
    """The newest posts, `limit` at a time: follow `next_cursor` for older ones."""

    async def render() -> Response:
        async with open_session(request) as session:
            return post_page_json(await page_of_posts(session, after, limit))

    return await cached_page(request, render)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PostResponse,
    responses=error_responses(400, 401, 413, 503),
)
async def create_post(post_in: PostCreate, current_user: CurrentUser, session: SessionDep) -> Post:
    """The author is whoever the token names; the body cannot choose one."""
    await render_off_loop(post_in.content)  # off the loop; the assignment finds it
    post = Post(title=post_in.title, content=post_in.content, author=current_user)
    session.add(post)
    await session.commit()
    return post


@router.post(
    "/preview", response_model=PreviewResponse, responses=error_responses(400, 401, 413, 503)
)
async def preview_post(preview: PreviewRequest, _user: CurrentUser) -> PreviewResponse:
    """Content rendered exactly as publishing it would (the Write / Preview toggle).
    Signed-in authors only: it is the editor's tool, not a public rendering service."""
    return PreviewResponse(html=await render_off_loop(preview.content))


@router.get("/{post_id:int}", response_model=PostResponse, responses=error_responses(404))
async def read_post(post_id: PathId, session: SessionDep) -> Post:
    return await get_post_or_404(session, post_id)


@router.put(
    "/{post_id:int}",
    response_model=PostResponse,
    responses=error_responses(400, 401, 403, 404, 413, 503),
)
async def replace_post(
    post_id: PathId, post_in: PostCreate, current_user: CurrentUser, session: SessionDep
) -> Post:
    return await save_changes(session, post_id, current_user, post_in.model_dump())


@router.patch(
    "/{post_id:int}",
    response_model=PostResponse,
    responses=error_responses(400, 401, 403, 404, 413, 503),
)
async def update_post(
    post_id: PathId, post_in: PostUpdate, current_user: CurrentUser, session: SessionDep
) -> Post:
    return await save_changes(
        session, post_id, current_user, post_in.model_dump(exclude_unset=True)
    )


@router.delete(
    "/{post_id:int}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=error_responses(401, 403, 404),
)
async def delete_post(post_id: PathId, current_user: CurrentUser, session: SessionDep) -> None:
    post = await get_own_post(session, post_id, current_user, "delete")
    await session.delete(post)
    await session.commit()
