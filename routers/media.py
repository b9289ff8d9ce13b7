"""Images for posts: upload one (/api/media), and every stored image served under its
content hash (/media/images/<hash>.webp)."""

from typing import Annotated

from fastapi import APIRouter, File, Response, UploadFile, status

from auth import PostsWriter
from database import SessionDep
from images import media
from images.pool import REFUSED_422
from models import MEDIA_IMAGES_PATH
from schemas import UploadedImage, error_responses
from web.middleware import CACHE_FOREVER

router = APIRouter(tags=["media"])

UPLOAD_PATH = "/api/media"
# The multipart envelope around the file: field headers and boundaries.
UPLOAD_ENVELOPE_BYTES = 16 * 1024
# The body limit of UPLOAD_PATH (main.py gives it to BodySizeLimitMiddleware).
UPLOAD_BODY_BYTES = media.MAX_UPLOAD_BYTES + UPLOAD_ENVELOPE_BYTES


@router.post(
    UPLOAD_PATH,
    status_code=status.HTTP_201_CREATED,
    response_model=UploadedImage,
    responses=error_responses(400, 401, 413, 415, 429, 503) | REFUSED_422,
)
async def upload_image(
    file: Annotated[UploadFile, File(description="A JPEG, PNG, WebP or GIF image")],
    current_user: PostsWriter,
    session: SessionDep,
) -> UploadedImage:
    """Store `file` for use in posts: decoded, turned upright, at most 2048 px on the
    long side, re-encoded as WebP without any metadata. Put its `url` in a post as
    `![alt](url)`. An image no post uses is deleted a day after its upload; each
    account may keep `MEDIA_QUOTA_MIB` of images (413 `media_quota_exceeded`)."""
    data = await file.read(media.MAX_UPLOAD_BYTES + 1)
    image = await media.upload(session, user_id=current_user.id, data=data)
    return UploadedImage(url=image.url, width=image.width, height=image.height)


@router.get(f"{MEDIA_IMAGES_PATH}/{{name}}", include_in_schema=False)
async def serve_image(name: str, session: SessionDep) -> Response:
    """A stored image: its URL names its content, so it may be cached for ever."""
    data = await media.find(session, name=name)
    return Response(data, media_type="image/webp", headers={"Cache-Control": CACHE_FOREVER})
