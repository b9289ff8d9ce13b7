"""The HTML pages. They are rendered for everyone alike: who is signed in is known
only to the browser (the token lives in localStorage), so personal touches such as
the navbar and the Edit buttons are added by the page's scripts."""

import hashlib
from functools import cache
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import sessions
from config import BASE_DIR, settings
from database import open_session
from markdown_render import excerpt
from models import Post, User
from page_cache import cached_page
from pagination import After, page_of_posts
from routers.posts import get_post_or_404
from schemas import PathId

STATIC_DIR = BASE_DIR / "static"


@cache
def static_url(path: str) -> str:
    """A URL that changes whenever the file does, so browsers may cache it for a year."""
    digest = hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]
    return f"/static/{path}?v={digest}"


templates = Jinja2Templates(directory=BASE_DIR / "templates")
templates.env.globals["static_url"] = static_url
# Cards show a plain-text excerpt of the stored HTML, made as the page is rendered:
# pages are cached (page_cache.py), so that costs once per change, and needs no column.
templates.env.globals["excerpt"] = excerpt
# How many sign-ins an account keeps, said where the sessions are listed.
templates.env.globals["max_sessions"] = sessions.MAX_SESSIONS

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


DEFAULT_DESCRIPTION = "Inkwell, a small blog: writing from its community, free to read."
HOME_DESCRIPTION = "Fresh writing from the Inkwell community."
# Search engines show about this much of a description.
DESCRIPTION_MAX = 160


def post_description(post: Post) -> str:
    """The post's opening words as plain text, for search results and link previews."""
    return excerpt(post.content_html, DESCRIPTION_MAX - 1).text


def site_url(request: Request) -> str:
    """Where absolute links start, without a trailing slash: PUBLIC_URL when set, or
    the address this request came to (the page cache keys on the full URL, so two
    hosts never share a copy)."""
    return str(settings.public_url or request.base_url).rstrip("/")


def render(
    request: Request,
    name: str,
    title: str,
    description: str = DEFAULT_DESCRIPTION,
    **context: object,
) -> HTMLResponse:
    """A page with its `<title>`, meta description and canonical address."""
    # Only the parameters that choose what the page shows: not `next`, not trackers.
    kept = {key: value for key in ("cursor",) if (value := request.query_params.get(key))}
    query = f"?{urlencode(kept)}" if kept else ""
    canonical_url = f"{site_url(request)}{request.url.path}{query}"
    context |= {"title": title, "description": description, "canonical_url": canonical_url}
    return templates.TemplateResponse(request, name, context)


async def get_author_or_404(session: AsyncSession, user_id: int) -> tuple[User, int]:
    """The author and how many posts they have written, in one query."""
    post_count = select(func.count()).where(Post.user_id == User.id).scalar_subquery()
    row = (await session.execute(select(User, post_count).where(User.id == user_id))).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="User not found")
    return row[0], row[1]


# Pages that show the blog's content go through page_cache.py: each renders only when
# the content changed since it was last rendered, and answers 304 to a matching ETag.
# They open a database session only to render (objects loaded in it are read while it
# is open: closing ends the transaction, which expires them), never for a 304 or a
# cached copy.


@router.get("/")
async def home(request: Request, after: After) -> Response:
    async def render_home() -> Response:
        async with open_session(request) as session:
            page = await page_of_posts(session, after, settings.page_size)
            title = "Older posts" if after else "Home"
            description = "Older posts on Inkwell." if after else HOME_DESCRIPTION
            older = after is not None
            return render(request, "home.html", title, description, page=page, older=older)

    return await cached_page(request, render_home)


@router.get("/posts/{post_id:int}")
async def post_page(request: Request, post_id: PathId) -> Response:
    async def render_post() -> Response:
        async with open_session(request) as session:
            post = await get_post_or_404(session, post_id)
            return render(request, "post.html", post.title, post_description(post), post=post)

    return await cached_page(request, render_post)


@router.get("/users/{user_id:int}/posts")
async def user_posts_page(request: Request, user_id: PathId, after: After) -> Response:
    async def render_user_posts() -> Response:
        async with open_session(request) as session:
            user, post_count = await get_author_or_404(session, user_id)
            page = await page_of_posts(session, after, settings.page_size, user_id)
            title = f"Posts by {user.username}"
            return render(
                request,
                "user_posts.html",
                title,
                f"{title} on Inkwell.",
                user=user,
                post_count=post_count,
                page=page,
                older=after is not None,
            )

    return await cached_page(request, render_user_posts)


@router.get("/register")
async def register_page(request: Request) -> HTMLResponse:
    return render(request, "register.html", "Register", "Create an Inkwell account to write.")


@router.get("/login")
async def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", "Log in", "Log in to Inkwell to write and edit posts.")


@router.get("/account")
async def account_page(request: Request) -> HTMLResponse:
    description = "Your Inkwell account: profile, password and signed-in devices."
    return render(request, "account.html", "Your account", description)


# Pages that read a single-use token from their address (`?token=`, from a mail): no
# Referer carries it to any site, not even this one, and no cache keeps the page.
TOKEN_PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def token_page(request: Request, name: str, title: str, description: str) -> HTMLResponse:
    response = render(request, name, title, description)
    response.headers.update(TOKEN_PAGE_HEADERS)
    return response


@router.get("/verify-email")
async def verify_email_page(request: Request) -> HTMLResponse:
    description = "Confirm the email address of your Inkwell account."
    return token_page(request, "verify_email.html", "Verify your email address", description)


@router.get("/forgot-password")
async def forgot_password_page(request: Request) -> HTMLResponse:
    description = "Get a link by mail to choose a new Inkwell password."
    return token_page(request, "forgot_password.html", "Forgot your password?", description)


@router.get("/reset-password")
async def reset_password_page(request: Request) -> HTMLResponse:
    description = "Choose a new password for your Inkwell account."
    return token_page(request, "reset_password.html", "Choose a new password", description)
