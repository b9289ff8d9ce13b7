"""Profile pictures: an uploaded file is hostile until it has been decoded and
re-encoded. The bounded decoder in images/ does that in a child process under memory,
CPU and time limits (JPEG, PNG, WebP, or a GIF's first frame, nothing else; too many
pixels refused from the header): upright from its EXIF orientation, a centred square
of at most MAX_SIDE, a fresh WebP with no metadata at all. Only that is ever stored or
served.
"""

import hashlib
from dataclasses import dataclass

from sqlalchemy import delete, exists
from sqlalchemy.ext.asyncio import AsyncSession

from images import pool
from models import StoredPicture, User

# Uploads larger than this are refused while they are read (413), before decoding
# (within images.limits.MAX_UPLOAD_BYTES, the most any upload may be).
MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_SIDE = 512


@dataclass(frozen=True)
class Picture:
    data: bytes  # WebP
    name: str  # content-addressed: "<sha256>.webp"


async def reencode(upload: bytes) -> Picture:
    """The upload as a clean square WebP, or an DomainError saying why not (images.pool)."""
    data = await pool.reencode(upload, side=MAX_SIDE, shape="square")
    return Picture(data, f"{hashlib.sha256(data).hexdigest()}.webp")


async def forget_if_unused(session: AsyncSession, name: str | None) -> None:
    """Delete the stored picture `name` once no account uses it (its URL then 404s)."""
    if name is None:
        return
    in_use = exists().where(User.image_file == name)
    await session.execute(
        delete(StoredPicture).where(StoredPicture.name == name, ~in_use),
        execution_options={"synchronize_session": False},
    )
