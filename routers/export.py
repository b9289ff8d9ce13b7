"""Download your data: the account's archive (portability/export.py), streamed."""

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from accounts import rate_limits
from auth import RecentSession
from config import get_settings
from database import SessionDep
from models import utcnow
from portability import export
from schemas import error_responses

router = APIRouter(prefix="/api/users", tags=["users"])

EXPORT_PATH = "/api/users/me/export"


@router.get(
    "/me/export",
    response_class=StreamingResponse,
    responses=error_responses(401, 429)
    | {200: {"content": {"application/zip": {}}, "description": "The account's archive"}},
)
async def export_account(
    request: Request, current: RecentSession, session: SessionDep
) -> StreamingResponse:
    """Your data as a zip, built as it is sent: `account.json` (profile, settings,
    sign-in methods without secrets, security log), `posts/<date>-<slug>.md` for every
    post (drafts and scheduled ones included) with YAML front matter, the images those
    posts show under `media/`, and `comments.json` (your comments). Needs recent
    authentication; at most `EXPORTS_PER_HOUR` an hour (429 `export_limit`)."""
    settings = get_settings()
    user = current.user
    await rate_limits.spend(
        session,
        {f"export:{user.id}": settings.exports_per_hour},
        code="export_limit",
        detail=f"At most {settings.exports_per_hour} exports an hour; try again later",
    )
    await session.commit()
    now = utcnow()
    name = export.file_name(user.username, now)
    return StreamingResponse(
        export.archive(request.state.sessionmaker, user_id=user.id, now=now),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
