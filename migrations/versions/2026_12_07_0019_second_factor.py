"""A second factor, step-up and a security log (issue 25): on users the sealed TOTP
secret (and one waiting for its first code), the last time step used and the recovery
codes' hashes; on sessions when they last proved who uses them and how they signed
in; `mfa_challenges` (sign-ins waiting for their code) and `security_events`.

Plain ADD COLUMN and CREATE TABLE only: a batch rebuild of `users` on SQLite would drop
its triggers (0011, 0015, 0017, 0018).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 21:30:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    migrated_at = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    now = sa.text("now()" if postgresql else f"'{migrated_at}'")
    op.add_column("users", sa.Column("totp_secret", sa.String(length=300), nullable=True))
    op.add_column("users", sa.Column("totp_pending_secret", sa.String(length=300), nullable=True))
    op.add_column("users", sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.add_column(
        "users",
        sa.Column("recovery_codes", sa.String(length=650), nullable=False, server_default=""),
    )
    op.add_column(
        "sessions",
        sa.Column(
            "authenticated_at", sa.DateTime(timezone=True), nullable=False, server_default=now
        ),
    )
    # A session from before counts as authenticated when it signed in.
    op.execute("UPDATE sessions SET authenticated_at = created_at")
    op.add_column(
        "sessions",
        sa.Column("auth_method", sa.String(length=40), nullable=False, server_default="password"),
    )
    op.create_table(
        "mfa_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_mfa_challenges_user_id", "mfa_challenges", ["user_id"])
    op.create_index("ix_mfa_challenges_expires_at", "mfa_challenges", ["expires_at"])
    op.create_table(
        "security_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_security_events_user_id_id", "security_events", ["user_id", "id"])
    op.create_index("ix_security_events_created_at", "security_events", ["created_at"])


def downgrade() -> None:
    op.drop_table("security_events")
    op.drop_table("mfa_challenges")
    # Every supported SQLite has ALTER TABLE DROP COLUMN (no rebuild, triggers kept).
    op.drop_column("sessions", "auth_method")
    op.drop_column("sessions", "authenticated_at")
    for column in ("recovery_codes", "totp_last_step", "totp_pending_secret", "totp_secret"):
        op.drop_column("users", column)
