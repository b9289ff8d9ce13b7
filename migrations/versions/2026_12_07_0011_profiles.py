"""Author profiles: an optional bio and website on each account, and the content
version bumped when either changes (the author page shows them).

Plain ADD COLUMN on both databases, never a batch rebuild: on SQLite a rebuild of
`users` would drop 0004's content-version triggers on it. The trigger on renames
(0004) is made anew to fire on the two new columns as well.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = "UPDATE content_version SET version = version + 1 WHERE id = 1"
TRIGGER = "users_rename_bumps_content_version"
OLD_COLUMNS = "username, image_file"
NEW_COLUMNS = "username, image_file, bio, website"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _replace_trigger(columns: str) -> None:
    """As 0004 made it (per statement on PostgreSQL), on these columns."""
    if _postgresql():
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON users")
        op.execute(
            f"CREATE TRIGGER {TRIGGER} AFTER UPDATE OF {columns} ON users "
            "FOR EACH STATEMENT EXECUTE FUNCTION bump_content_version()"
        )
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {TRIGGER}")
        op.execute(f"CREATE TRIGGER {TRIGGER} AFTER UPDATE OF {columns} ON users BEGIN {BUMP}; END")


def upgrade() -> None:
    op.add_column("users", sa.Column("bio", sa.String(length=300), nullable=True))
    op.add_column("users", sa.Column("website", sa.String(length=200), nullable=True))
    _replace_trigger(NEW_COLUMNS)


def downgrade() -> None:
    # The trigger first: it names the columns (SQLite refuses to drop a column a
    # trigger uses).
    _replace_trigger(OLD_COLUMNS)
    op.drop_column("users", "website")
    op.drop_column("users", "bio")
