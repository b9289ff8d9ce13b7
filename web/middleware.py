"""Small ASGI middlewares that every request and response passes through.

Written as plain ASGI rather than BaseHTTPMiddleware: they add no task or
buffering per request, which keeps the hot paths fast.
"""

from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from errors.domain import DomainError, code_for_status

# Pages may load scripts, styles and images from this origin only: no inline code,
# no plugins, no <base> tricks, no framing. The docs page sets its own, laxer one.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
# For answers whose address changes whenever their content does (versioned static
# files, content-addressed pictures): browsers and proxies may keep them for a year.
CACHE_FOREVER = "public, max-age=31536000, immutable"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": PAGE_CSP,
}


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodySizeLimitMiddleware:
    """413 for bodies over `max_bytes`, declared or streamed, before anything parses them.

    Not FastAPI's own `max_body_size`: that one answers a declared oversized body
    from outside the user middleware, as plain text and without the security
    headers above (checked with FastAPI 0.165)."""

    def __init__(self, app: ASGIApp, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths allowed more, e.g. the picture upload: {path: bytes}.
        self.larger = larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.larger.get(scope["path"], self.max_bytes)
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await self._too_large(limit)(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route's body parsing, so the app answers 413.
                    raise HTTPException(413, detail=self._detail(limit))  # coded by main.py
            return message

        await self.app(scope, counting_receive, send)

    @staticmethod
    def _detail(limit: int) -> str:
        return f"Request body larger than {limit} bytes"

    def _too_large(self, limit: int) -> JSONResponse:
        refused = DomainError(413, code_for_status(413), self._detail(limit))
        return JSONResponse(refused.body(), status_code=413)


class HeadAsGetMiddleware:
    """HEAD answered as GET without the body (RFC 9110, 9.3.2), for every route that
    serves GET: monitors and link checkers use it. FastAPI's routes answer only the
    methods they declare, and declaring HEAD on each would also list it in OpenAPI."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        # The headers, Content-Length included, stay those GET would send.
        await self.app({**scope, "method": "GET"}, receive, send_without_body)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether the client takes gzip (listed, and not with `q=0`)."""
    for coding in accept_encoding.lower().split(","):
        name, _, params = coding.partition(";")
        if name.strip() in ("gzip", "*"):
            try:
                return float(params.strip().removeprefix("q=") or 1) > 0
            except ValueError:
                return False
    return False


class CompressionMiddleware(GZipMiddleware):
    """Starlette's gzip for every response worth it (pages, CSS, JS, JSON over 500
    bytes), plus what RFC 9110 (8.8.1) asks of a compressed copy: a strong ETag
    becomes weak, since the copy is no longer byte-identical. Pages from the page
    cache arrive already compressed (web/page_cache.py) and pass through untouched."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A client that takes no gzip skips the responder entirely (~10 µs a request);
        # such an answer then lacks `Vary: Accept-Encoding`, which only means a
        # shared cache may hand the plain copy to a gzip client too.
        if scope["type"] != "http" or not accepts_gzip(
            Headers(scope=scope).get("accept-encoding", "")
        ):
            await self.app(scope, receive, send)
            return

        async def send_with_weak_etag(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                etag = headers.get("etag")
                if etag and headers.get("content-encoding") and not etag.startswith("W/"):
                    headers["etag"] = f"W/{etag}"
            await send(message)

        await super().__call__(scope, receive, send_with_weak_etag)
