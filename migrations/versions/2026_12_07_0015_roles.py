"""Roles and suspension: `users.role` ("member" or "admin", accounts/roles.py) and
`users.suspended_at` (set while an admin has suspended the account).

Plain ADD COLUMN on both databases (a batch rebuild of `users` on SQLite would drop
0004's content-version triggers). A suspension hides the account's posts from every
page, so the rename trigger (0004, widened in 0011) is made anew to fire on
`suspended_at` as well: pages turn over in the suspension's own transaction.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = "UPDATE content_version SET version = version + 1 WHERE id = 1"
TRIGGER = "users_rename_bumps_content_version"
OLD_COLUMNS = "username, image_file, bio, website"
NEW_COLUMNS = "username, image_file, bio, website, suspended_at"


def _replace_trigger(columns: str) -> None:
    """As 0004 made it (per statement on PostgreSQL), on these columns."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON users")
        op.execute(
            f"CREATE TRIGGER {TRIGGER} AFTER UPDATE OF {columns} ON users "
            "FOR EACH STATEMENT EXECUTE FUNCTION bump_content_version()"
        )
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
        op.execute(f"CREATE TRIGGER {TRIGGER} AFTER UPDATE OF {columns} ON users BEGIN {BUMP}; END")


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("role", sa.String(length=10), nullable=False, server_default="member"),
    )
    op.add_column("users", sa.Column("suspended_at", sa.DateTime(timezone=True), nullable=True))
    _replace_trigger(NEW_COLUMNS)


def downgrade() -> None:
    _replace_trigger(OLD_COLUMNS)
    op.drop_column("users", "suspended_at")
    op.drop_column("users", "role")
