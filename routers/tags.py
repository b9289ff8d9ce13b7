"""/api/tags: the tags in use on published posts, cached like every public read."""

from fastapi import APIRouter, Request, Response

from content.posts import tag_counts
from database import open_session
from schemas import TagCount
from web.page_cache import cached_page

router = APIRouter(prefix="/api/tags", tags=["tags"])


@router.get("", response_model=list[TagCount])
async def read_tags(request: Request) -> Response:
    """Tags on published posts with how many posts carry each, most used first (ties
    by name). Drafts and scheduled posts count for nothing."""

    async def render() -> Response:
        async with open_session(request) as session:
            counts = [TagCount(name=name, count=count) for name, count in await tag_counts(session)]
        body = "[" + ",".join(count.model_dump_json() for count in counts) + "]"
        return Response(body, media_type="application/json")

    return await cached_page(request, render)
