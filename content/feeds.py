"""Atom 1.0 feeds (RFC 4287): posts in, the feed's bytes out.

The XML is built with ElementTree, which escapes every text and attribute, so no
title or post can break out of its element. Feed readers need absolute links, so
every link starts from `site_url`: the configured PUBLIC_URL, or the request's own.
"""

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, SubElement, tostring

from models import Post, User

ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"
SITE_TITLE = "Inkwell"
# Entries per feed: the newest posts only; readers keep what they saw before.
FEED_SIZE = 20
# `updated` of a feed without entries: a fixed date, so an empty feed is the same
# bytes every time and its cached copy and ETag stay valid.
EMPTY_FEED_UPDATED = datetime(1970, 1, 1, tzinfo=UTC)
# Characters XML 1.0 cannot carry at all (posts may hold U+FFFE, U+FFFF, and rows
# written by hand anything): replaced rather than let them make the feed unreadable.
NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    """Text as an XML parser will hand it back: parsers turn CR LF and lone CR into
    LF, so say so here, and characters XML forbids become U+FFFD."""
    return NOT_XML_CHAR.sub("\ufffd", value.replace("\r\n", "\n").replace("\r", "\n"))


def rfc3339(moment: datetime) -> str:
    """`2026-12-03T11:40:00Z`: UTC, to the second (models give aware UTC datetimes;
    a naive one is taken as UTC, as SQLite would store it)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def post_url(site_url: str, post: Post) -> str:
    return f"{site_url}{post.url}"


def entry_id(site_url: str, post: Post) -> str:
    """An entry's id must never change (RFC 4287, 4.2.6), and slugs may: the address
    without the slug, which ids never reused keep unique (it redirects to the post)."""
    return f"{site_url}/posts/{post.id}"


def published(post: Post) -> datetime:
    assert post.date_posted is not None  # feeds hold published posts only
    return post.date_posted


def last_updated(post: Post) -> datetime:
    return post.updated_at or published(post)


def author_url(site_url: str, user: User) -> str:
    return f"{site_url}/users/{user.id}/posts"


def _add(parent: Element, tag: str, text: str | None = None, **attributes: str) -> Element:
    element = SubElement(parent, tag, attributes)
    if text is not None:
        element.text = xml_text(text)
    return element


def _add_person(parent: Element, site_url: str, user: User) -> None:
    person = _add(parent, "author")
    _add(person, "name", user.username)
    _add(person, "uri", author_url(site_url, user))


def _add_entry(feed: Element, site_url: str, post: Post) -> None:
    entry = _add(feed, "entry")
    link = post_url(site_url, post)
    _add(entry, "id", entry_id(site_url, post))
    _add(entry, "title", post.title, type="text")
    _add(entry, "link", rel="alternate", type="text/html", href=link)
    _add(entry, "published", rfc3339(published(post)))
    _add(entry, "updated", rfc3339(last_updated(post)))
    _add_person(entry, site_url, post.author)
    for tag in post.tags:
        _add(entry, "category", term=tag, scheme=f"{site_url}/tags/", label=tag)
    # The sanitised HTML the post page shows (content/markdown_render.py), escaped once more
    # by ElementTree as Atom's type="html" requires.
    # Relative links in a post resolve against the post's own address.
    _add(entry, "content", post.content_html, type="html", **{XML_BASE: link})


def atom_feed(
    *,
    site_url: str,
    feed_path: str,
    page_path: str,
    posts: Sequence[Post],
    author: User | None = None,
    title: str | None = None,
) -> bytes:
    """The feed at `site_url + feed_path` of `posts` (newest first, authors loaded),
    whose HTML page is `page_path`; an author's feed names its `author`, and a feed of
    some of the posts (a tag's) says which in its `title`."""
    feed_url = f"{site_url}{feed_path}"
    if author is not None:
        title = f"Posts by {author.username}"
    title = SITE_TITLE if title is None else f"{title} · {SITE_TITLE}"
    updated = max((last_updated(post) for post in posts), default=EMPTY_FEED_UPDATED)

    # Plain names under a default namespace: ElementTree's own `default_namespace`
    # refuses unprefixed attributes, which Atom's are.
    feed = Element("feed", xmlns=ATOM_NS)
    _add(feed, "id", feed_url)
    _add(feed, "title", title, type="text")
    _add(feed, "updated", rfc3339(updated))
    _add(feed, "link", rel="self", type=MEDIA_TYPE, href=feed_url)
    _add(feed, "link", rel="alternate", type="text/html", href=f"{site_url}{page_path}")
    if author is not None:
        _add_person(feed, site_url, author)
    _add(feed, "generator", SITE_TITLE)
    for post in posts:
        _add_entry(feed, site_url, post)
    document: bytes = tostring(feed, encoding="utf-8", xml_declaration=True)
    return document
