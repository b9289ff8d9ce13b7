"""Posts as rows: finding one (404), its author's rights over it (403), an author with
their post count, and a page of posts as the API answers it."""

from fastapi import Response, status
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from content.pagination import PageOfPosts
from errors.domain import DomainError
from models import Post, User
from schemas import PostPage


def post_page_json(page: PageOfPosts) -> Response:
    """A page of posts as the API answers it (read while the session is open)."""
    body = PostPage.model_validate(
        {"items": page.posts, "next_cursor": page.next_cursor}, from_attributes=True
    )
    return Response(body.model_dump_json(), media_type="application/json")


async def get_post_or_404(session: AsyncSession, post_id: int) -> Post:
    post = await session.get(Post, post_id, options=[joinedload(Post.author)])
    if post is None:
        raise DomainError(status.HTTP_404_NOT_FOUND, "post_not_found", "Post not found")
    return post


async def get_own_post(session: AsyncSession, post_id: int, user: User, action: str) -> Post:
    """The post, if it exists (404) and `user` wrote it (403)."""
    post = await get_post_or_404(session, post_id)
    if post.user_id != user.id:
        raise DomainError(
            status.HTTP_403_FORBIDDEN, "not_your_post", f"Not authorized to {action} this post"
        )
    return post


async def get_author_or_404(session: AsyncSession, user_id: int) -> tuple[User, int]:
    """The author and how many posts they have written, in one query."""
    post_count = select(func.count()).where(Post.user_id == User.id).scalar_subquery()
    row = (await session.execute(select(User, post_count).where(User.id == user_id))).first()
    if row is None:
        raise DomainError(status.HTTP_404_NOT_FOUND, "user_not_found", "User not found")
    return row[0], row[1]
