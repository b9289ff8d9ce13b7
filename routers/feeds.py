"""Atom feeds of the whole blog and of each author, cached like the pages they mirror."""

from fastapi import APIRouter, Request, Response

from accounts.users import get_user_or_404
from content.feeds import FEED_SIZE, MEDIA_TYPE, atom_feed
from content.pagination import newest_posts
from content.posts import published_tag
from content.tags import tag_path
from database import open_session
from schemas import PathId
from web.page_cache import cached_page
from web.templating import site_url

router = APIRouter(include_in_schema=False)


@router.get("/feed.xml")
async def site_feed(request: Request) -> Response:
    async def render_feed() -> Response:
        async with open_session(request) as session:
            posts = (await session.scalars(newest_posts().limit(FEED_SIZE))).all()
            body = atom_feed(
                site_url=site_url(request), feed_path="/feed.xml", page_path="/", posts=posts
            )
        return Response(body, media_type=MEDIA_TYPE)

    return await cached_page(request, render_feed)


@router.get("/users/{user_id:int}/feed.xml")
async def user_feed(request: Request, user_id: PathId) -> Response:
    async def render_feed() -> Response:
        async with open_session(request) as session:
            user = await get_user_or_404(session, user_id)
            query = newest_posts(user_id=user_id).limit(FEED_SIZE)
            posts = (await session.scalars(query)).all()
            body = atom_feed(
                site_url=site_url(request),
                feed_path=f"/users/{user_id}/feed.xml",
                page_path=f"/users/{user_id}/posts",
                posts=posts,
                author=user,
            )
        return Response(body, media_type=MEDIA_TYPE)

    return await cached_page(request, render_feed)


@router.get("/tags/{tag}/feed.xml")
async def tag_feed(request: Request, tag: str) -> Response:
    async def render_feed() -> Response:
        async with open_session(request) as session:
            name = await published_tag(session, tag)
            posts = (await session.scalars(newest_posts(tag=name).limit(FEED_SIZE))).all()
            body = atom_feed(
                site_url=site_url(request),
                feed_path=f"{tag_path(name)}/feed.xml",
                page_path=tag_path(name),
                posts=posts,
                title=f"Posts tagged {name}",
            )
        return Response(body, media_type=MEDIA_TYPE)

    return await cached_page(request, render_feed)
