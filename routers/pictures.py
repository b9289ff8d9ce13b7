"""Profile pictures: upload and remove your own (/api/users/me/picture), and every
stored picture served under its content hash (/media/pictures/<hash>.webp)."""

from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile, status
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from accounts import rate_limits
from auth import CurrentUser
from config import get_settings
from database import SessionDep, is_postgresql
from errors.domain import DomainError
from images import pictures
from images.pictures import forget_if_unused
from images.pool import REFUSED_422, decode_pool
from models import PICTURES_PATH, StoredPicture, User, utcnow
from schemas import UserPrivate, error_responses
from web.middleware import CACHE_FOREVER

router = APIRouter(tags=["users"])

UPLOAD_PATH = "/api/users/me/picture"
# The multipart envelope around the file: field headers and boundaries.
UPLOAD_ENVELOPE_BYTES = 16 * 1024
# The body limit of UPLOAD_PATH (main.py gives it to BodySizeLimitMiddleware).
UPLOAD_BODY_BYTES = pictures.MAX_UPLOAD_BYTES + UPLOAD_ENVELOPE_BYTES


@router.put(
    UPLOAD_PATH,
    response_model=UserPrivate,
    responses=error_responses(400, 401, 413, 415, 429, 503) | REFUSED_422,
)
async def upload_picture(
    file: Annotated[UploadFile, File(description="A JPEG, PNG, WebP or GIF picture")],
    current_user: CurrentUser,
    session: SessionDep,
) -> User:
    """Make `file` your picture: decoded, turned upright, cropped to a centred square,
    at most 512 px, re-encoded as WebP without any metadata."""
    upload = await file.read(pictures.MAX_UPLOAD_BYTES + 1)
    if len(upload) > pictures.MAX_UPLOAD_BYTES:
        raise DomainError(
            status.HTTP_413_CONTENT_TOO_LARGE,
            "too_large",
            f"The picture is larger than {pictures.MAX_UPLOAD_BYTES // 2**20} MiB",
        )
    if decode_pool().busy:  # say so before the upload is counted (a race may still 503)
        raise decode_pool().busy_error()
    # Counted and committed before decoding: a refused or hostile file counts too.
    await rate_limits.spend(
        session,
        {f"upload:{current_user.id}": get_settings().uploads_per_hour},
        code="upload_limit",
        detail=(
            f"At most {get_settings().uploads_per_hour} picture uploads an hour, refused files "
            "included; try again later"
        ),
    )
    await session.commit()
    picture = await pictures.reencode(upload)
    session.add(current_user)
    old = current_user.image_file
    # The same picture may be stored already (or at this moment, by another request):
    # its name is its content, so the row there is the row wanted.
    insert = pg_insert if is_postgresql(session) else sqlite_insert
    await session.execute(
        insert(StoredPicture)
        .values(name=picture.name, data=picture.data, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    current_user.image_file = picture.name
    await session.flush()
    if old != picture.name:
        await forget_if_unused(session, old)
    await session.commit()
    return current_user


@router.delete(UPLOAD_PATH, response_model=UserPrivate, responses=error_responses(401))
async def remove_picture(current_user: CurrentUser, session: SessionDep) -> User:
    """Back to the default picture; the old one is deleted once no account uses it."""
    session.add(current_user)
    old = current_user.image_file
    current_user.image_file = None
    await session.flush()
    await forget_if_unused(session, old)
    await session.commit()
    return current_user


@router.get(f"{PICTURES_PATH}/{{name}}", include_in_schema=False)
async def serve_picture(name: str, session: SessionDep) -> Response:
    """A stored picture: its URL names its content, so it may be cached for ever."""
    data = await session.scalar(select(StoredPicture.data).where(StoredPicture.name == name))
    if data is None:
        raise DomainError(status.HTTP_404_NOT_FOUND, "picture_not_found", "Picture not found")
    return Response(data, media_type="image/webp", headers={"Cache-Control": CACHE_FOREVER})
