"""Rendered pages, kept by each worker and checked against the content version.

Pages are the same for everyone (who is signed in shows only through the browser's
scripts), and they change only when the database's content version does: migration
0004's triggers bump it in the very transaction of any write that changes what a
page shows (a post written, edited or deleted; an account created, renamed or
deleted). So each page answer costs one tiny read of that version (hot_reads.py):

- the ETag is the version plus a fingerprint of the code and templates, so a
  matching `If-None-Match` gets 304 before anything is looked up or rendered;
- otherwise a page rendered earlier at the same version is sent again, byte for
  byte; only a page not seen since the last write is rendered.

The version is read before rendering, so a stored page is never older than its
version: a write that lands during the render only makes the copy fresher than its
tag, and the next request, seeing the new version, renders again. Every worker
checks the same row, so a write shows at once whichever worker served it.
"""

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NamedTuple

from fastapi import Request, Response

from config import BASE_DIR
from hot_reads import CONTENT_VERSION, HotReads

# Pages kept per worker, least recently used dropped first (~30 KiB each at most).
MAX_PAGES = 512
# Browsers may keep a page but must ask (cheaply, with If-None-Match) before reusing it.
CACHE_CONTROL = "no-cache"


def code_fingerprint(root: Path = BASE_DIR) -> str:
    """What pages are made of besides the data: templates, static files and code. A
    deploy that changes any of it changes every ETag, so no browser keeps an old page."""
    digest = hashlib.sha256()
    for pattern in ("*.py", "routers/*.py", "templates/**/*", "static/**/*"):
        for path in sorted(root.glob(pattern)):
            if path.is_file():
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


BUILD = code_fingerprint()


class Page(NamedTuple):
    version: int
    body: bytes
    media_type: str | None


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110's weak comparison: any listed tag, weak or strong, or `*`."""
    tags = (tag.strip() for tag in if_none_match.split(","))
    return any(tag == "*" or tag.removeprefix("W/") == etag for tag in tags)


class PageCache:
    def __init__(self, reads: HotReads, max_pages: int = MAX_PAGES) -> None:
        self._reads = reads
        self._max_pages = max_pages
        self._pages: OrderedDict[str, Page] = OrderedDict()

    async def version(self) -> int:
        row = await self._reads.one(CONTENT_VERSION)
        if row is None:
            raise RuntimeError("content_version has no row: is the schema migrated?")
        return int(row.version)

    async def serve(self, request: Request, render: Callable[[], Awaitable[Response]]) -> Response:
        """The page at this URL: 304, a stored copy, or `render()`'s answer (stored
        when it is a 200)."""
        version = await self.version()
        headers = {"ETag": f'"{BUILD}-{version}"', "Cache-Control": CACHE_CONTROL}
        if _matches(request.headers.get("if-none-match", ""), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        key = str(request.url)  # a feed's absolute links can come from the Host header
        page = self._pages.get(key)
        if page is not None and page.version == version:
            self._pages.move_to_end(key)
            return Response(page.body, media_type=page.media_type, headers=headers)
        response = await render()
        if response.status_code != 200:
            return response
        self._pages[key] = Page(version, bytes(response.body), response.media_type)
        self._pages.move_to_end(key)
        while len(self._pages) > self._max_pages:
            self._pages.popitem(last=False)
        response.headers.update(headers)
        return response


async def cached_page(request: Request, render: Callable[[], Awaitable[Response]]) -> Response:
    """Serve a page through the worker's cache (made at start-up, in main.py)."""
    cache: PageCache = request.state.page_cache
    return await cache.serve(request, render)
