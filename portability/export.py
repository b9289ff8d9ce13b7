"""An account's data as a zip, written as it is sent (README, "Export format").

The archive is built by the standard library's `zipfile` writing to a sink that cannot
seek: each entry's sizes and CRC then follow its data (a data descriptor), so nothing is
ever rewritten and every byte can leave as soon as it is made. The database is read a
page at a time (keyset pagination on ids), each page in a short session of its own so
a slow download holds no connection between pages, and images one at a time: what sits
in memory is one page of rows, one image and the compressor's window, whatever the
size of the account.

Layout: `account.json` (profile, settings, sign-in methods without any secret, the
security log), `posts/<YYYY-MM-DD>-<slug>.md` (every post, drafts and scheduled ones
included, with front matter: portability/front_matter.py), `media/<name>` (the uploaded
images those posts show, the Markdown pointing at `../media/<name>`), `comments.json`
(the account's own comments).
"""

import json
import re
import zipfile
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config import get_settings
from content.markdown_render import MEDIA_IMAGES_PATH
from models import (
    Comment,
    MediaImage,
    OIDCIdentity,
    Passkey,
    Post,
    PostImage,
    PostTag,
    SecurityEvent,
    User,
)
from portability import front_matter

FORMAT = "inkwell-export"
FORMAT_VERSION = 1
# Rows read per query: posts (with their tags and images), comments, security events.
PAGE_SIZE = 100
# Bytes gathered before they are handed on: fewer, larger writes to the network.
CHUNK_BYTES = 64 * 1024
POSTS_DIR = "posts"
MEDIA_DIR = "media"
# An uploaded image's name (images/media.py) where a post's Markdown shows it: the
# site's path, not part of a longer URL or path (another site's /media/images/ stays).
_MEDIA_NAME = r"[0-9a-f]{64}\.webp"
_MEDIA_URL = re.compile(r"(?<![\w./:-])" + re.escape(MEDIA_IMAGES_PATH) + "/(" + _MEDIA_NAME + ")")
# What may stand in an entry's file name beside the date: a slug's letters, digits and
# hyphens (content/slugs.py); anything else becomes a hyphen.
_UNSAFE_IN_NAME = re.compile(r"[^\w-]+")

Sessions = Callable[[], AsyncSession]


class _Sink:
    """Where the zip writes: no seek, no tell (zipfile then writes data descriptors).
    Holds what was written until `take` hands it on."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.size = 0

    def write(self, data: bytes, /) -> int:
        self._parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        self.size = 0
        return data


def _zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    utc = moment.astimezone(UTC)
    if utc.year < 1980:  # the zip format's epoch
        return (1980, 1, 1, 0, 0, 0)
    return (utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second)


class ZipStream:
    """A zip written entry by entry into memory that `take` empties: call it after
    each write and send what it returns."""

    def __init__(self) -> None:
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(
            self._sink,  # write() and flush() are all it needs: it never seeks
            "w",
            compression=zipfile.ZIP_DEFLATED,
            compresslevel=6,
        )

    @property
    def buffered(self) -> int:
        return self._sink.size

    def take(self) -> bytes:
        return self._sink.take()

    def _info(self, name: str, modified: datetime, *, compress: bool) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=_zip_time(modified))
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o644 << 16  # a plain file, readable
        return info

    def add(self, name: str, data: bytes, modified: datetime, *, compress: bool = True) -> None:
        """One whole entry."""
        with self._zip.open(self._info(name, modified, compress=compress), "w") as entry:
            entry.write(data)

    def open(self, name: str, modified: datetime) -> IO[bytes]:
        """An entry written in parts (close it before the next one): `take` between
        writes sends what is done."""
        return self._zip.open(self._info(name, modified, compress=True), "w")

    def close(self) -> None:
        """The central directory: the archive's end."""
        self._zip.close()


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


# --- Posts ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PostRow:
    id: int
    title: str
    content: str
    status: str
    slug: str
    summary: str | None
    date_posted: datetime | None
    updated_at: datetime | None
    changed_at: datetime

    @property
    def date(self) -> datetime:
        """The date of the front matter: the publication time (planned, for a scheduled
        post); a draft has none, and posts keep no creation time, so its last change."""
        return self.date_posted or self.changed_at

    @property
    def updated(self) -> datetime:
        """The post's last change of any kind."""
        return self.changed_at


def post_meta(post: PostRow, tags: Sequence[str]) -> dict[str, Any]:
    """The front matter of a post file, in the format's order (summary left out when
    none)."""
    return {
        "title": post.title,
        "status": post.status,
        "date": post.date,
        "updated": post.updated,
        "tags": list(tags),
        "summary": post.summary or None,
        "slug": post.slug,
    }


