"""Post content: Markdown source in, safe HTML out, and a plain-text excerpt of it.

Two independent locks keep a post from carrying script into a page:

1. markdown-it-py parses with raw HTML switched off, so `<script>` in a post is text,
   and its link check already refuses `javascript:`, `vbscript:`, `file:` and `data:`;
2. nh3 (the Rust crate ammonia) then cleans the result against an allow-list of tags
   and attributes: no event or style attributes, only http(s), mailto and relative
   links, and every link gets `rel="nofollow noopener"` (a post's links are its
   author's, not the blog's endorsement, and a new tab never gets `window.opener`).

Images are not rendered: the page's Content-Security-Policy allows images from this
site only, so a remote one would show broken, and loading it would tell a third party
who reads the post. `![alt](src)` shows its alt text instead.

Headings move one level down (`#` becomes `<h2>`), so the post's title stays the
page's only `<h1>`.

Rendering takes time linear in the source, but with a large constant for some inputs
(about 20 µs a character for `"!["` repeated: 0.3-0.5 s for the longest post), so
requests render in one dedicated thread, never on the event loop (`render_off_loop`),
with at most RENDER_QUEUE renders waiting per process (503 beyond that). The last
few results are kept, so the post's own render on assignment (models.Post) finds the
one just made instead of repeating it on the loop.
"""

import asyncio
import contextlib
import os
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from html.parser import HTMLParser
from typing import NamedTuple

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from errors.domain import DomainError

EXCERPT_LENGTH = 300
ELLIPSIS = "…"
# Punctuation left dangling before the ellipsis is dropped (hyphen, en and em dash too).
_TRAILING = " ,.;:!?-\u2013\u2014"
_TOP_HEADING = 6
# Column alignment in tables: markdown-it writes a style attribute, which is not
# allowed; a class says the same (main.css styles it).
_ALIGNMENTS = {f"text-align:{side}": f"align-{side}" for side in ("left", "center", "right")}

_parser = MarkdownIt("commonmark", {"html": False, "linkify": True}).enable(
    ["table", "strikethrough", "linkify"]
)


def _image_as_alt_text(
    renderer: RendererHTML,
    tokens: Sequence[Token],
    index: int,
    options: OptionsDict,
    env: EnvType,
) -> str:
    """An image is shown as its alt text (see the module's docstring)."""
    return escapeHtml(renderer.renderInlineAsText(tokens[index].children or [], options, env))


_parser.add_render_rule("image", _image_as_alt_text)

_ALLOWED_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_cleaner = nh3.Cleaner(
    tags=_ALLOWED_TAGS,
    # Dropped with everything inside them, should they ever get past the parser.
    clean_content_tags={"script", "style"},
    attributes={"a": {"href", "title"}, "ol": {"start"}},
    allowed_classes={tag: set(_ALIGNMENTS.values()) for tag in ("th", "td")},
    url_schemes={"http", "https", "mailto"},
    link_rel="nofollow noopener",
    strip_comments=True,
)


def _adjust(tokens: list[Token]) -> None:
    """Headings one level down, table alignment as a class (see the module's docstring)."""
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + 1, _TOP_HEADING)}"
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


@lru_cache(maxsize=RENDER_CACHE)
def render_html(source: str) -> str:
    """The post's Markdown as HTML that is safe to put in a page as it is."""
    tokens = _parser.parse(source)
    _adjust(tokens)
    return _cleaner.clean(_parser.renderer.render(tokens, _parser.options, {}))


def _lower_priority() -> None:
    with contextlib.suppress(AttributeError, OSError):  # per-thread nice is Linux's
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), RENDER_NICENESS)


# One thread: renders are pure Python, so more threads would only share the GIL.
_render_pool = ThreadPoolExecutor(
    max_workers=1, thread_name_prefix="markdown", initializer=_lower_priority
)
_render_slots = threading.BoundedSemaphore(RENDER_QUEUE)


ImageSizes = tuple[tuple[str, int, int], ...]


def media_names(source: str) -> frozenset[str]:
    """Placeholder until the images slice lands: the names of uploaded images referenced."""
    return frozenset(re.findall(r"/media/images/([0-9a-f]{64}\.webp)", source))


async def render_off_loop(source: str, images: ImageSizes = ()) -> str:
    """`render_html` in the render thread, so a slow source never stalls other requests;
    503 with Retry-After when RENDER_QUEUE renders are already waiting."""
    if not _render_slots.acquire(blocking=False):
        raise DomainError(
            503,
            "rendering_busy",
            "Too many posts are being rendered; please try again shortly",
            headers={"Retry-After": str(RENDER_RETRY_AFTER)},
        )
    try:
        return await asyncio.get_running_loop().run_in_executor(_render_pool, render_html, source)
    finally:
        _render_slots.release()


_BLOCK_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "pre", "blockquote", "li",
    "tr", "th", "td",
}  # fmt: skip
_SPACES = re.compile(r"\s+")


class _TextCollector(HTMLParser):
    """The text of an HTML fragment, with a space where one block ends and another begins."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def plain_text(html: str) -> str:
    """The words a reader sees in rendered HTML: no tags, no Markdown, one space apart."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return _SPACES.sub(" ", "".join(collector.parts)).strip()


class Excerpt(NamedTuple):
    text: str
    # Whether the post says more than `text` does (then cards link "Read more").
    cut: bool


def excerpt(html: str, length: int = EXCERPT_LENGTH) -> Excerpt:
    """About `length` characters of the post's text, cut at a word boundary with "…"."""
    text = plain_text(html)
    if len(text) <= length:
        return Excerpt(text, False)
    head = text[: length + 1]
    space = head.rfind(" ")
    # A single word longer than the whole excerpt is cut where it must be.
    head = head[:space] if space > 0 else text[:length]
    return Excerpt(head.rstrip(_TRAILING) + ELLIPSIS, True)


WORDS_PER_MINUTE = 230


def reading_minutes(html: str) -> int:
    """Minutes to read the post at an adult's silent reading pace, at least 1."""
    words = len(plain_text(html).split())
    return max(1, -(-words // WORDS_PER_MINUTE))
