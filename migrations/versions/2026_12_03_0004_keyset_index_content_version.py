"""Pages that cost the same at any size: a keyset index for newest-first listings, and
a content version that every change to what pages show bumps (pages.py's cache and
ETags are checked against it).

The version is bumped by triggers, in the same transaction as the write itself, so
no code path (the API, a seed script, a cascade from a deleted account, a hand-made
SQL statement) can change a page without changing the version.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 11:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = "UPDATE content_version SET version = version + 1 WHERE id = 1"
# (trigger name, event, table): every write that can change what a page shows.
TRIGGERS = [
    ("posts_insert_bumps_content_version", "INSERT", "posts"),
    ("posts_update_bumps_content_version", "UPDATE", "posts"),
    ("posts_delete_bumps_content_version", "DELETE", "posts"),
    ("users_insert_bumps_content_version", "INSERT", "users"),
    ("users_rename_bumps_content_version", "UPDATE OF username, image_file", "users"),
    ("users_delete_bumps_content_version", "DELETE", "users"),
]


def upgrade() -> None:
    with op.batch_alter_table("posts") as batch_op:
        batch_op.drop_index("ix_posts_date_posted")
        batch_op.create_index("ix_posts_date_posted_id", ["date_posted", "id"], unique=False)
        batch_op.create_index(
            "ix_posts_user_id_date_posted_id", ["user_id", "date_posted", "id"], unique=False
        )
        batch_op.drop_index("ix_posts_user_id")
    op.create_table(
        "content_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO content_version (id, version) VALUES (1, 1)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION bump_content_version() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for name, event, table in TRIGGERS:
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION bump_content_version()"
            )
    else:
        for name, event, table in TRIGGERS:
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {BUMP}; END")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, _event, table in TRIGGERS:
        op.execute(f"DROP TRIGGER {name}" + (f" ON {table}" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION bump_content_version()")
    op.drop_table("content_version")
    with op.batch_alter_table("posts") as batch_op:
        batch_op.create_index("ix_posts_user_id", ["user_id"], unique=False)
        batch_op.drop_index("ix_posts_user_id_date_posted_id")
        batch_op.drop_index("ix_posts_date_posted_id")
        batch_op.create_index("ix_posts_date_posted", ["date_posted"], unique=False)