def point_at_archive(content: str, names: Iterable[str]) -> str:
    """The Markdown with each uploaded image in `names` at `../media/<name>`, relative
    to posts/, instead of the site's /media/images/<name>."""
    wanted = set(names)
    if not wanted:
        return content

    def relative(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"../{MEDIA_DIR}/{name}" if name in wanted else match.group(0)

    return _MEDIA_URL.sub(relative, content)


class FileNames:
    """Distinct entry names for the posts: `<date>-<slug>.md`, then `-2`, `-3`... for
    another post of the same day and slug."""

    def __init__(self) -> None:
        self._taken: set[str] = set()

    def name_for(self, post: PostRow) -> str:
        slug = _UNSAFE_IN_NAME.sub("-", post.slug).strip("-") or "post"
        stem = f"{post.date.astimezone(UTC).date().isoformat()}-{slug}"
        name, n = f"{stem}.md", 1
        while name in self._taken:
            n += 1
            name = f"{stem}-{n}.md"
        self._taken.add(name)
        return name


async def _posts_page(
    session: AsyncSession, user_id: int, after: int
) -> tuple[list[PostRow], dict[int, list[str]], dict[int, list[str]]]:
    """A page of the account's posts after id `after`, with their tags and the stored
    images each shows."""
    rows = await session.execute(
        select(
            Post.id,
            Post.title,
            Post.content,
            Post.status,
            Post.slug,
            Post.summary,
            Post.date_posted,
            Post.updated_at,
            Post.changed_at,
        )
        .where(Post.user_id == user_id, Post.id > after)
        .order_by(Post.id)
        .limit(PAGE_SIZE)
    )
    posts = [PostRow(*row) for row in rows]
    ids = [post.id for post in posts]
    tags: dict[int, list[str]] = {}
    images: dict[int, list[str]] = {}
    if ids:
        for post_id, tag in await session.execute(
            select(PostTag.post_id, PostTag.tag)
            .where(PostTag.post_id.in_(ids))
            .order_by(PostTag.post_id, PostTag.tag)
        ):
            tags.setdefault(post_id, []).append(tag)
        for post_id, name in await session.execute(
            select(PostImage.post_id, PostImage.name)
            .join(MediaImage, MediaImage.name == PostImage.name)
            .where(PostImage.post_id.in_(ids))
            .order_by(PostImage.post_id, PostImage.name)
        ):
            images.setdefault(post_id, []).append(name)
    return posts, tags, images


async def _image(sessions: Sessions, name: str) -> bytes | None:
    async with sessions() as session:
        return await session.scalar(select(MediaImage.data).where(MediaImage.name == name))


# --- account.json --------------------------------------------------------------------


def profile_of(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "email_verified": user.email_verified,
        "bio": user.bio,
        "website": user.website,
        "created_at": iso(user.created_at),
        "role": user.role,
        "picture": user.image_file,
    }


def settings_of(user: User) -> dict[str, Any]:
    return {
        "comment_mail": user.comment_mail,
        "totp_enabled": user.totp_enabled,
        "has_password": user.has_password,
    }


async def _sign_in_methods(session: AsyncSession, user_id: int) -> dict[str, Any]:
    """Passkeys and provider accounts, each capped per account (a few rows): names and
    times only, never a key, credential id or secret."""
    passkeys = await session.execute(
        select(Passkey.name, Passkey.created_at, Passkey.last_used_at)
        .where(Passkey.user_id == user_id)
        .order_by(Passkey.id)
    )
    identities = await session.execute(
        select(
            OIDCIdentity.provider,
            OIDCIdentity.subject,
            OIDCIdentity.email,
            OIDCIdentity.created_at,
            OIDCIdentity.last_used_at,
        )
        .where(OIDCIdentity.user_id == user_id)
        .order_by(OIDCIdentity.id)
    )
    return {
        "passkeys": [
            {"name": name, "created_at": iso(created), "last_used_at": iso(used)}
            for name, created, used in passkeys
        ],
        "oidc_identities": [
            {
                "provider": provider,
                "subject": subject,
                "email": email,
                "created_at": iso(created),
                "last_used_at": iso(used),
            }
            for provider, subject, email, created, used in identities
        ],
    }


async def _events_page(
    session: AsyncSession, user_id: int, after: int, oldest: datetime
) -> list[dict[str, Any]]:
    """A page of the account's security events (those still kept), oldest first."""
    rows = await session.execute(
        select(
            SecurityEvent.id,
            SecurityEvent.type,
            SecurityEvent.created_at,
            SecurityEvent.ip,
            SecurityEvent.user_agent,
            SecurityEvent.detail,
        )
        .where(
            SecurityEvent.user_id == user_id,
            SecurityEvent.id > after,
            SecurityEvent.created_at >= oldest,
        )
        .order_by(SecurityEvent.id)
        .limit(PAGE_SIZE)
    )
    return [
        {
            "id": id_,
            "type": type_,
            "created_at": iso(created),
            "ip": ip,
            "user_agent": agent,
            "detail": detail,
        }
        for id_, type_, created, ip, agent, detail in rows
    ]


# --- comments.json -------------------------------------------------------------------


async def _comments_page(session: AsyncSession, user_id: int, after: int) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(
            Comment.id,
            Comment.post_id,
            Post.title,
            Comment.parent_id,
            Comment.content,
            Comment.status,
            Comment.created_at,
            Comment.updated_at,
        )
        .join(Post, Post.id == Comment.post_id)
        .where(Comment.user_id == user_id, Comment.id > after)
        .order_by(Comment.id)
        .limit(PAGE_SIZE)
    )
    return [
        {
            "id": id_,
            "post_id": post_id,
            "post_title": title,
            "parent_id": parent_id,
            "content": content,
            "status": status,
            "created_at": iso(created),
            "updated_at": iso(updated),
        }
        for id_, post_id, title, parent_id, content, status, created, updated in rows
    ]


