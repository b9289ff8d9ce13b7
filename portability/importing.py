"""Bringing posts in: Inkwell's own export (the brief's archive format: `posts/*.md`
with YAML front matter, images under `media/`) and the Markdown with front matter
that Hugo, Jekyll and Bear write, as a zip or a single `.md` file.

Hostile archives are refused before they cost anything. The upload is at most
MAX_UPLOAD_BYTES (main.py's body-size middleware); the zip's end record is read
first, so an archive with more than MAX_ENTRIES entries (or a central directory too
large to hold that few) is refused before Python parses its directory; then the
uncompressed sizes the directory declares must add up to at most
MAX_UNCOMPRESSED_BYTES, and every entry is read with its own cap, counting the bytes
that actually come out (a header may lie). Names with `..`, absolute paths,
backslashes, links (the Unix mode in `external_attr`) and encrypted entries are
skipped and reported; front matter is read with `yaml.safe_load` only (a
`!!python/object` tag is refused, never built). Unzipping and parsing run in a worker
thread; images go through the media rules (images/media.py: decoded and re-encoded
in a child, the account's quota) like any upload.

An import counts once against IMPORTS_PER_HOUR, not each post against
POSTS_PER_HOUR (an archive of 200 posts must not stop at 30); what it may bring is
capped instead: MAX_IMPORT_POSTS posts and MAX_IMPORT_IMAGES images. Each post and
image is committed on its own, so one that fails is skipped and reported and the
rest stay imported.
"""

import io
import posixpath
import re
import stat
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import IO, Any
from urllib.parse import unquote

from anyio import to_thread
from fastapi import status
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import rate_limits
from config import get_settings
from content import posts as post_service
from content.slugs import slugify
from content.tags import TAGS_MAX, normalise_tag
from errors.domain import DomainError
from images import media
from models import CONTENT_MAX, SUMMARY_MAX, TITLE_MAX, PostStatus, User, utcnow
from portability import front_matter

MIB = 2**20
# What the upload may weigh (the route's body limit adds the multipart envelope).
MAX_UPLOAD_BYTES = 50 * MIB
UPLOAD_ENVELOPE_BYTES = 64 * 1024
# Entries in a zip (files and folders), and their declared uncompressed sizes together.
MAX_ENTRIES = 2000
MAX_UNCOMPRESSED_BYTES = 200 * MIB
# The central directory of MAX_ENTRIES entries with long names fits in this.
MAX_DIRECTORY_BYTES = 2 * MIB
# One post file (CONTENT_MAX characters of up to 4 bytes, with front matter and slack).
MAX_POST_FILE_BYTES = 256 * 1024
# What one import may bring.
MAX_IMPORT_POSTS = 500
MAX_IMPORT_IMAGES = 200
# An entry that inflates more than this many times over, past a small size, is a bomb.
MAX_RATIO = 200
RATIO_FLOOR_BYTES = 64 * 1024

POST_SUFFIXES = (".md", ".markdown")
# What operating systems add to a zip that nobody wrote: ignored without a word.
NOISE = re.compile(r"(^|/)(__MACOSX/|\.DS_Store$|\._|Thumbs\.db$)")
# `![alt](target "title")`: the target, possibly in <>.
IMAGE_REFERENCE = re.compile(r"(!\[[^\]\n]*\]\(\s*)(<[^>\n]+>|[^)\s]+)([^)\n]*\))")
JEKYLL_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})-(.+)$")
HEADING = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
SPACED_OFFSET = re.compile(r"\s+([+-]\d{2}:?\d{2}|Z)$")

IMPORT_LIMIT = "import_limit"


def unsupported_file() -> DomainError:
    return DomainError(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        "import_unsupported_file",
        "Import takes a .zip archive or a single .md file",
    )


@dataclass
class Skipped:
    file: str
    reason: str


@dataclass
class PostFile:
    """A post as read from a file, before it is checked and created."""

    path: str
    text: str


@dataclass
class Archive:
    """What the worker thread read: the post files, the image entries (read later, one
    at a time, so they never sit in memory together) and what it skipped."""

    posts: list[PostFile] = field(default_factory=list)
    images: dict[str, zipfile.ZipInfo] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    zip: zipfile.ZipFile | None = None


