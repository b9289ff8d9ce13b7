"""Post content: Markdown source in, safe HTML out, and plain-text excerpts of it.

What is rendered: CommonMark, plus tables, strikethrough and bare links made clickable
(markdown-it-py); task lists (`- [ ]`, `- [x]`) as disabled checkboxes, each item's
text its label, and footnotes (`[^1]`, `^[inline]`) as numbered links to a list at the
end (mdit-py-plugins); fenced code coloured by Pygments when its fence names a language
Pygments knows (content/code_highlight.py: CSS classes only, plain text otherwise).

Two independent locks keep a post from carrying script into a page:

1. markdown-it-py parses with raw HTML switched off, so `<script>` in a post is text,
   and its link check already refuses `javascript:`, `vbscript:`, `file:` and `data:`;
2. nh3 (the Rust crate ammonia) then cleans the result against an allow-list of tags,
   attributes and classes: no event or style attributes, only http(s), mailto and
   relative links, and every link gets `rel="nofollow noopener"` (a post's links are
   its author's, not the blog's endorsement, and a new tab never gets
   `window.opener`). Inputs can only be disabled checkboxes, spans only carry the
   classes Pygments emits, and images only come from this site's /media/images/.

Images: `![alt](/media/images/<name>)`, for an image uploaded to this site and passed
in `images` with its size, is an `<img>` with width and height (no layout shift) that
loads lazily. Any other image is not rendered: the page's Content-Security-Policy
allows images from this site only, so a remote one would show broken, and loading it
would tell a third party who reads the post. It shows its alt text instead.

Headings move one level down (`#` becomes `<h2>`), so the post's title stays the
page's only `<h1>`, and get ids for deep links (`## Getting started` is
`#getting-started`; letters of any script are kept, a repeat gets `-1`, `-2`...). An id
the pages themselves use (RESERVED_IDS: `main`, `post-content`...) or a footnote's
(`fn1`, `fnref1`) or a comment's on the post page (`comment-42`) is never given to a
heading: it is numbered like a repeat.

Rendering takes time linear in the source, but with a large constant for some inputs
(about 20 µs a character for `"!["` repeated: 0.3-0.5 s for the longest post), so
requests render in one dedicated thread, never on the event loop (`render_off_loop`),
with at most RENDER_QUEUE renders waiting per process (503 beyond that). The last
few results are kept, so the post's own render on assignment (models.Post) finds the
one just made instead of repeating it on the loop.
"""

import asyncio
import contextlib
import math
import os
import re
import threading
import unicodedata
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from html.parser import HTMLParser
from typing import NamedTuple, TypeAlias

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

from content.code_highlight import TOKEN_CLASSES, highlight, language_of
from errors.domain import DomainError

# Where images uploaded for posts are served, each under its content hash (routers/media.py).
# Here rather than in models.py, which imports this module; models re-exports it.
MEDIA_IMAGES_PATH = "/media/images"
# (name, width, height) of each uploaded image a post may show, sorted by name: a tuple,
# so render_html's cache can key on it.
ImageSizes: TypeAlias = tuple[tuple[str, int, int], ...]

EXCERPT_LENGTH = 300
ELLIPSIS = "…"
# Punctuation left dangling before the ellipsis is dropped (hyphen, en and em dash too).
_TRAILING = " ,.;:!?-\u2013\u2014"
# Reading speed for reading_minutes (adults reading prose silently read ~200-260).
WORDS_PER_MINUTE = 230
_TOP_HEADING = 6
# Column alignment in tables: markdown-it writes a style attribute, which is not
# allowed; a class says the same (main.css styles it).
_ALIGNMENTS = {f"text-align:{side}": f"align-{side}" for side in ("left", "center", "right")}
# An uploaded image's name: the SHA-256 of its WebP bytes (images/, routers/media.py).
_MEDIA_NAME = r"[0-9a-f]{64}\.webp"
_MEDIA_SRC = re.compile(re.escape(MEDIA_IMAGES_PATH) + "/(" + _MEDIA_NAME + ")")

