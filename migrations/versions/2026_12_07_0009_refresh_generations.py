"""Refresh-token generations: every token of a session's chain is known for what it is.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both databases (no batch rebuild, which on SQLite would
    # drop migration 0004's triggers). Sessions started before keep generation 0, and
    # their tokens, of the older form, still rotate (accounts/sessions.py).
    op.add_column(
        "sessions", sa.Column("generation", sa.Integer(), nullable=False, server_default="0")
    )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("generation")