@dataclass
class Result:
    imported: int = 0
    skipped: list[Skipped] = field(default_factory=list)


# --- Reading the upload (in a worker thread) ------------------------------------------


def _end_record(upload: IO[bytes]) -> tuple[int, int]:
    """The entry count and central directory size the zip's end record declares, read
    before zipfile parses anything; 422 when there is none."""
    upload.seek(0, io.SEEK_END)
    size = upload.tell()
    tail_size = min(size, 22 + 65535)  # the record, and a comment of at most 64 KiB
    upload.seek(size - tail_size)
    tail = upload.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise invalid_archive()
    entries, directory_size = struct.unpack("<HI", tail[at + 10 : at + 16])
    upload.seek(0)
    return entries, directory_size


def invalid_archive() -> DomainError:
    return DomainError(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        "import_invalid_archive",
        "The file is not a readable zip archive",
    )


def _too_many_entries() -> DomainError:
    return DomainError(
        status.HTTP_413_CONTENT_TOO_LARGE,
        "import_too_many_entries",
        f"An archive may hold at most {MAX_ENTRIES} files",
    )


def unsafe_name(name: str) -> str | None:
    """Why an entry's name is refused, or None if it is a plain relative path."""
    if "\\" in name:
        return "name has a backslash"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in name.split("/"):
        return "name has '..'"
    if "\x00" in name:
        return "name has a NUL character"
    return None


def entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why an entry is not read at all, or None."""
    if reason := unsafe_name(info.filename):
        return f"unsafe entry skipped: {reason}"
    kind = stat.S_IFMT(info.external_attr >> 16)  # the Unix mode's file type, when set
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        return "links and special files are not imported"
    if info.flag_bits & 0x1:
        return "encrypted entries are not imported"
    if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_RATIO * max(
        info.compress_size, 1
    ):
        return "compressed too well to be real (a zip bomb?)"
    return None


class Budget:
    """Bytes that really came out of the archive, across entries."""

    def __init__(self, limit: int) -> None:
        self.left = limit

    def read(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes | str:
        """The entry's bytes, or why not: at most `cap` of them, counted as they come."""
        if info.file_size > cap:
            return f"larger than {cap // 1024} KiB"
        chunks: list[bytes] = []
        got = 0
        try:
            with archive.open(info) as entry:
                while chunk := entry.read(64 * 1024):
                    got += len(chunk)
                    self.left -= len(chunk)
                    if got > cap or self.left < 0:
                        return "inflates past what its header says (refused)"
                    chunks.append(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, ValueError) as error:
            return f"damaged entry ({error})"
        except Exception as error:  # zlib.error and friends: the archive's fault, not ours
            return f"damaged entry ({type(error).__name__})"
        return b"".join(chunks)


def _decode(path: str, data: bytes, skipped: list[Skipped]) -> PostFile | None:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        skipped.append(Skipped(path, "not UTF-8 text"))
        return None
    return PostFile(path, text.replace("\r\n", "\n"))


def read_upload(upload: IO[bytes], filename: str) -> Archive:
    """The upload as an Archive (a zip) or one post file (a single .md); a refusal of
    the whole upload as a DomainError. Blocking: run in a worker thread."""
    upload.seek(0)
    head = upload.read(4)
    upload.seek(0)
    if head.startswith(b"PK"):
        return _read_zip(upload)
    if filename.lower().endswith(POST_SUFFIXES):
        data = upload.read(MAX_POST_FILE_BYTES + 1)
        archive = Archive()
        if len(data) > MAX_POST_FILE_BYTES:
            archive.skipped.append(
                Skipped(filename, f"larger than {MAX_POST_FILE_BYTES // 1024} KiB")
            )
        elif post := _decode(filename, data, archive.skipped):
            archive.posts.append(post)
        return archive
    raise unsupported_file()


