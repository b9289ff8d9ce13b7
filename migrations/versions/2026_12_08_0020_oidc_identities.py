"""Sign-in through OpenID Connect providers (issue 26): `oidc_identities`, the
accounts at providers (by provider name and `sub`) that sign into an Inkwell account;
a session's and a pending second step's sign-in method grow to 60 characters, for
"oidc:<provider>+recovery_code".

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-08 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "oidc_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "subject", name="uq_oidc_identities_provider_subject"),
        # Also the index an account's identities are found by.
        sa.UniqueConstraint("user_id", "provider", name="uq_oidc_identities_user_id_provider"),
    )
    _method_length("sessions", "auth_method", 40, 60, server_default="password")
    _method_length("mfa_challenges", "method", 40, 60)


def _method_length(
    table: str, column: str, old: int, new: int, server_default: str | None = None
) -> None:
    # A batch (a copy of the table on SQLite, which cannot alter a column's type; neither
    # table has triggers) keeps its rows, indexes and keys.
    with op.batch_alter_table(table) as batch:
        batch.alter_column(
            column,
            type_=sa.String(length=new),
            existing_type=sa.String(length=old),
            existing_nullable=False,
            existing_server_default=server_default,
        )


def downgrade() -> None:
    _method_length("mfa_challenges", "method", 60, 40)
    _method_length("sessions", "auth_method", 60, 40, server_default="password")
    op.drop_table("oidc_identities")
