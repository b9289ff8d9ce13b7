"""Images uploaded for posts: hostile until re-encoded, like profile pictures
(images/pictures.py), by the same bounded decoder (images/pool.py): JPEG, PNG, WebP or a
GIF's first frame only, too many pixels refused from the header, upright from the EXIF
orientation, at most MAX_SIDE px on the long side (never enlarged, proportions kept),
a fresh WebP with no metadata at all. Only that is stored, in the database, by the
SHA-256 of its bytes, and served at /media/images/<hash>.webp.

Each account may keep MEDIA_QUOTA_MIB of images stored (those it uploaded first). An
image that no post uses (no `post_images` row, which content/posts.py writes with a
post's content, drafts' included) is deleted once MEDIA_UNUSED_HOURS have passed since
its upload (an upload of the same bytes again starts that count anew), so one uploaded
in an open editor survives until the post is saved. A post that used it being deleted
makes it collectable at once if its upload is older than that: the count is from the
upload, not from the last use. Each worker's MediaCollector runs the collection.
"""

import hashlib
import logging
import re
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import status
from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import rate_limits
from background.periodic import PeriodicJob
from config import get_settings
from database import is_postgresql, lock_account, rows_changed
from errors.domain import DomainError
from images import limits, pool
from models import MEDIA_IMAGES_PATH, MediaImage, PostImage, utcnow

logger = logging.getLogger("inkwell.media")

# Uploads larger than this are refused while they are read (413), before decoding.
MAX_UPLOAD_BYTES = limits.MAX_UPLOAD_BYTES
# The long side of a stored image, at most: wide enough for a high-density screen.
MAX_SIDE = 2048
# What an image's name looks like: checked before the database is asked.
NAME = re.compile(r"[0-9a-f]{64}\.webp")
MIB = 2**20
# The collector's rhythm in each worker: soon after start-up, then hourly.
FIRST_COLLECTION_SECONDS = 60
COLLECTION_EVERY_SECONDS = 3600


@dataclass(frozen=True)
class Image:
    data: bytes  # WebP, ours
    name: str  # content-addressed: "<sha256>.webp"
    width: int
    height: int

    @property
    def url(self) -> str:
        return f"{MEDIA_IMAGES_PATH}/{self.name}"


def webp_size(data: bytes) -> tuple[int, int]:
    """Width and height from the header of a WebP the decoder wrote (simple lossy,
    lossless, or extended: the three forms there are)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP file")
    chunk = data[12:16]
    if chunk == b"VP8X":  # canvas size minus one, 24 bits each
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":  # after the frame tag
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    raise ValueError(f"unexpected WebP chunk {chunk!r}")


def _quota_bytes() -> int:
    return int(get_settings().media_quota_mib * MIB)


def _mib(size: int) -> str:
    return f"{size / MIB:.1f} MiB"


def _over_quota(used: int, needed: int = 0) -> DomainError:
    quota = _quota_bytes()
    also = f"; this one needs {_mib(needed)}" if needed else ""
    return DomainError(
        status.HTTP_413_CONTENT_TOO_LARGE,
        "media_quota_exceeded",
        f"Your images take {_mib(used)} of your {_mib(quota)} quota{also}. Images no "
        f"post uses are deleted {get_settings().media_unused_hours:g} hours after their upload",
    )


async def used_bytes(session: AsyncSession, *, user_id: int) -> int:
    """What the account's stored images take: those it uploaded first."""
    used = await session.scalar(
        select(func.coalesce(func.sum(MediaImage.size), 0)).where(MediaImage.user_id == user_id)
    )
    return int(used or 0)


async def upload(session: AsyncSession, *, user_id: int, data: bytes) -> Image:
    """Store `data` (as read from the request, at most MAX_UPLOAD_BYTES + 1) as an image
    of the account's, and commit. Refused: 413 too large or over the quota, 415 not an
    image, 422 too many pixels or too complex, 429 past the hourly limit, 503 busy; a
    refused upload stores nothing."""
    settings = get_settings()
    if len(data) > MAX_UPLOAD_BYTES:
        raise DomainError(
            status.HTTP_413_CONTENT_TOO_LARGE,
            "too_large",
            f"The image is larger than {MAX_UPLOAD_BYTES // MIB} MiB",
        )
    if pool.decode_pool().busy:  # say so before the upload is counted (a race may still 503)
        raise pool.decode_pool().busy_error()
    if (used := await used_bytes(session, user_id=user_id)) >= _quota_bytes():
        raise _over_quota(used)  # full already: no decode, nothing counted
    # Counted and committed before decoding: a refused or hostile file counts too.
    await rate_limits.spend(
        session,
        {f"media:{user_id}": settings.media_uploads_per_hour},
        code="upload_limit",
        detail=(
            f"At most {settings.media_uploads_per_hour} image uploads an hour, refused files "
            "included; try again later"
        ),
    )
    await session.commit()
    image = await reencode(data)
    await store(session, image=image, user_id=user_id, now=utcnow())
    await session.commit()
    return image


