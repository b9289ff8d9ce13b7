"""The HTML pages. They are rendered for everyone alike: who is signed in is known
only to the browser (the token lives in localStorage), so personal touches such as
the navbar and the Edit buttons are added by the page's scripts."""

from http import HTTPStatus
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from comments.service import public_threads
from config import get_settings
from content.pagination import After, page_of_posts
from content.posts import get_author_or_404, get_post_or_404, neighbours, published_tag
from content.search import QUERY_MAX_LENGTH, search_posts
from content.tags import tag_path
from database import open_session
from errors.domain import DomainError
from schemas import PathId
from web.link_previews import link_preview
from web.page_cache import cached_page
from web.templating import HOME_DESCRIPTION, canonical_url, post_description, render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


# Pages that show the blog's content go through web/page_cache.py: each renders only when
# the content changed since it was last rendered, and answers 304 to a matching ETag.
# They open a database session only to render (objects loaded in it are read while it
# is open: closing ends the transaction, which expires them), never for a 304 or a
# cached copy.


@router.get("/")
async def home(request: Request, after: After) -> Response:
    async def render_home() -> Response:
        async with open_session(request) as session:
            page = await page_of_posts(session, after, get_settings().page_size)
            title = "Older posts" if after else "Home"
            description = "Older posts on Inkwell." if after else HOME_DESCRIPTION
            older = after is not None
            return render(request, "home.html", title, description, page=page, older=older)

    return await cached_page(request, render_home)


# Search is not cached: every query is a page of its own, and a cache keyed by what
# anyone types would fill with queries nobody asks twice. Its answer is cheap instead
# (README, Performance). Pages of results carry `noindex`.
@router.get("/search")
async def search_page(
    request: Request,
    q: Annotated[str, Query(max_length=10 * QUERY_MAX_LENGTH)] = "",
    cursor: str | None = None,
) -> Response:
    context: dict[str, object] = {"search_query": q, "results": None, "problem": None}
    title = f"Search: {q}" if q.strip() else "Search"
    status_code = 200
    if q.strip():
        try:
            async with open_session(request) as session:
                context["results"] = await search_posts(
                    session, q, get_settings().page_size, cursor
                )
                response = render(request, "search.html", title, "Search Inkwell.", **context)
                return response
        except DomainError as refused:
            if refused.code == "invalid_cursor":
                raise
            context["problem"] = refused.detail
            status_code = refused.status_code
    response = render(request, "search.html", title, "Search Inkwell.", **context)
    response.status_code = status_code
    return response


# The editor's pages, the same for everyone like every page: the browser fetches the
# post with its token (drafts are their author's alone) and says so when it may not.
# Registered before the post page, whose `{slug}` would take "edit" too.


@router.get("/write")
async def write_page(request: Request) -> HTMLResponse:
    return render(request, "editor.html", "New post", "Write a post on Inkwell.", post_id=None)


@router.get("/posts/{post_id:int}/edit")
async def edit_page(request: Request, post_id: PathId) -> HTMLResponse:
    return render(request, "editor.html", "Edit post", "Edit a post on Inkwell.", post_id=post_id)


# What the 404 page of an unknown address says (main.py's `error_answer` with the
# framework's own detail), which the admin page shows anyone who is not an admin.
NOT_FOUND = HTTPStatus.NOT_FOUND


@router.get("/admin")
async def admin_page(request: Request) -> HTMLResponse:
    """The same for everyone, with no data in it: static/js/admin.js shows the console
    to an admin (by /api/users/me) and exactly the 404 page to anyone else."""
    not_found = {"status_code": 404, "title": "Page not found", "message": NOT_FOUND.phrase}
    return render(request, "admin.html", "Admin", "Inkwell's admin.", not_found=not_found)


@router.get("/me/posts")
async def my_posts_page(request: Request) -> HTMLResponse:
    description = "Your drafts, scheduled and published posts on Inkwell."
    return render(request, "my_posts.html", "Your posts", description)


@router.get("/posts/{post_id:int}/{slug}")
async def post_page(request: Request, post_id: PathId, slug: str, after: After) -> Response:
    """A published post at its canonical address; any other slug (an old one, a cut
    one) is redirected there for good. Under it, the comments everyone may see (never
    a pending one: the page is cached for everyone), a page of threads at a time:
    `?cursor=` continues after the last one shown."""

    async def render_post() -> Response:
        async with open_session(request) as session:
            post = await get_post_or_404(session, post_id)
            if slug != post.slug:
                return RedirectResponse(post.url, status_code=301)
            older, newer = await neighbours(session, post)
            threads = await public_threads(session, post=post, after=after)
            return render(
                request,
                "post.html",
                post.title,
                post_description(post),
                post=post,
                older=older,
                newer=newer,
                threads=threads,
                preview=link_preview(request, post, canonical_url(request)),
            )

    return await cached_page(request, render_post)


@router.get("/posts/{post_id:int}")
async def post_page_without_slug(request: Request, post_id: PathId) -> Response:
    """Links made before posts had words in their address keep working."""
    async with open_session(request) as session:
        post = await get_post_or_404(session, post_id)
        return RedirectResponse(post.url, status_code=301)


@router.get("/users/{user_id:int}/posts")
async def user_posts_page(request: Request, user_id: PathId, after: After) -> Response:
    async def render_user_posts() -> Response:
        async with open_session(request) as session:
            user, post_count = await get_author_or_404(session, user_id)
            page = await page_of_posts(session, after, get_settings().page_size, user_id)
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


@router.get("/tags/{tag}")
async def tag_page(request: Request, tag: str, after: After) -> Response:
    """A tag's published posts, newest first, paged as the home page is; another
    spelling of the tag ("Web Dev") is redirected to its own (`web-dev`)."""

    async def render_tag_posts() -> Response:
        async with open_session(request) as session:
            name = await published_tag(session, tag)
            if name != tag:
                return RedirectResponse(tag_path(name), status_code=301)
            page = await page_of_posts(session, after, get_settings().page_size, tag=name)
            title = f"Posts tagged {name}"
            return render(
                request,
                "tag_posts.html",
                title,
                f"{title} on Inkwell.",
                tag=name,
                page=page,
                older=after is not None,
            )

    return await cached_page(request, render_tag_posts)


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