# Ids the pages' own markup uses (templates/): a heading never gets one of them, so a
# deep link or the page's script never finds a heading instead of the page's element.
# tests/test_markdown.py renders every page and fails on an id missing here.
RESERVED_IDS = frozenset({
    "account", "account-avatar", "account-email", "account-email-status",
    "account-heading", "account-loading", "account-posts-link", "account-username",
    "add-passkey-button", "add-passkey-cancel", "add-passkey-dialog",
    "add-passkey-error", "add-passkey-form", "add-passkey-heading", "add-passkey-submit",
    "admin-accounts", "admin-accounts-empty", "admin-accounts-error",
    "admin-accounts-heading", "admin-accounts-list", "admin-accounts-more",
    "admin-accounts-pager", "admin-accounts-table", "admin-accounts-wrap",
    "admin-console", "admin-delete-comment-cancel", "admin-delete-comment-confirm",
    "admin-delete-comment-dialog", "admin-delete-comment-error",
    "admin-delete-comment-heading", "admin-loading", "admin-log", "admin-log-empty",
    "admin-log-error", "admin-log-heading", "admin-log-list", "admin-log-more",
    "admin-log-pager", "admin-pending", "admin-pending-empty", "admin-pending-error",
    "admin-pending-heading", "admin-pending-list", "admin-pending-more",
    "admin-pending-pager", "admin-reported", "admin-reported-empty",
    "admin-reported-error", "admin-reported-heading", "admin-reported-list",
    "admin-reported-more", "admin-reported-pager", "admin-search", "admin-search-input",
    "comment-content", "comment-error", "comment-form", "comment-hint", "comment-list",
    "comment-mail", "comment-mail-hint", "comment-resend", "comment-signin",
    "comment-submit", "comment-success", "comments", "comments-empty",
    "comments-heading", "comments-status", "confirm-new-password", "danger-heading",
    "delete-account-button", "delete-account-cancel", "delete-account-confirm",
    "delete-account-dialog", "delete-account-error", "delete-account-export",
    "delete-account-heading", "delete-comment-cancel", "delete-comment-confirm",
    "delete-comment-dialog", "delete-comment-error", "delete-comment-heading",
    "delete-post-button", "delete-post-cancel", "delete-post-confirm",
    "delete-post-dialog", "delete-post-error", "delete-post-heading", "edit-post-link",
    "editor", "editor-comments", "editor-comments-field", "editor-content",
    "editor-dates", "editor-error", "editor-heading", "editor-image-button",
    "editor-image-error", "editor-image-file", "editor-image-progress",
    "editor-image-status", "editor-loading", "editor-login", "editor-markdown-hint",
    "editor-preview", "editor-preview-error", "editor-preview-heading",
    "editor-preview-pane", "editor-publish", "editor-publish-at", "editor-restored",
    "editor-restored-discard", "editor-restored-text", "editor-save-draft",
    "editor-save-status", "editor-schedule", "editor-schedule-field", "editor-slug",
    "editor-slug-field", "editor-slug-hint", "editor-slug-prefix", "editor-status",
    "editor-summary", "editor-summary-hint", "editor-tab-preview", "editor-tab-write",
    "editor-tabs", "editor-tags", "editor-tags-hint", "editor-tags-suggestions",
    "editor-timezone-hint", "editor-title", "editor-unavailable", "editor-unpublish",
    "editor-update", "editor-view", "editor-write-pane", "error-card", "error-code",
    "error-heading", "error-message", "export-button", "export-error", "export-heading",
    "export-success", "forgot-email", "forgot-error", "forgot-form", "forgot-heading",
    "forgot-sent", "forgot-submit", "import-error", "import-file", "import-form",
    "import-heading", "import-hint", "import-publish", "import-publish-hint",
    "import-result", "import-skipped", "import-submit", "import-summary", "login-email",
    "login-error", "login-form", "login-heading", "login-password", "login-submit",
    "logout-button", "mail-error", "mail-form", "mail-heading", "mail-submit",
    "mail-success", "main", "mfa-code", "mfa-code-label", "mfa-error", "mfa-form",
    "mfa-heading", "mfa-hint", "mfa-provider-note", "mfa-submit", "mfa-switch",
    "my-posts-empty", "my-posts-error", "my-posts-list", "my-posts-loading",
    "my-posts-more", "my-posts-pager", "nav-admin", "nav-avatar", "nav-guest",
    "nav-login", "nav-menu-button", "nav-my-posts", "nav-register", "nav-user",
    "nav-username", "nav-username-text", "new-password", "new-post-button",
    "oidc-sign-in", "passkey-button", "passkey-error", "passkey-sign-in",
    "passkeys-empty", "passkeys-error", "passkeys-heading", "passkeys-list",
    "passkeys-loading", "passkeys-success", "passkeys-unsupported", "password-error",
    "password-form", "password-form-username", "password-heading", "password-submit",
    "password-success", "picture-current", "picture-error", "picture-file",
    "picture-form", "picture-heading", "picture-hint", "picture-preview",
    "picture-remove", "picture-submit", "picture-success", "post", "post-actions",
    "post-content", "post-list", "post-nav", "post-title", "profile-bio",
    "profile-bio-hint", "profile-email", "profile-error", "profile-form",
    "profile-heading", "profile-submit", "profile-success", "profile-username",
    "profile-website", "profile-website-hint", "register-confirm", "register-email",
    "register-error", "register-form", "register-heading", "register-password",
    "register-password-hint", "register-submit", "register-username",
    "remove-passkey-cancel", "remove-passkey-confirm", "remove-passkey-dialog",
    "remove-passkey-error", "remove-passkey-heading", "rename-passkey-cancel",
    "rename-passkey-dialog", "rename-passkey-error", "rename-passkey-form",
    "rename-passkey-heading", "rename-passkey-name", "rename-passkey-submit",
    "report-comment-cancel", "report-comment-dialog", "report-comment-error",
    "report-comment-form", "report-comment-heading", "report-comment-reason",
    "report-comment-submit", "reset-again", "reset-confirm", "reset-done", "reset-error",
    "reset-form", "reset-heading", "reset-password", "reset-password-hint",
    "reset-submit", "revoke-token-cancel", "revoke-token-confirm", "revoke-token-dialog",
    "revoke-token-error", "revoke-token-heading", "search-help", "search-page-input",
    "security-empty", "security-error", "security-heading", "security-list",
    "security-loading", "security-more", "security-pager", "sessions-cap",
    "sessions-end-others", "sessions-error", "sessions-heading", "sessions-list",
    "sessions-loading", "sessions-success", "sign-in-methods", "sign-in-methods-empty",
    "sign-in-methods-error", "sign-in-methods-heading", "sign-in-methods-link",
    "sign-in-methods-list", "sign-in-methods-loading", "sign-in-methods-no-password",
    "sign-in-methods-success", "site-search", "site-search-input", "tag-header",
    "tag-name", "theme-toggle", "token-copy", "token-expiry", "token-form",
    "token-form-error", "token-name", "token-scope-comments-write",
    "token-scope-posts-read", "token-scope-posts-write", "token-secret",
    "token-secret-box", "token-submit", "tokens-empty", "tokens-error", "tokens-heading",
    "tokens-list", "tokens-loading", "tokens-success", "totp-code", "totp-code-hint",
    "totp-codes", "totp-codes-copy", "totp-codes-done", "totp-codes-download",
    "totp-codes-list", "totp-enrol-cancel", "totp-enrol-error", "totp-enrol-form",
    "totp-enrol-submit", "totp-error", "totp-heading", "totp-off-actions",
    "totp-off-button", "totp-off-cancel", "totp-off-confirm", "totp-off-dialog",
    "totp-off-error", "totp-off-heading", "totp-on-actions", "totp-qr", "totp-replace",
    "totp-secret", "totp-section", "totp-start", "totp-status", "totp-success",
    "user-header", "user-name", "verify-error", "verify-heading", "verify-next",
    "verify-notice", "verify-notice-email", "verify-notice-error",
    "verify-notice-resend", "verify-notice-sent", "verify-status",
})  # fmt: skip
# The footnotes' own ids (mdit-py-plugins: fn1, fnref1, fnref1:2).
_FOOTNOTE_ID = re.compile(r"fn(?:ref)?[0-9]+(?::[0-9]+)?")
# The post page's comments (templates/_comments.html, static/js/comments.js): `#comment-42`
# links to one, and its reply and edit fields are numbered after it.
_COMMENT_ID = re.compile(r"(?:comment|reply-content|edit-content)-[0-9]+(?:-error)?")
_DASHES = re.compile(r"-{2,}")

