"""The admin: `users.created_at`, `posts.author_suspended` (kept by triggers from
`users.suspended_at`), and the append-only `admin_actions` log.

Plain ADD COLUMN and CREATE only: a batch rebuild of `users` or `posts` on SQLite would
drop their triggers (0004, 0010, 0012, 0015).

- `users.created_at`: existing accounts get the time of this migration (nothing older
  records when they were made). New rows get theirs from the application; PostgreSQL
  also keeps `now()` as the column's default. SQLite's ADD COLUMN refuses a default
  that is not a constant, so there the default stays the migration's time.
- `posts.author_suspended`: a copy of "the author is suspended" in the post's own row,
  so public reads filter on it without joining users (content/visibility.py). Two
  triggers keep it exact whoever writes: a change of `users.suspended_at` (suspended
  or restored) rewrites the account's posts, and a post inserted for a suspended
  account starts hidden.
- Search's covering index on SQLite gains the column, so ranking still reads no row.
- `admin_actions`: no foreign keys (deleting an account needs no change to the log:
  ids and username snapshots stay), and triggers refuse every UPDATE and DELETE (and
  TRUNCATE on PostgreSQL).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 20:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_INDEX = ("ix_posts_id_status_date_posted", ["id", "status", "date_posted"])
NEW_INDEX = (
    "ix_posts_id_status_date_posted_author_suspended",
    ["id", "status", "date_posted", "author_suspended"],
)
APPEND_ONLY = "admin_actions is append-only: its rows are never changed or deleted"

SQLITE_TRIGGERS = {
    "users_suspension_hides_posts": (
        "AFTER UPDATE OF suspended_at ON users "
        "WHEN (OLD.suspended_at IS NULL) != (NEW.suspended_at IS NULL) BEGIN "
        "UPDATE posts SET author_suspended = (NEW.suspended_at IS NOT NULL) "
        "WHERE user_id = NEW.id; END"
    ),
    "posts_of_suspended_authors_hidden": (
        "AFTER INSERT ON posts WHEN EXISTS "
        "(SELECT 1 FROM users WHERE id = NEW.user_id AND suspended_at IS NOT NULL) BEGIN "
        "UPDATE posts SET author_suspended = 1 WHERE id = NEW.id; END"
    ),
    "admin_actions_no_update": (
        f"BEFORE UPDATE ON admin_actions BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
    ),
    "admin_actions_no_delete": (
        f"BEFORE DELETE ON admin_actions BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
    ),
}

POSTGRESQL_FUNCTIONS = {
    "inkwell_suspension_hides_posts": (
        "BEGIN UPDATE posts SET author_suspended = (NEW.suspended_at IS NOT NULL) "
        "WHERE user_id = NEW.id; RETURN NULL; END"
    ),
    # The author's row is locked (FOR SHARE) first: a suspension in flight is waited
    # for and then seen, and one that comes later waits for this post to commit and
    # then hides it too. Without it, a post inserted while a suspension was committing
    # could miss both triggers (READ COMMITTED: neither sees the other's rows).
    "inkwell_post_of_suspended_author": (
        "BEGIN PERFORM 1 FROM users WHERE id = NEW.user_id FOR SHARE; "
        "NEW.author_suspended := EXISTS (SELECT 1 FROM users "
        "WHERE id = NEW.user_id AND suspended_at IS NOT NULL); RETURN NEW; END"
    ),
    "inkwell_admin_actions_append_only": f"BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END",
}
POSTGRESQL_TRIGGERS = {
    "users_suspension_hides_posts": (
        "AFTER UPDATE OF suspended_at ON users FOR EACH ROW "
        "WHEN ((OLD.suspended_at IS NULL) <> (NEW.suspended_at IS NULL)) "
        "EXECUTE FUNCTION inkwell_suspension_hides_posts()",
        "users",
    ),
    "posts_of_suspended_authors_hidden": (
        "BEFORE INSERT ON posts FOR EACH ROW EXECUTE FUNCTION inkwell_post_of_suspended_author()",
        "posts",
    ),
    "admin_actions_no_update_or_delete": (
        "BEFORE UPDATE OR DELETE ON admin_actions FOR EACH ROW "
        "EXECUTE FUNCTION inkwell_admin_actions_append_only()",
        "admin_actions",
    ),
    "admin_actions_no_truncate": (
        "BEFORE TRUNCATE ON admin_actions FOR EACH STATEMENT "
        "EXECUTE FUNCTION inkwell_admin_actions_append_only()",
        "admin_actions",
    ),
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    postgresql = _postgresql()
    migrated_at = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    created_default = sa.text("now()" if postgresql else f"'{migrated_at}'")
    op.add_column(
        "users",
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=created_default
        ),
    )
    op.add_column(
        "posts",
        sa.Column("author_suspended", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        "UPDATE posts SET author_suspended = "
        "EXISTS (SELECT 1 FROM users WHERE users.id = posts.user_id "
        "AND users.suspended_at IS NOT NULL)"
    )
    op.drop_index(OLD_INDEX[0], table_name="posts")
    op.create_index(NEW_INDEX[0], "posts", NEW_INDEX[1])
    op.create_table(
        "admin_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=50), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column("target_name", sa.String(length=50), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    if postgresql:
        for name, body in POSTGRESQL_FUNCTIONS.items():
            op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ {body} $$")
        for name, (body, _table) in POSTGRESQL_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
    else:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if _postgresql():
        for name, (_body, table) in POSTGRESQL_TRIGGERS.items():
            op.execute(f"DROP TRIGGER {name} ON {table}")
        for name in POSTGRESQL_FUNCTIONS:
            op.execute(f"DROP FUNCTION {name}()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("admin_actions")
    op.drop_index(NEW_INDEX[0], table_name="posts")
    op.create_index(OLD_INDEX[0], "posts", OLD_INDEX[1])
    # Dropping a column is a rebuild on SQLite before 3.35 (it would drop the posts and
    # users triggers); every supported SQLite has ALTER TABLE DROP COLUMN.
    op.drop_column("posts", "author_suspended")
    op.drop_column("users", "created_at")
