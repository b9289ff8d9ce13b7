"""Rendered pages, kept by each worker and checked against the content version.

Pages are the same for everyone (who is signed in shows only through the browser's
scripts), and they change only when the database's content version does: migration
0004's triggers bump it in the very transaction of any write that changes what a
page shows (a post written, edited or deleted; an account created, renamed or
deleted). So each page answer costs one tiny read of that version (web/hot_reads.py):

- the ETag is the version plus a fingerprint of the code and templates, so a
  matching `If-None-Match` gets 304 before anything is looked up or rendered;
- otherwise a page rendered earlier at the same version is sent again, byte for
  byte; only a page not seen since the last write is rendered.

The version is read before rendering, so a stored page is never older than its
version: a write that lands during the render only makes the copy fresher than its
tag, and the next request, seeing the new version, renders again. Every worker
checks the same row, so a write shows at once whichever worker served it.

When the database cannot be reached, a page this worker holds at the last version it
read is still served, for STALE_PAGES_SECONDS after that read (`Cache-Status` says
so): readers keep reading through a restart or a short outage. Past that, or for a
page not held, the answer is the app's 503 with Retry-After, never a 500.
"""

import gzip
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NamedTuple

from fastapi import Request, Response
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from config import BASE_DIR, get_settings
from errors.unavailable import is_database_unavailable
from web.hot_reads import CONTENT_VERSION, HotReads
from web.middleware import accepts_gzip

# Pages kept per worker, least recently used dropped first (~30 KiB each at most).
MAX_PAGES = 512
# Pages are compressed once per change, so the smallest output is worth its time.
GZIP_LEVEL = 9
# Browsers may keep a page but must ask (cheaply, with If-None-Match) before reusing it.
CACHE_CONTROL = "no-cache"
# RFC 9211: a copy served while the database could not say whether it is current.
STALE_CACHE_STATUS = 'Inkwell; hit; detail="stale: database unavailable"'
# Besides the top-level modules: the packages whose code makes pages.
_NOT_PAGE_CODE = {".venv", "tests", "bench", "migrations", "deploy", "data"}


def code_fingerprint(root: Path = BASE_DIR) -> str:
    """What pages are made of besides the data: templates, static files and code. A
    deploy that changes any of it changes every ETag, so no browser keeps an old page."""
    digest = hashlib.sha256()
    for pattern in ("*.py", "*/*.py", "templates/**/*", "static/**/*"):
        for path in sorted(root.glob(pattern)):
            if path.is_file() and path.relative_to(root).parts[0] not in _NOT_PAGE_CODE:
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


BUILD = code_fingerprint()


class Page(NamedTuple):
    version: int
    body: bytes
    gzipped: bytes  # compressed once, when stored, not on every answer
    media_type: str | None


def _matches(if_none_match: str, etag: str) -> bool:
    """RFC 9110's weak comparison: any listed tag, weak or strong, or `*`."""
    opaque = etag.removeprefix("W/")
    tags = (tag.strip() for tag in if_none_match.split(","))
    return any(tag == "*" or tag.removeprefix("W/") == opaque for tag in tags)


PageKey = tuple[str, bytes, str, bytes]


def page_key(scope: Scope) -> PageKey:
    """What names a page: the full URL (a feed's absolute links can come from the
    Host header, so each host gets its own copy)."""
    host = next((value for name, value in scope["headers"] if name == b"host"), b"")
    path = scope.get("root_path", "") + scope["path"]
    return scope["scheme"], host, path, scope["query_string"]


