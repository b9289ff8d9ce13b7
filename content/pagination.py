"""Posts a page at a time, newest first, resumed from an opaque cursor (keyset pagination).

A cursor names the (date_posted, id) of the last post a reader has seen; the next
page is the posts strictly older than it. Unlike an offset, that position does not
move when posts are written between two page loads (no post is shown twice or
skipped), and the database reaches it through an index
(`ix_posts_status_date_posted_id`, or `ix_posts_user_id_status_date_posted_id` for one
author; published posts only),
so page 500 costs what page 1 does.

Cursors are signed: one that was cut, edited or invented is refused with 400 rather
than quietly answered with some other page.
"""

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, NamedTuple

from fastapi import Depends, Query, status
from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from config import get_settings
from content.visibility import on_site, published
from errors.domain import DomainError
from models import MAX_ID, Post, PostTag

LIMIT_DEFAULT = 10
LIMIT_MAX = 100
# A real cursor is about 40 characters; anything much longer is not one of ours.
CURSOR_MAX_LENGTH = 100
_SIGNATURE_BYTES = 12
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@cache
def _key_for(secret: str) -> bytes:
    return hashlib.sha256(b"inkwell page cursor\0" + secret.encode()).digest()


def _cursor_key() -> bytes:
    """Its own key, derived from SECRET_KEY: a cursor can never pass for a token or back."""
    return _key_for(get_settings().secret_key.get_secret_value())


BAD_CURSOR = (
    "Invalid cursor: use the next_cursor of a previous page exactly as given, "
    "or leave it out for the first page"
)


class Position(NamedTuple):
    """Where a page ended: its last post's date and id."""

    date_posted: datetime
    id: int


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(payload: bytes) -> bytes:
    return hmac.new(_cursor_key(), payload, hashlib.sha256).digest()[:_SIGNATURE_BYTES]


def sign_payload(payload: bytes) -> str:
    """`payload` and its signature, as a cursor (search's cursors are made with it too)."""
    return f"{_b64encode(payload)}.{_b64encode(_sign(payload))}"


def signed_payload(cursor: str) -> bytes:
    """What `sign_payload` signed; ValueError if this server did not make `cursor`."""
    if len(cursor) > CURSOR_MAX_LENGTH:
        raise ValueError("too long")
    try:
        encoded, signature = cursor.split(".")
        payload = _b64decode(encoded)
        valid = hmac.compare_digest(_b64decode(signature), _sign(payload))
    except (ValueError, binascii.Error):
        raise ValueError("malformed") from None
    if not valid:
        raise ValueError("bad signature")
    return payload


def encode_cursor(position: Position) -> str:
    # Whole microseconds since the epoch: exact, whatever the database's date format.
    micros = (position.date_posted - _EPOCH) // _MICROSECOND
    return sign_payload(f"{micros}.{position.id}".encode())


def decode_cursor(cursor: str) -> Position:
    """The position a cursor names; ValueError if it is not one this server made."""
    payload = signed_payload(cursor)
    micros, post_id = (int(part) for part in payload.decode().split("."))
    if not 1 <= post_id <= MAX_ID:
        raise ValueError("id out of range")
    return Position(_EPOCH + micros * _MICROSECOND, post_id)


def encode_id_cursor(kind: str, last_id: int) -> str:
    """A cursor of a list walked by id alone (the admin's lists), named for its list so
    that one list's cursor is refused by another."""
    return sign_payload(f"{kind}:{last_id}".encode())


def decode_id_cursor(kind: str, cursor: str) -> int:
    """The id an `encode_id_cursor` of `kind` names; ValueError if it is not one."""
    found_kind, _, number = signed_payload(cursor).decode().partition(":")
    if found_kind != kind or not number.isdigit():
        raise ValueError("not a cursor of this list")
    last_id = int(number)
    if not 1 <= last_id <= MAX_ID:
        raise ValueError("id out of range")
    return last_id


# The `cursor` of a list walked by id (id_cursor_position reads it).
IdCursor = Annotated[str | None, Query(description="`next_cursor` from the previous page")]