_parser = (
    MarkdownIt("commonmark", {"html": False, "linkify": True})
    .enable(["table", "strikethrough", "linkify"])
    # Each item's text wrapped in a <label> with its checkbox: the box gets a name.
    .use(tasklists_plugin, enabled=False, label=True)
    .use(footnote_plugin)
)


def _image(
    renderer: RendererHTML,
    tokens: Sequence[Token],
    index: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    """An image uploaded to this site is shown; any other, its alt text (see the module's
    docstring)."""
    token = tokens[index]
    alt = escapeHtml(renderer.renderInlineAsText(token.children or [], options, env))
    match = _MEDIA_SRC.fullmatch(str(token.attrGet("src") or ""))
    size = env["images"].get(match.group(1)) if match else None
    if match is None or size is None:
        return alt
    width, height = size
    return (
        f'<img src="{MEDIA_IMAGES_PATH}/{match.group(1)}" alt="{alt}" width="{width}" '
        f'height="{height}" loading="lazy" decoding="async">'
    )


def _fence(
    renderer: RendererHTML,
    tokens: Sequence[Token],
    index: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    """Fenced code, coloured when its fence names a language Pygments knows."""
    token = tokens[index]
    spans = highlight(token.content, language_of(unescapeAll(token.info)))
    if spans is None:
        return _code_block(renderer, tokens, index, options, env)
    return f'<pre class="highlight" tabindex="0"><code>{spans}</code></pre>\n'


def _code_block(
    renderer: RendererHTML,
    tokens: Sequence[Token],
    index: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    """Code shown as it is. A block too wide for the screen scrolls inside itself, so it
    is focusable (tabindex="0"): a keyboard can scroll it too."""
    return f'<pre tabindex="0"><code>{escapeHtml(tokens[index].content)}</code></pre>\n'


_parser.add_render_rule("image", _image)
_parser.add_render_rule("fence", _fence)
_parser.add_render_rule("code_block", _code_block)

_ALLOWED_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
    "span", "img", "input", "label", "sup", "section",
}  # fmt: skip


def _only_media_images(tag: str, attribute: str, value: str) -> str | None:
    """An <img> loads from /media/images/ or not at all, whatever got past the parser."""
    if tag == "img" and attribute == "src" and not _MEDIA_SRC.fullmatch(value):
        return None
    return value


_cleaner = nh3.Cleaner(
    tags=_ALLOWED_TAGS,
    # Dropped with everything inside them, should they ever get past the parser.
    clean_content_tags={"script", "style"},
    attributes={
        "a": {"href", "title", "id"},
        "ol": {"start"},
        "li": {"id"},
        "img": {"src", "alt", "width", "height"},
        **{f"h{level}": {"id"} for level in range(2, _TOP_HEADING + 1)},
    },
    # Attributes allowed with these values only: an <input> is a disabled checkbox.
    tag_attribute_values={
        "input": {"type": {"checkbox"}, "disabled": {"", "disabled"}, "checked": {"", "checked"}},
        "img": {"loading": {"lazy"}, "decoding": {"async"}},
        "pre": {"tabindex": {"0"}},
    },
    set_tag_attribute_values={"input": {"type": "checkbox", "disabled": "disabled"}},
    attribute_filter=_only_media_images,
    allowed_classes={
        "th": set(_ALIGNMENTS.values()),
        "td": set(_ALIGNMENTS.values()),
        "pre": {"highlight"},
        "span": set(TOKEN_CLASSES),
        "ul": {"contains-task-list"},
        "li": {"task-list-item", "footnote-item"},
        "hr": {"footnotes-sep"},
        "section": {"footnotes"},
        "ol": {"footnotes-list"},
        "sup": {"footnote-ref"},
        "a": {"footnote-backref"},
    },
    url_schemes={"http", "https", "mailto"},
    link_rel="nofollow noopener",
    strip_comments=True,
)


def _inline_text(token: Token) -> str:
    """The text of an inline token as a reader sees it (an image's: its alt text)."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.children:
            parts.append(_inline_text(child))
    return "".join(parts)


def heading_slug(text: str) -> str:
    """`Getting started!` -> `getting-started`: lower case, letters, marks and digits of
    any script kept, spaces as hyphens, everything else dropped; never empty."""
    kept: list[str] = []
    for char in unicodedata.normalize("NFC", text).lower():
        category = unicodedata.category(char)
        if category[0] in "LMN" or char in "-_":
            kept.append(char)
        elif category[0] == "Z" or char.isspace():
            kept.append("-")
    return _DASHES.sub("-", "".join(kept)).strip("-") or "section"


def _is_free(candidate: str, used: set[str]) -> bool:
    return (
        candidate not in used
        and candidate not in RESERVED_IDS
        and not _FOOTNOTE_ID.fullmatch(candidate)
        and not _COMMENT_ID.fullmatch(candidate)
    )


def _adjust(tokens: list[Token]) -> None:
    """Headings one level down with ids, table alignment as a class (see the module's
    docstring)."""
    used: set[str] = set()
    for index, token in enumerate(tokens):
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, _TOP_HEADING)}"
        if token.type == "heading_open":
            slug = heading_slug(_inline_text(tokens[index + 1]))
            candidate, repeat = slug, 0
            while not _is_free(candidate, used):
                repeat += 1
                candidate = f"{slug}-{repeat}"
            used.add(candidate)
            token.attrSet("id", candidate)
        elif token.type in ("th_open", "td_open"):
            style = token.attrs.pop("style", None)
            if isinstance(style, str) and style in _ALIGNMENTS:
                token.attrSet("class", _ALIGNMENTS[style])


# Renders kept: enough for the render made off the loop to be found on assignment.
RENDER_CACHE = 32
# Renders waiting or running per process before further ones answer 503.
RENDER_QUEUE = 16
RENDER_RETRY_AFTER = 1
# How much lower than the event loop the render thread runs (Unix nice levels).
RENDER_NICENESS = 10


def render_html(source: str, images: ImageSizes = ()) -> str:
    """The post's Markdown as HTML that is safe to put in a page as it is; `images` are
    the uploaded images it may show, with their sizes (others stay alt text)."""
    # One cache key however it is called (lru_cache tells f(s) from f(s, ()) apart).
    return _render_cached(source, images)


@lru_cache(maxsize=RENDER_CACHE)
def _render_cached(source: str, images: ImageSizes) -> str:
    env: EnvType = {"images": {name: (width, height) for name, width, height in images}}
    tokens = _parser.parse(source, env)
    _adjust(tokens)
    return _cleaner.clean(_parser.renderer.render(tokens, _parser.options, env))


# Comments: a subset of Markdown, the same parser and sanitiser with less allowed.
# Emphasis, strikethrough, inline and fenced code (coloured as in posts), links (bare
# ones too), lists and quotes. A heading stays the text it was typed as ("# Title"),
# an image is its alt text, tables and raw HTML are text; links carry `ugc`: they are
# a visitor's, not the author's or the blog's.
_comment_parser = (
    MarkdownIt("commonmark", {"html": False, "linkify": True})
    .enable(["strikethrough", "linkify"])
    .disable(["heading", "lheading"])
)
_comment_parser.add_render_rule("image", _image)
_comment_parser.add_render_rule("fence", _fence)
_comment_parser.add_render_rule("code_block", _code_block)

_COMMENT_TAGS = {
    "p", "br", "hr", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "a", "span",
}  # fmt: skip
_comment_cleaner = nh3.Cleaner(
    tags=_COMMENT_TAGS,
    clean_content_tags={"script", "style"},
    attributes={"a": {"href", "title"}, "ol": {"start"}},
    tag_attribute_values={"pre": {"tabindex": {"0"}}},
    allowed_classes={"pre": {"highlight"}, "span": set(TOKEN_CLASSES)},
    url_schemes={"http", "https", "mailto"},
    link_rel="nofollow ugc noopener",
    strip_comments=True,
)


@lru_cache(maxsize=RENDER_CACHE)
def render_comment_html(source: str) -> str:
    """A comment's Markdown subset as HTML safe to put in a page as it is."""
    # No uploaded image is shown in a comment: every image is its alt text.
    tokens = _comment_parser.parse(source, {"images": {}})
    return _comment_cleaner.clean(
        _comment_parser.renderer.render(tokens, _comment_parser.options, {"images": {}})
    )


def media_names(source: str) -> frozenset[str]:
    """The uploaded images the source mentions (`/media/images/<64 hex>.webp` anywhere in
    it, links and code included: a superset of those it shows)."""
    return frozenset(_MEDIA_SRC.findall(source))


def _lower_priority() -> None:
    with contextlib.suppress(AttributeError, OSError):  # per-thread nice is Linux's
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RENDER_NICENESS)


# One thread: renders are pure Python, so more threads would only share the GIL.
_render_pool = ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="markdown", initializer=_lower_priority
)
_render_slots = threading.BoundedSemaphore(RENDER_QUEUE)


