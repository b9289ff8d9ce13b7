"""What search engines read besides the pages: `/sitemap.xml` (sitemaps.org 0.9) and
`/robots.txt`. Only published posts, and the pages that show them, are named; drafts,
scheduled posts, the editor, the account and the API never are."""

from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple
from xml.etree.ElementTree import Element, SubElement, tostring

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from content.feeds import rfc3339
from content.slugs import post_path
from content.tags import tag_path
from content.visibility import on_site
from models import Post, PostTag

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
MEDIA_TYPE = "application/xml"
# The protocol's limit for one file; a blog this size needs an index of sitemaps past it.
MAX_URLS = 50_000
# Paths no crawler needs: the API, the account, the editor, the author's own list, search
# results (endless and thin), the forms of signing in, and the pages of mailed links.
DISALLOWED = (
    "/api/",
    "/account",
    "/write",
    "/me/",
    "/admin",
    "/posts/*/edit",
    "/search",
    "/login",
    "/register",
    "/forgot-password",
    "/reset-password",
    "/verify-email",
    "/unsubscribe/",
    "/docs",
)


class Entry(NamedTuple):
    path: str
    lastmod: datetime


async def sitemap_entries(session: AsyncSession) -> list[Entry]:
    """Every published post (its last change or publication), then every author page
    and every tag page with published posts (the newest change among them); the
    columns only, never the content."""
    published = on_site()
    changed = func.coalesce(Post.updated_at, Post.date_posted)
    posts = await session.execute(
        select(Post.id, Post.slug, Post.date_posted, Post.updated_at)
        .where(published)
        .order_by(Post.date_posted.desc(), Post.id.desc())
        .limit(MAX_URLS)
    )
    entries = [
        Entry(post_path(post_id, slug), moment)
        for post_id, slug, posted, updated in posts
        if (moment := updated or posted) is not None  # published posts always have a date
    ]
    authors = await session.execute(
        select(Post.user_id, func.max(changed)).where(published).group_by(Post.user_id)
    )
    entries += [Entry(f"/users/{user_id}/posts", moment) for user_id, moment in authors]
    tags = await session.execute(
        select(PostTag.tag, func.max(changed))
        .join(Post, Post.id == PostTag.post_id)
        .where(published)
        .group_by(PostTag.tag)
        .order_by(PostTag.tag)
    )
    entries += [Entry(tag_path(tag), moment) for tag, moment in tags]
    return entries[:MAX_URLS]


def sitemap_xml(site_url: str, entries: Sequence[Entry]) -> bytes:
    urlset = Element("urlset", xmlns=SITEMAP_NS)
    home = SubElement(urlset, "url")
    SubElement(home, "loc").text = f"{site_url}/"
    for entry in entries:
        url = SubElement(urlset, "url")
        SubElement(url, "loc").text = f"{site_url}{entry.path}"
        SubElement(url, "lastmod").text = rfc3339(entry.lastmod)
    document: bytes = tostring(urlset, encoding="utf-8", xml_declaration=True)
    return document


def robots_txt(site_url: str) -> str:
    lines = ["User-agent: *", "Allow: /"]
    lines += [f"Disallow: {path}" for path in DISALLOWED]
    lines += ["", f"Sitemap: {site_url}/sitemap.xml", ""]
    return "\n".join(lines)