def _read_zip(upload: IO[bytes]) -> Archive:
    entries, directory_size = _end_record(upload)
    if entries > MAX_ENTRIES or directory_size > MAX_DIRECTORY_BYTES:
        raise _too_many_entries()
    try:
        archive = zipfile.ZipFile(upload)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
        raise invalid_archive() from None
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise _too_many_entries()
    if sum(info.file_size for info in infos) > MAX_UNCOMPRESSED_BYTES:
        raise DomainError(
            status.HTTP_413_CONTENT_TOO_LARGE,
            "import_too_large",
            f"The archive would unpack to more than {MAX_UNCOMPRESSED_BYTES // MIB} MiB",
        )
    result = Archive(zip=archive)
    budget = Budget(MAX_UNCOMPRESSED_BYTES)
    for info in infos:
        name = info.filename
        if info.is_dir() or NOISE.search(name):
            continue
        if problem := entry_problem(info):
            result.skipped.append(Skipped(name, problem))
            continue
        if not name.lower().endswith(POST_SUFFIXES):
            result.images[name] = info  # read if a post uses it; reported if none does
            continue
        data = budget.read(archive, info, MAX_POST_FILE_BYTES)
        if isinstance(data, str):
            result.skipped.append(Skipped(name, data))
        elif post := _decode(name, data, result.skipped):
            result.posts.append(post)
    result.posts.sort(key=lambda post: post.path)
    return result


# --- Front matter ---------------------------------------------------------------------


class Refused(Exception):
    """A post file that cannot be imported; the message says why."""


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """The front matter and the body (portability/front_matter.py, the format export
    writes: yaml.safe_load only); ({}, text) when the file has none."""
    if text.startswith("+++\n"):
        raise Refused("TOML front matter (+++) is not supported; use YAML (---)")
    try:
        return front_matter.parse(text)
    except front_matter.FrontMatterError as error:
        cause = error.__cause__
        problem = getattr(cause, "problem", None) or str(error)
        raise Refused(f"front matter is not valid YAML ({problem})") from None


def _text(fields: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = fields.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str | int | float):
            raise Refused(f"'{name}' is not text")
        return str(value).strip() or None
    return None


def parse_date(value: object) -> datetime | None:
    """A front matter date: YAML's own timestamps, ISO 8601 strings and Jekyll's
    `2016-01-01 12:00:00 -0500`; without an offset, UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time())
    elif isinstance(value, str):
        cleaned = SPACED_OFFSET.sub(r"\1", value.strip())
        try:
            moment = datetime.fromisoformat(cleaned)
        except ValueError:
            raise Refused(f"date {value[:40]!r} is not an ISO 8601 date") from None
    else:
        raise Refused("date is not a date")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass
class ParsedPost:
    title: str
    content: str
    status: str  # draft | published | scheduled, as the file says
    date: datetime | None
    updated: datetime | None
    tags: list[str]
    summary: str | None
    slug: str | None
    notes: list[str]  # what was dropped, reported beside the imported post


def _tags(value: object, notes: list[str]) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        texts = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list) and all(isinstance(item, str | int | float) for item in value):
        texts = [str(item) for item in value]
    else:
        raise Refused("tags are neither a list nor a comma-separated string")
    tags: list[str] = []
    for text in texts:
        try:
            tag = normalise_tag(text)
        except ValueError as error:
            notes.append(f"tag dropped: {error}")
            continue
        if tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        notes.append(f"tags dropped (at most {TAGS_MAX}): {', '.join(tags[TAGS_MAX:])}")
        tags = tags[:TAGS_MAX]
    return tags


def _status(fields: dict[str, Any]) -> str:
    draft = fields.get("draft")
    if draft is True or (isinstance(draft, str) and draft.lower() in ("true", "yes")):
        return PostStatus.DRAFT
    value = fields.get("status")
    if value is None:
        return PostStatus.PUBLISHED
    known = {PostStatus.DRAFT, PostStatus.PUBLISHED, PostStatus.SCHEDULED}
    if not isinstance(value, str) or value.lower() not in known:
        raise Refused(f"status {str(value)[:40]!r} is none of draft, published, scheduled")
    return value.lower()


def parse_post(path: str, text: str) -> ParsedPost:
    """A post file as fields to create a post from; Refused when it cannot be one."""
    fields, body = split_front_matter(text)
    notes: list[str] = []
    stem = posixpath.splitext(posixpath.basename(path))[0]
    named = JEKYLL_NAME.match(stem)
    title = _text(fields, "title")
    if title is None and (heading := HEADING.search(body)) and not body[: heading.start()].strip():
        title = heading.group(1).strip()  # Bear: the first line is the title
        body = body[heading.end() :].lstrip("\n")
    if title is None:
        title = (named.group(2) if named else stem).replace("-", " ").replace("_", " ").strip()
    if not title:
        raise Refused("no title")
    if len(title) > TITLE_MAX:
        raise Refused(f"title longer than {TITLE_MAX} characters")
    content = body.strip()
    if not content:
        raise Refused("no content")
    if len(content) > CONTENT_MAX:
        raise Refused(f"content longer than {CONTENT_MAX} characters")
    summary = _text(fields, "summary", "description")
    if summary is not None and len(summary) > SUMMARY_MAX:
        raise Refused(f"summary longer than {SUMMARY_MAX} characters")
    moment = parse_date(fields.get("date"))
    if moment is None and named:
        moment = parse_date(named.group(1))
    slug = _text(fields, "slug")
    return ParsedPost(
        title=title,
        content=content,
        status=_status(fields),
        date=moment,
        updated=parse_date(fields.get("updated") or fields.get("lastmod")),
        tags=_tags(fields.get("tags"), notes),
        summary=summary,
        slug=(slugify(slug) or None) if slug else None,
        notes=notes,
    )


# --- Bringing it in -------------------------------------------------------------------


def _image_target(raw: str) -> str | None:
    """A reference's target if it is relative (a path within the archive), else None."""
    target = raw[1:-1] if raw.startswith("<") else raw
    if (
        not target
        or target.startswith(("/", "#"))
        or re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", target)
    ):
        return None
    return unquote(target.split("#", 1)[0].split("?", 1)[0])


