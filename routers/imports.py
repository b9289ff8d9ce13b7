"""/api/users/me/import: bring posts in from a zip (Inkwell's export, a Hugo or Jekyll
folder, Bear's notes) or a single .md file (portability/importing.py)."""

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from pydantic import BaseModel

from auth import CurrentUser
from database import SessionDep
from portability import importing
from schemas import error_responses, refused_422

router = APIRouter(tags=["import"])

IMPORT_PATH = "/api/users/me/import"
# The body limit of IMPORT_PATH (main.py gives it to BodySizeLimitMiddleware).
IMPORT_BODY_BYTES = importing.MAX_UPLOAD_BYTES + importing.UPLOAD_ENVELOPE_BYTES


class SkippedItem(BaseModel):
    file: str
    reason: str


class ImportResult(BaseModel):
    imported: int
    skipped: list[SkippedItem]


@router.post(
    IMPORT_PATH,
    response_model=ImportResult,
    responses=error_responses(400, 401, 413, 415, 429, 503)
    | refused_422(
        "The form did not validate, or the file is no readable zip (`import_invalid_archive`)"
    ),
)
async def import_posts(
    file: Annotated[UploadFile, File(description="A .zip archive or a single .md file")],
    current_user: CurrentUser,
    session: SessionDep,
    publish: Annotated[
        bool, Query(description="Publish the imported posts (drafts in the file stay drafts)")
    ] = False,
) -> ImportResult:
    """Import posts: Inkwell's own export, or Markdown with front matter as Hugo, Jekyll
    and Bear write it (`title`, `date`, `tags`, `draft`/`status`,
    `summary`/`description`, `slug`). Posts come in as drafts unless `publish` is
    true, keeping their dates; relative images in the archive are stored as uploads
    are. An item that cannot be imported is listed in `skipped` with the reason, and
    the rest are imported."""
    result = await importing.import_posts(
        session,
        user=current_user,
        upload=file.file,
        filename=file.filename or "",
        publish=publish,
    )
    return ImportResult(
        imported=result.imported,
        skipped=[SkippedItem(file=item.file, reason=item.reason) for item in result.skipped],
    )
