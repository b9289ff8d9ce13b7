"""Tags on posts: one row per post and tag in `post_tags`.

A new table only: `posts` is not rebuilt, so its content-version triggers (0010) stay.
A tag change of a published post still bumps the version, because content/posts.py
writes the post's `changed_at` in the same transaction.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "post_tags",
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("post_id", "tag"),
    )
    op.create_index("ix_post_tags_tag_post_id", "post_tags", ["tag", "post_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_post_tags_tag_post_id", table_name="post_tags")
    op.drop_table("post_tags")