def id_cursor_position(kind: str, cursor: str | None) -> int | None:
    """Where a list walked by id resumes: None for its first page, 400
    `invalid_cursor` for a cursor that is not one of this list's."""
    if cursor is None:
        return None
    try:
        return decode_id_cursor(kind, cursor)
    except (ValueError, OverflowError):
        raise DomainError(status.HTTP_400_BAD_REQUEST, "invalid_cursor", BAD_CURSOR) from None


async def cursor_param(
    cursor: Annotated[
        str | None,
        Query(description="`next_cursor` from the previous page; leave out for the newest posts"),
    ] = None,
) -> Position | None:
    # async, though it never awaits: FastAPI runs a plain `def` dependency in its
    # thread pool, a hop that cost listings half their throughput under load.
    if cursor is None:
        return None
    try:
        return decode_cursor(cursor)
    except (ValueError, OverflowError):
        raise DomainError(status.HTTP_400_BAD_REQUEST, "invalid_cursor", BAD_CURSOR) from None


# Where the previous page ended (None for the first page); a bad cursor is a 400.
After = Annotated[Position | None, Depends(cursor_param)]
Limit = Annotated[int, Query(ge=1, le=LIMIT_MAX, description="Posts per page")]


class PageOfPosts(NamedTuple):
    posts: list[Post]
    next_cursor: str | None


def newest_posts(
    after: Position | None = None,
    user_id: int | None = None,
    tag: str | None = None,
    *,
    suspended_too: bool = False,
) -> Select[Post]:
    """Posts on the site newest first (ties broken by id), each with its author in the
    same query (and its tags in one more for the whole page): all of them, one
    author's, one tag's, and/or only those older than `after`. `suspended_too` (an
    admin's view) keeps the posts of suspended authors."""
    query = select(Post).options(joinedload(Post.author))
    query = query.where(published() if suspended_too else on_site())
    if user_id is not None:
        query = query.where(Post.user_id == user_id)
    if tag is not None:
        # One tag's rows of its own index, newest first (PostTag.date_posted is the
        # post's, kept by the database): the same cost for any tag at any depth.
        query = query.join(PostTag, PostTag.post_id == Post.id).where(PostTag.tag == tag)
        if after is not None:
            query = query.where(tuple_(PostTag.date_posted, PostTag.post_id) < tuple(after))
        return query.order_by(PostTag.date_posted.desc(), PostTag.post_id.desc())
    if after is not None:
        query = query.where(tuple_(Post.date_posted, Post.id) < tuple(after))
    return query.order_by(Post.date_posted.desc(), Post.id.desc())


def own_posts(user_id: int, status: str | None, after: Position | None = None) -> Select[Post]:
    """An author's posts of every status (or of `status`), the last changed first."""
    query = select(Post).options(joinedload(Post.author)).where(Post.user_id == user_id)
    if status is not None:
        query = query.where(Post.status == status)
    if after is not None:
        query = query.where(tuple_(Post.changed_at, Post.id) < tuple(after))
    return query.order_by(Post.changed_at.desc(), Post.id.desc())


def by_publication(post: Post) -> Position:
    assert post.date_posted is not None  # published posts always have a date
    return Position(post.date_posted, post.id)


def by_change(post: Post) -> Position:
    return Position(post.changed_at, post.id)


async def page_of(
    session: AsyncSession, query: Select[Post], limit: int, position: Callable[[Post], Position]
) -> PageOfPosts:
    """`limit` posts of `query` and the cursor of the next page if there is one (one more
    row is read to know, so the last page never links to an empty one); `position` says
    where a post stands in the query's order."""
    rows = list(await session.scalars(query.limit(limit + 1)))
    if len(rows) <= limit:
        return PageOfPosts(rows, None)
    return PageOfPosts(rows[:limit], encode_cursor(position(rows[limit - 1])))


async def page_of_posts(
    session: AsyncSession,
    after: Position | None,
    limit: int,
    user_id: int | None = None,
    tag: str | None = None,
    *,
    suspended_too: bool = False,
) -> PageOfPosts:
    """A page of posts on the site, all, one author's or one tag's."""
    query = newest_posts(after, user_id, tag, suspended_too=suspended_too)
    return await page_of(session, query, limit, by_publication)
