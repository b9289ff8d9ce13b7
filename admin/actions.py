"""The admin-actions log: one row per action, written in the action's own transaction,
so an action and its record commit or fail together. Rows are never changed or deleted
(the database refuses it: migration 0017); the ids name no foreign key and the names
are copies, so the log outlives the accounts it mentions."""

from enum import StrEnum
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from content.pagination import encode_id_cursor
from models import ADMIN_ACTION_DETAIL_MAX, SERVER_SHELL, AdminAction, User


class Action(StrEnum):
    SUSPEND = "suspend"
    RESTORE = "restore"
    DELETE_POST = "delete_post"
    PROMOTE = "promote"
    DEMOTE = "demote"
    DELETE_COMMENT = "delete_comment"
    APPROVE_COMMENT = "approve_comment"
    DISMISS_REPORTS = "dismiss_reports"
    RESET_2FA = "reset_2fa"  # manage.py reset-2fa: two-factor authentication turned off


def record(
    session: AsyncSession,
    *,
    actor: User | None,
    action: Action,
    target: User | None,
    detail: str = "",
) -> AdminAction:
    """Add the action to the session's transaction (committed with the action itself).
    `actor` None is the server's shell (manage.py)."""
    row = AdminAction(
        actor_id=actor.id if actor else None,
        actor_name=actor.username if actor else SERVER_SHELL,
        action=action.value,
        target_id=target.id if target else None,
        target_name=target.username if target else "",
        detail=detail[:ADMIN_ACTION_DETAIL_MAX],
    )
    session.add(row)
    return row


CURSOR_KIND = "admin-actions"


class PageOfActions(NamedTuple):
    actions: list[AdminAction]
    next_cursor: str | None


async def page_of_actions(
    session: AsyncSession, *, before: int | None, limit: int
) -> PageOfActions:
    """The newest actions first, `limit` at a time, resumed below the id `before` (ids
    only grow, so they order the log as its times do, and walk its primary key)."""
    query = select(AdminAction).order_by(AdminAction.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(AdminAction.id < before)
    rows = list(await session.scalars(query))
    if len(rows) <= limit:
        return PageOfActions(rows, None)
    return PageOfActions(rows[:limit], encode_id_cursor(CURSOR_KIND, rows[limit - 1].id))