class Importer:
    def __init__(self, session: AsyncSession, user: User, archive: Archive, publish: bool) -> None:
        self.session = session
        self.user = user
        self.user_id = user.id
        self.archive = archive
        self.publish = publish
        self.result = Result(skipped=list(archive.skipped))
        self.stored: dict[str, str | None] = {}  # archive path -> URL (None: refused)
        self.used_images: set[str] = set()
        self.budget = Budget(MAX_UNCOMPRESSED_BYTES)

    async def rollback(self) -> None:
        """Forget the failed item; the account row is read again (a rollback expires it)."""
        await self.session.rollback()
        if self.user in self.session:
            await self.session.refresh(self.user)

    def skip(self, file: str, reason: str) -> None:
        self.result.skipped.append(Skipped(file, reason))

    async def run(self) -> Result:
        for number, post_file in enumerate(self.archive.posts):
            if number >= MAX_IMPORT_POSTS:
                for rest in self.archive.posts[number:]:
                    self.skip(rest.path, f"an import brings at most {MAX_IMPORT_POSTS} posts")
                break
            await self.bring_post(post_file)
        for path in sorted(set(self.archive.images) - self.used_images):
            self.skip(path, "not a post file, and no imported post shows it")
        return self.result

    async def bring_post(self, post_file: PostFile) -> None:
        try:
            # YAML in pure Python: a large front matter is CPU time, off the event loop.
            parsed = await to_thread.run_sync(parse_post, post_file.path, post_file.text)
        except Refused as refusal:
            self.skip(post_file.path, str(refusal))
            return
        content = await self.images(post_file.path, parsed.content)
        if len(content) > CONTENT_MAX:  # the stored images' addresses are longer
            self.skip(post_file.path, f"content longer than {CONTENT_MAX} characters")
            return
        try:
            await self.create(parsed, content)
        except DomainError as error:
            await self.rollback()
            self.skip(post_file.path, error.detail)
            return
        self.result.imported += 1
        for note in parsed.notes:
            self.skip(post_file.path, note)

    async def create(self, parsed: ParsedPost, content: str) -> None:
        now = utcnow()
        wanted = PostStatus.DRAFT
        publish_at = None
        if self.publish and parsed.status != PostStatus.DRAFT:
            if parsed.date is not None and parsed.date > now:
                wanted, publish_at = PostStatus.SCHEDULED, parsed.date
            else:
                wanted = PostStatus.PUBLISHED
        post = await post_service.create_post(
            self.session,
            author=self.user,
            title=parsed.title,
            content=content,
            summary=parsed.summary,
            status=PostStatus.PUBLISHED if wanted == PostStatus.SCHEDULED else wanted,
            publish_at=publish_at,
            tags=parsed.tags,
            count_limit=False,
        )
        if parsed.slug:
            post.slug = parsed.slug
            post.slug_fixed = True
        if wanted == PostStatus.PUBLISHED and parsed.date is not None:
            post.date_posted = parsed.date  # kept: the post was published then
            if parsed.updated is not None and parsed.updated > parsed.date:
                post.updated_at = min(parsed.updated, now)
        elif wanted == PostStatus.DRAFT and parsed.date is not None and parsed.date < now:
            post.changed_at = parsed.date  # a draft has no publication date: its list order
        await self.session.commit()

    async def images(self, post_path: str, content: str) -> str:
        """The content with each relative image the archive holds stored (media rules)
        and its reference pointing at the stored image; a reference that cannot be is
        reported and left as it was."""
        replacements: dict[str, str] = {}
        for match in IMAGE_REFERENCE.finditer(content):
            raw = match.group(2)
            target = _image_target(raw)
            if target is None or raw in replacements:
                continue
            url = await self.image(post_path, raw, target)
            if url is not None:
                replacements[raw] = url
        if not replacements:
            return content
        return IMAGE_REFERENCE.sub(
            lambda m: m.group(1) + replacements.get(m.group(2), m.group(2)) + m.group(3), content
        )

    async def image(self, post_path: str, raw: str, target: str) -> str | None:
        path = posixpath.normpath(posixpath.join(posixpath.dirname(post_path), target))
        if self.archive.zip is None:
            self.skip(post_path, f"image {raw} left as is: a single .md brings no images")
            return None
        if path.startswith("../") or path == ".." or path.startswith("/"):
            self.skip(post_path, f"image {raw} left as is: it points outside the archive")
            return None
        if path in self.stored:
            return self.stored[path]
        info = self.archive.images.get(path)
        if info is None:
            self.skip(post_path, f"image {raw} left as is: not in the archive")
            return None
        self.used_images.add(path)
        url = await self.store(post_path, raw, info)
        self.stored[path] = url
        return url

    async def store(self, post_path: str, raw: str, info: zipfile.ZipInfo) -> str | None:
        def refused(reason: str) -> None:
            self.skip(info.filename, f"image refused ({reason}); {post_path} keeps {raw}")

        if len([url for url in self.stored.values() if url]) >= MAX_IMPORT_IMAGES:
            refused(f"an import brings at most {MAX_IMPORT_IMAGES} images")
            return None
        archive = self.archive.zip
        assert archive is not None
        read: Callable[[], bytes | str] = lambda: self.budget.read(  # noqa: E731
            archive, info, media.MAX_UPLOAD_BYTES
        )
        data = await to_thread.run_sync(read)
        if isinstance(data, str):
            refused(data)
            return None
        try:
            image = await media.reencode(data)
            # Over the quota: refused by store (413), and rolled back below.
            await media.store(self.session, image=image, user_id=self.user_id, now=utcnow())
            await self.session.commit()
        except DomainError as error:
            await self.rollback()
            refused(error.detail)
            return None
        return image.url


async def import_posts(
    session: AsyncSession, *, user: User, upload: IO[bytes], filename: str, publish: bool
) -> Result:
    """Import the upload into `user`'s posts: counted (IMPORTS_PER_HOUR, committed)
    before anything is read; the whole upload refused (413, 415, 422) only when it is
    no archive or a hostile one, otherwise each post imported or reported."""
    per_hour = get_settings().imports_per_hour
    await rate_limits.spend(
        session,
        {f"import:{user.id}": per_hour},
        code=IMPORT_LIMIT,
        detail=f"At most {per_hour} imports an hour; try again later",
    )
    await session.commit()
    archive = await to_thread.run_sync(read_upload, upload, filename)
    try:
        return await Importer(session, user, archive, publish).run()
    finally:
        if archive.zip is not None:
            archive.zip.close()