async def render_off_loop(source: str, images: ImageSizes = ()) -> str:
    """`render_html` in the render thread, so a slow source never stalls other requests;
    503 with Retry-After when RENDER_QUEUE renders are already waiting."""
    return await _off_loop(render_html, source, images)


async def render_comment_off_loop(source: str) -> str:
    """`render_comment_html` in the same thread, within the same queue."""
    return await _off_loop(render_comment_html, source)


async def _off_loop(render: Callable[..., str], *arguments: object) -> str:
    if not _render_slots.acquire(blocking=False):
        raise DomainError(
            503,
            "rendering_busy",
            "Too many posts are being rendered; please try again shortly",
            headers={"Retry-After": str(RENDER_RETRY_AFTER)},
        )
    try:
        return await asyncio.get_running_loop().run_in_executor(_render_pool, render, *arguments)
    finally:
        _render_slots.release()


_BLOCK_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "li",
    "tr", "th", "td", "section", "label",
}  # fmt: skip
# What is not prose, left out of excerpts: code, tables, footnotes (their list and
# the numbers that point to it). A checkbox and a list's markers have no text anyway.
_NOT_PROSE = frozenset({"pre", "table", "section", "sup"})
_VOID_TAGS = frozenset({"br", "hr", "img", "input"})
_SPACES = re.compile(r"\s+")


