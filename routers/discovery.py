"""/sitemap.xml and /robots.txt, for search engines: cached and revalidated like the
feeds (web/page_cache.py), with absolute addresses from PUBLIC_URL or the request."""

from fastapi import APIRouter, Request, Response

from content.sitemap import MEDIA_TYPE, robots_txt, sitemap_entries, sitemap_xml
from database import open_session
from web.page_cache import cached_page
from web.templating import site_url

router = APIRouter(include_in_schema=False)


@router.get("/sitemap.xml")
async def sitemap(request: Request) -> Response:
    async def render() -> Response:
        async with open_session(request) as session:
            entries = await sitemap_entries(session)
        return Response(sitemap_xml(site_url(request), entries), media_type=MEDIA_TYPE)

    return await cached_page(request, render)


@router.get("/robots.txt")
async def robots(request: Request) -> Response:
    async def render() -> Response:
        return Response(robots_txt(site_url(request)), media_type="text/plain")

    return await cached_page(request, render)