class PageCache:
    def __init__(self, reads: HotReads, max_pages: int = MAX_PAGES) -> None:
        self._reads = reads
        self._max_pages = max_pages
        self._pages: OrderedDict[PageKey, Page] = OrderedDict()
        # The last version the database answered, and when (time.monotonic()).
        self._last_read: tuple[int, float] | None = None

    async def version(self) -> int:
        row = await self._reads.one(CONTENT_VERSION)
        if row is None:
            raise RuntimeError("content_version has no row: is the schema migrated?")
        version = int(row.version)
        self._last_read = (version, time.monotonic())
        return version

    def _servable_while_down(self, page: Page) -> bool:
        """A copy at the last version read, while that read is recent enough."""
        if self._last_read is None:
            return False
        version, read_at = self._last_read
        fresh_enough = time.monotonic() - read_at <= get_settings().stale_pages_seconds
        return page.version == version and fresh_enough

    async def _request_version(self, scope: Scope) -> int:
        """The version, read once per request: a stale copy found by the middleware
        sends the request on to its route, which then needs the same number."""
        state = scope.setdefault("state", {})
        if "content_version" not in state:
            state["content_version"] = await self.version()
        return int(state["content_version"])

    def _answer(
        self, scope: Scope, key: PageKey, version: int, page: Page, *, stale: bool = False
    ) -> Response:
        """A current page: 304 for a matching If-None-Match, else its stored copy,
        gzipped for clients that take it. The ETag is weak because the gzipped and
        the plain copy share it (RFC 9110, 8.8.1: equivalent, not byte-identical)."""
        request_headers = Headers(scope=scope)
        headers = {
            "ETag": f'W/"{BUILD}-{version}"',
            "Cache-Control": CACHE_CONTROL,
            "Vary": "Accept-Encoding",
        }
        if stale:
            headers["Cache-Status"] = STALE_CACHE_STATUS
        if _matches(request_headers.get("if-none-match", ""), headers["ETag"]):
            return Response(status_code=304, headers=headers)
        self._pages.move_to_end(key)
        if accepts_gzip(request_headers.get("accept-encoding", "")):
            headers["Content-Encoding"] = "gzip"
            return Response(page.gzipped, media_type=page.media_type, headers=headers)
        return Response(page.body, media_type=page.media_type, headers=headers)

    async def stored(self, scope: Scope, key: PageKey | None = None) -> Response | None:
        """The answer for a page this worker rendered at the current version (its
        copy, or 304), or None: for PageCacheMiddleware, before any routing."""
        key = key or page_key(scope)
        page = self._pages.get(key)
        if page is None:
            return None
        try:
            version = await self._request_version(scope)
        except Exception as error:
            if is_database_unavailable(error) and self._servable_while_down(page):
                return self._answer(scope, key, page.version, page, stale=True)
            raise
        return self._answer(scope, key, version, page) if page.version == version else None

    async def serve(self, request: Request, render: Callable[[], Awaitable[Response]]) -> Response:
        """The page at this URL: 304 or a stored copy if it is current, else
        `render()`'s answer, stored when it is a 200. Only a page that exists gets a
        304: a deleted post is a 404 whatever tag the client holds."""
        key = page_key(request.scope)
        answer = await self.stored(request.scope, key)
        if answer is not None:
            return answer
        version = await self._request_version(request.scope)
        response = await render()
        if response.status_code != 200:
            return response
        body = bytes(response.body)
        page = Page(version, body, gzip.compress(body, GZIP_LEVEL, mtime=0), response.media_type)
        self._pages[key] = page
        while len(self._pages) > self._max_pages:
            self._pages.popitem(last=False)
        return self._answer(request.scope, key, version, page)


async def cached_page(request: Request, render: Callable[[], Awaitable[Response]]) -> Response:
    """Serve a page through the worker's cache (made at start-up, in main.py)."""
    cache: PageCache = request.state.page_cache
    return await cache.serve(request, render)


class PageCacheMiddleware:
    """Pages this worker already rendered at the current content version, answered
    before routing: a copy or a 304 then costs a dictionary lookup and the version
    read. Measured on FastAPI 0.165, matching a request against the included routers
    and solving a route's dependencies cost more than the rest of such an answer (a
    304 took 97 µs in-process through the route, 30 µs for a bare endpoint).

    Only URLs whose page is stored at the current version are answered here, so
    this never answers for a page that would now be a 404; everything else (a first
    visit, a page older than the last write) goes on to its route and `cached_page`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cache: PageCache | None = scope.get("state", {}).get("page_cache")
        if scope["type"] == "http" and scope["method"] == "GET" and cache is not None:
            try:
                answer = await cache.stored(scope)
            except Exception as error:
                if not is_database_unavailable(error):
                    raise
                # Outside the app's error handlers here: the route reads again, and
                # its failure is answered as any other (503 with Retry-After).
                answer = None
            if answer is not None:
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)