class _TextCollector(HTMLParser):
    """The text of an HTML fragment, with a space where one block ends and another
    begins; with `prose_only`, without what _NOT_PROSE lists."""

    def __init__(self, *, prose_only: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.prose_only = prose_only
        # How deep inside a left-out element the parser is (the HTML is nh3's: well formed).
        self.skipping = 0
        # Whether any text was left out (then the excerpt is not the whole post).
        self.left_out = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skipping:
            self.skipping += tag not in _VOID_TAGS
        elif self.prose_only and tag in _NOT_PROSE:
            self.skipping = 1
            self.parts.append(" ")
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if self.skipping:
            self.skipping -= 1
        elif tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)
        elif not data.isspace():
            self.left_out = True


def _text(html: str, *, prose_only: bool) -> tuple[str, bool]:
    collector = _TextCollector(prose_only=prose_only)
    collector.feed(html)
    collector.close()
    return _SPACES.sub(" ", "".join(collector.parts)).strip(), collector.left_out


def plain_text(html: str) -> str:
    """The words a reader sees in rendered HTML: no tags, no Markdown, one space apart."""
    return _text(html, prose_only=False)[0]


def prose_text(html: str) -> str:
    """plain_text without code blocks, tables and footnotes: what an excerpt is made of."""
    return _text(html, prose_only=True)[0]


def reading_minutes(html: str) -> int:
    """Minutes to read the post: its words (everything a reader sees, code and tables
    included, split at white space) at WORDS_PER_MINUTE, rounded up; at least 1."""
    return max(1, math.ceil(len(plain_text(html).split()) / WORDS_PER_MINUTE))


class Excerpt(NamedTuple):
    text: str
    # Whether the post says more than `text` does (then cards link "Read more").
    cut: bool


def excerpt(html: str, length: int = EXCERPT_LENGTH) -> Excerpt:
    """About `length` characters of the post's prose (no code, tables or footnotes), cut
    at a word boundary with "…"; `cut` also when something other than prose was left
    out."""
    text, left_out = _text(html, prose_only=True)
    if len(text) <= length:
        return Excerpt(text, left_out)
    head = text[: length + 1]
    space = head.rfind(" ")
    # A single word longer than the whole excerpt is cut where it must be.
    head = head[:space] if space > 0 else text[:length]
    return Excerpt(head.rstrip(_TRAILING) + ELLIPSIS, True)
