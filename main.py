"""Inkwell: the application, its start-up, and how errors are answered."""

import base64
import hashlib
import logging
import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import cache
from os import PathLike
from typing import TypedDict

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import Scope

from accounts.email_links import run_pending_resets
from accounts.oidc import OIDCRegistry, load_registry
from accounts.throttle import DatabaseThrottle, LoginThrottle
from auth import PasswordHashing, forget_checked_tokens, use_hashing
from config import Settings, use_settings
from content.scheduler import Publisher
from database import create_engine, create_sessionmaker, ensure_schema_is_current, migrate
from errors.domain import DomainError, code_for_status
from errors.unavailable import is_database_unavailable
from images import pool as image_pool
from images.media import MediaCollector
from mailing.outbox import OutboxSender
from mailing.smtp import transport_for
from routers import (
    access_tokens,
    admin,
    comments,
    discovery,
    email_links,
    export,
    feeds,
    identities,
    imports,
    media,
    oidc,
    pages,
    passkeys,
    pictures,
    posts,
    reauthentication,
    search,
    sessions,
    tags,
    totp,
    users,
)
from schemas import MAX_REPORTED_ERRORS, too_many_errors
from web.hot_reads import HotReads, hot_reads_for
from web.middleware import (
    CACHE_FOREVER,
    BodySizeLimitMiddleware,
    CompressionMiddleware,
    HeadAsGetMiddleware,
    SecurityHeadersMiddleware,
)
from web.page_cache import PageCache, PageCacheMiddleware
from web.templating import STATIC_DIR, static_url, templates

logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s: %(message)s")
logger = logging.getLogger("inkwell")


class RedactLinkTokens(logging.Filter):
    """Mailed links carry single-use tokens in their query (`/reset-password?token=`):
    the access log records the path without them."""

    TOKEN = re.compile(r"([?&]token=)[^&\s]*")

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn.access's arguments: client, method, path with query, version, status.
        args = record.args
        if isinstance(args, tuple) and len(args) > 2 and isinstance(args[2], str):
            record.args = (*args[:2], self.TOKEN.sub(r"\1[redacted]", args[2]), *args[3:])
        return True


logging.getLogger("uvicorn.access").addFilter(RedactLinkTokens())


class AppState(TypedDict):
    """What start-up makes; every request sees it as `request.state`."""

    sessionmaker: async_sessionmaker[AsyncSession]
    login_throttle: LoginThrottle
    hot_reads: HotReads
    page_cache: PageCache
    oidc_providers: OIDCRegistry


def lifespan_for(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[AppState]]:
    """Start-up and shut-down of an app for `settings`: the database (migrated, or
    checked to be current), the Argon2 threads, the login throttle, the outbox sender,
    the scheduled posts' publisher, the unused images' collector and the page cache
    are made here, when the app starts, never at import."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[AppState]:
        use_settings(settings)  # the app that starts is the one served
        engine = create_engine(settings.database_url)
        auto_migrate = settings.auto_migrate
        if auto_migrate is None:
            auto_migrate = engine.url.get_backend_name() == "sqlite"
        if auto_migrate:
            await migrate(engine)
        else:
            await ensure_schema_is_current(engine)
        sessionmaker = create_sessionmaker(engine)
        hot_reads = hot_reads_for(engine)
        hashing = PasswordHashing.from_settings(settings)
        use_hashing(hashing)
        await hashing.dummy_hash()  # made now, so no login waits for it
        # OpenID Connect providers: each one's discovery document, once (accounts/oidc.py).
        oidc_providers = await load_registry(settings.oidc_clients)
        image_pool.use_pool(image_pool.DecodePool.from_settings(settings))
        if not settings.smtp_host:
            logger.info("No SMTP_HOST: development mode, mails are written to this log")
        # Delivers the outbox in the background; requests only queue mail (mailing/outbox.py).
        sender = OutboxSender(sessionmaker, transport_for(settings))
        sender.start()
        # Makes scheduled posts published at their time (content/scheduler.py).
        publisher = Publisher(sessionmaker)
        publisher.start()
        # Deletes uploaded images no post uses, a day after their upload (images/media.py).
        collector = MediaCollector(sessionmaker)
        collector.start()
        yield {
            "sessionmaker": sessionmaker,
            "login_throttle": DatabaseThrottle(sessionmaker),
            "hot_reads": hot_reads,
            "page_cache": PageCache(hot_reads),
            "oidc_providers": oidc_providers,
        }
        # Reset requests still waiting out their random delay are done now, not lost.
        await run_pending_resets()
        await sender.stop()
        await publisher.stop()
        await collector.stop()
        use_hashing(None)
        image_pool.use_pool(None)
        hashing.close()
        hot_reads.close()
        await engine.dispose()

    return lifespan


class VersionedStaticFiles(StaticFiles):
    """Files asked for with `?v=<hash>` (see `static_url`) never change: cache them
    for a year. Others are revalidated with their ETag each time."""

    def file_response(
        self,
        full_path: PathLike[str] | str,
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        versioned = b"v=" in scope.get("query_string", b"")
        response.headers["Cache-Control"] = CACHE_FOREVER if versioned else "no-cache"
        return response


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path: Starlette's own 405 names only
    the first route's, though one path is often served by several routes. HEAD goes
    with GET (see HeadAsGetMiddleware)."""

    def served(method: str) -> bool:
        return any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )

    return ", ".join(
        method for method in HTTP_METHODS if served(method) or (method == "HEAD" and served("GET"))
    )


