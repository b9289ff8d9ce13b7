"""Ids are never handed out twice, tokens are bound to a random per-account key, and
the throttle marks attempts still being checked.

SQLite reuses the highest rowid of a table unless the table is declared
AUTOINCREMENT, and that can only be declared when a table is created: so `users` and
`posts` are rebuilt on SQLite (rows, ids and constraints kept; the highest id ever
used is remembered from here on). PostgreSQL's sequences never go back and need
nothing. Every existing account gets its own random key; tokens issued before this
revision carry none and stop working, so everyone signs in once more.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 07:00:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACCOUNT_KEY_BYTES = 16  # as in models.py at this revision


def _autoincrement_rebuild() -> dict[str, object]:
    """batch_alter_table arguments: on SQLite, rebuild the table with AUTOINCREMENT."""
    if op.get_bind().dialect.name != "sqlite":
        return {}
    return {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}}


def upgrade() -> None:
    # The throttle reserves an attempt before the password is verified (accounts/throttle.py).
    with op.batch_alter_table("login_failures") as batch_op:
        batch_op.add_column(
            sa.Column("pending", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("login_failures") as batch_op:
        batch_op.alter_column("pending", existing_type=sa.Boolean(), server_default=None)

    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("account_key", sa.String(length=32), nullable=True))

    users = sa.table("users", sa.column("id", sa.Integer), sa.column("account_key", sa.String))
    connection = op.get_bind()
    for (user_id,) in connection.execute(sa.select(users.c.id)).all():
        connection.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(account_key=secrets.token_urlsafe(ACCOUNT_KEY_BYTES))
        )

    with op.batch_alter_table("users", **_autoincrement_rebuild()) as batch_op:
        batch_op.alter_column("account_key", existing_type=sa.String(length=32), nullable=False)
    with op.batch_alter_table("posts", **_autoincrement_rebuild()):
        pass  # only the rebuild, on SQLite


def downgrade() -> None:
    with op.batch_alter_table("login_failures") as batch_op:
        batch_op.drop_column("pending")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("account_key")
