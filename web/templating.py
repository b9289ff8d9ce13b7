"""The Jinja environment every page and error page is rendered with, and what pages
need around it: versioned static URLs, the site's own address, a page's `<title>`,
description and canonical link."""

import hashlib
from dataclasses import dataclass
from functools import cache
from html import escape
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from accounts import sessions
from accounts.totp import CODE_MAX, DIGITS
from admin.accounts import SEARCH_MAX
from config import BASE_DIR, get_settings
from content.markdown_render import EXCERPT_LENGTH, Excerpt, excerpt
from content.search import QUERY_MAX_LENGTH
from content.slugs import SLUG_MAX
from content.tags import TAGS_MAX, tag_path
from models import (
    BIO_MAX,
    COMMENT_MAX,
    CONTENT_MAX,
    EMAIL_MAX,
    PASSKEY_NAME_MAX,
    PAT_NAME_MAX,
    REPORT_REASON_MAX,
    SUMMARY_MAX,
    TITLE_MAX,
    USERNAME_MAX,
    WEBSITE_MAX,
    Post,
)
from schemas import PASSWORD_MAX, PASSWORD_MIN

STATIC_DIR = BASE_DIR / "static"


@cache
def static_url(path: str) -> str:
    """A URL that changes whenever the file does, so browsers may cache it for a year."""
    digest = hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:12]
    return f"/static/{path}?v={digest}"


templates = Jinja2Templates(directory=BASE_DIR / "templates")
templates.env.globals["static_url"] = static_url
# How many sign-ins an account keeps, said where the sessions are listed.
templates.env.globals["max_sessions"] = sessions.MAX_SESSIONS
templates.env.globals["tag_path"] = tag_path


@dataclass(frozen=True)
class Limits:
    """The length limits of form fields (`maxlength`, `minlength`): the very constants
    the models and schemas enforce, so a form never promises more, or less, than the API
    takes. Templates read them as `limits.<name>`, never as literal numbers
    (tests/test_form_limits.py keeps it so)."""

    username_max: int = USERNAME_MAX
    email_max: int = EMAIL_MAX
    password_min: int = PASSWORD_MIN
    password_max: int = PASSWORD_MAX
    title_max: int = TITLE_MAX
    content_max: int = CONTENT_MAX
    passkey_name_max: int = PASSKEY_NAME_MAX
    token_name_max: int = PAT_NAME_MAX
    summary_max: int = SUMMARY_MAX
    slug_max: int = SLUG_MAX
    bio_max: int = BIO_MAX
    website_max: int = WEBSITE_MAX
    tags_max: int = TAGS_MAX
    search_max: int = QUERY_MAX_LENGTH
    admin_search_max: int = SEARCH_MAX
    comment_max: int = COMMENT_MAX
    report_reason_max: int = REPORT_REASON_MAX
    # A TOTP code as typed ("123456", or "123 456" as some apps show it), and any code
    # the sign-in's second step takes (a recovery code too).
    totp_code_min: int = DIGITS
    totp_code_max: int = DIGITS + 1
    second_factor_code_max: int = CODE_MAX


templates.env.globals["limits"] = Limits()

DEFAULT_DESCRIPTION = "Inkwell, a small blog: writing from its community, free to read."
HOME_DESCRIPTION = "Fresh writing from the Inkwell community."
# Search engines show about this much of a description.
DESCRIPTION_MAX = 160


def post_description(post: Post) -> str:
    """The author's summary, or the post's opening words as plain text, for search
    results and link previews."""
    return card_text(post, DESCRIPTION_MAX - 1).text


def card_text(post: Post, length: int = EXCERPT_LENGTH) -> Excerpt:
    """What a card says of a post: its summary when set (then there is always more to
    read), else an excerpt of its prose."""
    if post.summary:
        return Excerpt(excerpt(escape(post.summary), length).text, True)
    return excerpt(post.content_html, length)


# Cards show a plain-text excerpt of the stored HTML, made as the page is rendered:
# pages are cached (web/page_cache.py), so that costs once per change, and needs no column.
templates.env.globals["card_text"] = card_text


def site_url(request: Request) -> str:
    """Where absolute links start, without a trailing slash: PUBLIC_URL when set, or
    the address this request came to (the page cache keys on the full URL, so two
    hosts never share a copy)."""
    return str(get_settings().public_url or request.base_url).rstrip("/")


def canonical_url(request: Request) -> str:
    """The page's own absolute address: only the parameters that choose what the page
    shows are kept (not `next`, not trackers)."""
    kept = {key: value for key in ("cursor",) if (value := request.query_params.get(key))}
    query = f"?{urlencode(kept)}" if kept else ""
    return f"{site_url(request)}{request.url.path}{query}"


def render(
    request: Request,
    name: str,
    title: str,
    description: str = DEFAULT_DESCRIPTION,
    **context: object,
) -> HTMLResponse:
    """A page with its `<title>`, meta description and canonical address."""
    context |= {
        "title": title,
        "description": description,
        "canonical_url": canonical_url(request),
    }
    return templates.TemplateResponse(request, name, context)