async def error_answer(request: Request, error: DomainError) -> Response:
    """What a service refused (or the framework did, coded below): JSON `{"detail",
    "code"}` for the API, a friendly HTML page for everything else."""
    if is_api(request):
        return JSONResponse(error.body(), error.status_code, headers=error.headers)
    status_code = error.status_code
    title = "Page not found" if status_code == 404 else "Something went wrong"
    context = {"title": title, "status_code": status_code, "message": error.detail}
    return templates.TemplateResponse(
        request, "error.html", context, status_code=status_code, headers=error.headers
    )


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    """The framework's own answers (an unknown route, a method not allowed, a missing
    token), coded by their status."""
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request)
    if exc.status_code < 400:
        return await http_exception_handler(request, exc)
    code = code_for_status(exc.status_code)
    coded = DomainError(exc.status_code, code, exc.detail, headers)
    return await error_answer(request, coded)


# Seconds a client is asked to wait when the database is saturated or unreachable.
DATABASE_RETRY_AFTER = 2


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """No free connection within the pool timeout, a server that went away, or a lock
    that did not come: 503 with `Retry-After`, quickly, instead of a 500 or a hang.
    Any other database error is a bug and stays a 500."""
    if not is_database_unavailable(exc):
        raise exc
    # The class names only: a driver's message can quote SQL parameters.
    cause = type(getattr(exc, "orig", None) or exc).__name__
    logger.warning("Database unavailable (%s): answering 503", cause)
    detail = "The service is busy; please try again shortly"
    headers = {"Retry-After": str(DATABASE_RETRY_AFTER)}
    return await error_answer(request, DomainError(503, "service_unavailable", detail, headers))


def _printable(part: object) -> object:
    """A JSON key can hold a lone surrogate, which no UTF-8 response can carry."""
    return part.encode("utf-8", "backslashreplace").decode() if isinstance(part, str) else part


async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's 422 for the API, minus the echoed `input`: it would send passwords
    back, and may hold text no response can encode. A page address that does not
    parse names no page: 404."""
    if not is_api(request):
        return await error_answer(request, DomainError(404, "not_found", "Page not found"))
    found = exc.errors()
    if len(found) > MAX_REPORTED_ERRORS:  # a net: InputModel already cuts unknown fields
        shown = MAX_REPORTED_ERRORS - 1
        more = too_many_errors(len(found) - shown)
        where = tuple(found[shown]["loc"][:1])
        summary = {"type": more.type, "loc": where, "msg": more.message(), "ctx": more.context}
        found = [*found[:shown], summary]
    errors = [
        {key: value for key, value in error.items() if key != "input"}
        | {"loc": [_printable(part) for part in error["loc"]]}
        for error in found
    ]
    body = {"detail": jsonable_encoder(errors), "code": "validation_error"}
    return JSONResponse(body, status_code=422)


@cache
def swagger_page(openapi_url: str) -> tuple[bytes, str]:
    """The docs page and a CSP that allows exactly its one inline script."""
    html = bytes(
        get_swagger_ui_html(
            openapi_url=openapi_url,
            title="Inkwell API",
            swagger_js_url=static_url("swagger/swagger-ui-bundle.js"),
            swagger_css_url=static_url("swagger/swagger-ui.css"),
            swagger_favicon_url=static_url("img/favicon.svg"),
        ).body
    )
    # A way back to the blog above the third-party page.
    back = b'<p style="margin: 1em 2em"><a href="/">&larr; Back to Inkwell</a></p>'
    html = html.replace(b'<div id="swagger-ui">', back + b'<div id="swagger-ui">', 1)
    scripts = re.findall(rb"<script>(.*?)</script>", html, flags=re.DOTALL)
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(s).digest()).decode()}'" for s in scripts
    )
    csp = (
        f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    return bytes(html), csp


async def swagger_ui(request: Request) -> HTMLResponse:
    html, csp = swagger_page(request.app.openapi_url or "/openapi.json")
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application for `settings` (by default the environment's and `.env`'s).

    Tests build apps from settings objects of their own; every module reads the
    settings of the app last built or started (config.get_settings)."""
    settings = settings or Settings()
    use_settings(settings)
    forget_checked_tokens()  # checked under another app's key
    app = FastAPI(
        title="Inkwell",
        summary="A small blog with registration, login and JWTs done right.",
        lifespan=lifespan_for(settings),
        docs_url=None,  # served below from local files: no CDN, works offline
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,  # the password flow never redirects
    )
    app.add_middleware(PageCacheMiddleware)  # innermost: sees HEAD as GET
    app.add_middleware(CompressionMiddleware)
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        larger={
            pictures.UPLOAD_PATH: pictures.UPLOAD_BODY_BYTES,
            media.UPLOAD_PATH: media.UPLOAD_BODY_BYTES,
            imports.IMPORT_PATH: imports.IMPORT_BODY_BYTES,
        },
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", VersionedStaticFiles(directory=STATIC_DIR), name="static")
    app.include_router(posts.own_router)  # /api/users/me/posts, before /api/users/{id}
    app.include_router(imports.router)  # /api/users/me/import, likewise
    for router in (
        users,
        totp,
        sessions,
        email_links,
        pictures,
        media,
        passkeys,
        identities,
        export,
        oidc,
        reauthentication,
        posts,
        admin,
        comments,
        search,
        tags,
        pages,
        feeds,
        discovery,
        access_tokens,
    ):
        app.include_router(router.router)
    app.add_api_route("/docs", swagger_ui, include_in_schema=False)
    app.add_exception_handler(DomainError, error_answer)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(sqlalchemy.exc.TimeoutError, database_unavailable)
    app.add_exception_handler(sqlalchemy.exc.DBAPIError, database_unavailable)
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    return app


# `uv run fastapi dev` and `uvicorn main:app` serve this one.
app = create_app()