# --- The archive ---------------------------------------------------------------------


async def archive(sessions: Sessions, *, user_id: int, now: datetime) -> AsyncIterator[bytes]:
    """The account's archive, in chunks of about CHUNK_BYTES (the last ones shorter).
    Each database read is a short session from `sessions`; an account deleted
    meanwhile ends the archive early (its central directory still written)."""
    out = ZipStream()

    def ready(force: bool = False) -> bytes | None:
        if out.buffered >= CHUNK_BYTES or (force and out.buffered):
            return out.take()
        return None

    # account.json: the fixed parts, then the security log a page at a time.
    async with sessions() as session:
        user = await session.get(User, user_id)
        if user is None:
            out.close()
            yield out.take()
            return
        head = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "exported_at": iso(now),
            "profile": profile_of(user),
            "settings": settings_of(user),
            "sign_in_methods": await _sign_in_methods(session, user_id),
        }
    oldest = now - timedelta(days=get_settings().security_log_days)
    with out.open("account.json", now) as entry:
        entry.write(_json(head)[:-1] + b', "security_log": [')
        after, first = 0, True
        while True:
            async with sessions() as session:
                events = await _events_page(session, user_id, after, oldest)
            for event in events:
                entry.write((b"\n" if first else b",\n") + _json(event))
                first = False
            if chunk := ready():
                yield chunk
            if len(events) < PAGE_SIZE:
                break
            after = events[-1]["id"]
        entry.write(b"\n]}\n")
    if chunk := ready(force=True):
        yield chunk

    # posts/ and media/: each page's posts, then the images they show not sent yet.
    names = FileNames()
    sent_images: set[str] = set()
    after = 0
    while True:
        async with sessions() as session:
            posts, tags, images = await _posts_page(session, user_id, after)
        for post in posts:
            shown = images.get(post.id, [])
            body = point_at_archive(post.content, shown)
            text = front_matter.render(post_meta(post, tags.get(post.id, [])), body)
            out.add(f"{POSTS_DIR}/{names.name_for(post)}", text.encode(), post.changed_at)
            if chunk := ready():
                yield chunk
        for name in sorted({name for shown in images.values() for name in shown} - sent_images):
            data = await _image(sessions, name)
            if data is None:  # collected meanwhile: the Markdown still names it
                continue
            sent_images.add(name)
            out.add(f"{MEDIA_DIR}/{name}", data, now, compress=False)  # WebP: compressed
            del data
            if chunk := ready(force=True):
                yield chunk
        if len(posts) < PAGE_SIZE:
            break
        after = posts[-1].id
    if chunk := ready(force=True):
        yield chunk

    # comments.json, a page at a time.
    with out.open("comments.json", now) as entry:
        entry.write(b"[")
        after, first = 0, True
        while True:
            async with sessions() as session:
                comments = await _comments_page(session, user_id, after)
            for comment in comments:
                entry.write((b"\n" if first else b",\n") + _json(comment))
                first = False
            if chunk := ready():
                yield chunk
            if len(comments) < PAGE_SIZE:
                break
            after = comments[-1]["id"]
        entry.write(b"\n]\n")
    out.close()
    yield out.take()


def file_name(username: str, now: datetime) -> str:
    """The download's name: `inkwell-<username>-<YYYY-MM-DD>.zip`, the username's
    characters outside letters, digits, `-` and `_` replaced (a header value)."""
    safe = re.sub(r"[^A-Za-z0-9_-]+", "-", username).strip("-") or "account"
    return f"inkwell-{safe}-{now.astimezone(UTC).date().isoformat()}.zip"