async def reencode(data: bytes) -> Image:
    """The upload as a clean WebP within MAX_SIDE x MAX_SIDE, or a DomainError saying
    why not (images.pool)."""
    webp = await pool.reencode(data, side=MAX_SIDE, shape="fit")
    width, height = webp_size(webp)
    return Image(webp, f"{hashlib.sha256(webp).hexdigest()}.webp", width, height)


async def store(session: AsyncSession, *, image: Image, user_id: int, now: datetime) -> None:
    """Keep `image` for the account (uncommitted), or raise 413 if a new row would take
    the account past its quota (the caller's rollback then stores nothing).

    The same bytes stored already (by anyone) take no more room: that row is the row
    wanted, and its upload time becomes now, so the grace before collection starts
    again for this upload. Renewing it is an UPDATE the collector's DELETE waits for and
    then re-checks, so it never deletes a row an upload has just answered with."""
    # PostgreSQL: one account's uploads take turns from here to the commit, so the sum
    # below is exact. SQLite: the first write below takes the write lock until then.
    await lock_account(session, user_id)
    insert = pg_insert if is_postgresql(session) else sqlite_insert
    renew = (
        update(MediaImage)
        .where(MediaImage.name == image.name)
        .values(created_at=now)
        .execution_options(synchronize_session=False)
    )
    new = (
        insert(MediaImage)
        .values(
            name=image.name,
            data=image.data,
            width=image.width,
            height=image.height,
            size=len(image.data),
            user_id=user_id,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["name"])
    )
    # Either the row is there (renewed) or it is not (inserted); a concurrent upload of
    # the same bytes, or the collector, can only make one of the two try again.
    for _attempt in range(3):
        if await rows_changed(session, renew):
            return
        if await rows_changed(session, new):
            break
    else:
        raise RuntimeError(f"media image {image.name} neither stored nor found")
    if (used := await used_bytes(session, user_id=user_id)) > _quota_bytes():
        raise _over_quota(used - len(image.data), len(image.data))


async def find(session: AsyncSession, *, name: str) -> bytes:
    """A stored image's WebP bytes, or 404."""
    data = None
    if NAME.fullmatch(name):  # anything else names no image: no query
        data = await session.scalar(select(MediaImage.data).where(MediaImage.name == name))
    if data is None:
        raise DomainError(status.HTTP_404_NOT_FOUND, "media_not_found", "Image not found")
    return data


async def collect_unused(session: AsyncSession, *, now: datetime) -> int:
    """Delete (uncommitted) the images no post uses, uploaded more than
    MEDIA_UNUSED_HOURS before `now`; how many. One statement: workers running it at
    once delete each row once, and a row an upload renews meanwhile stays."""
    cutoff = now - timedelta(hours=get_settings().media_unused_hours)
    used = exists().where(PostImage.name == MediaImage.name)
    return await rows_changed(
        session,
        delete(MediaImage)
        .where(MediaImage.created_at < cutoff, ~used)
        .execution_options(synchronize_session=False),
    )


class MediaCollector(PeriodicJob):
    """Deletes unused images now and then; one per worker. Several workers (or
    machines) may collect at once: harmless."""

    name = "media-collector"
    first_pause = FIRST_COLLECTION_SECONDS

    def retry_pause(self) -> float:
        return COLLECTION_EVERY_SECONDS

    async def run_once(self) -> float:
        await self.collect()
        return COLLECTION_EVERY_SECONDS

    async def collect(self, *, now: datetime | None = None) -> int:
        """One collection, committed; how many images were deleted."""
        async with self.sessionmaker() as session:
            deleted = await collect_unused(session, now=now or utcnow())
            await session.commit()
        if deleted:
            logger.info("Deleted %d unused image(s)", deleted)
        return deleted
