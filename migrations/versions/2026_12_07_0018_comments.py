"""Comments (comments/): `comments`, `comment_reports`; on posts `comments_enabled` and
`comment_count`; on users `comment_mail` (comment mails wanted) and `comments_approved`
(a comment of theirs was approved once, so the next ones publish at once).

Plain ADD COLUMN and CREATE TABLE only: a batch rebuild of `posts` or `users` on
SQLite would drop their triggers (0004, 0010, 0012, 0015).

Triggers, so that no path (the API, a cascade, an operator's SQL) can change what a
page shows without the content version moving, in the same transaction:

- A comment that is or was visible on pages (published, or a deleted placeholder)
  inserted, updated or deleted bumps the content version. A pending comment bumps
  nothing: pages never show it.
- `posts.comment_count` (what cards and the post JSON show: published comments whose
  author is not suspended) is counted again for the post whenever one of its published
  comments changes, and for every post an account commented on when its suspension
  starts or ends. Counted again rather than incremented, so it cannot drift; on
  PostgreSQL the post's row is locked first and each statement of the function sees
  the latest commits (READ COMMITTED), so two comments committed at once are both
  counted. The lock is FOR NO KEY UPDATE, what the UPDATE itself takes: a comment's
  insert holds FOR KEY SHARE on its post (the foreign key), and FOR UPDATE would
  conflict with that, two comments at once deadlocking. The count is written only
  when it changes; a published post's row changing bumps the version through 0010's
  trigger too.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUMP = "UPDATE content_version SET version = version + 1 WHERE id = 1"
VISIBLE = "('published', 'deleted')"


# The SQL below is made of this module's own constants (trigger bodies), never input.
def _count(post_id: str) -> str:
    return (
        "(SELECT count(*) FROM comments JOIN users ON users.id = comments.user_id "  # noqa: S608
        f"WHERE comments.post_id = {post_id} AND comments.status = 'published' "
        "AND users.suspended_at IS NULL)"
    )


def _recount(post_id: str) -> str:
    return (
        f"UPDATE posts SET comment_count = {_count(post_id)} "  # noqa: S608
        f"WHERE id = {post_id} AND comment_count <> {_count(post_id)}"
    )


SQLITE_TRIGGERS = {
    "comments_insert_counts": (
        f"AFTER INSERT ON comments WHEN NEW.status IN {VISIBLE} "
        f"BEGIN {_recount('NEW.post_id')}; {BUMP}; END"
    ),
    "comments_update_counts": (
        f"AFTER UPDATE ON comments WHEN OLD.status IN {VISIBLE} OR NEW.status IN {VISIBLE} "
        f"BEGIN {_recount('OLD.post_id')}; {_recount('NEW.post_id')}; {BUMP}; END"
    ),
    "comments_delete_counts": (
        f"AFTER DELETE ON comments WHEN OLD.status IN {VISIBLE} "
        f"BEGIN {_recount('OLD.post_id')}; {BUMP}; END"
    ),
    "users_suspension_counts_comments": (
        "AFTER UPDATE OF suspended_at ON users "  # noqa: S608
        "WHEN (OLD.suspended_at IS NULL) <> (NEW.suspended_at IS NULL) BEGIN "
        f"UPDATE posts SET comment_count = {_count('posts.id')} WHERE id IN "
        "(SELECT post_id FROM comments WHERE user_id = NEW.id AND status = 'published'); END"
    ),
}

POSTGRESQL_FUNCTIONS = [
    "CREATE FUNCTION recount_post_comments(target integer) RETURNS void "
    "LANGUAGE plpgsql AS $$ BEGIN "
    "PERFORM 1 FROM posts WHERE id = target FOR NO KEY UPDATE; "
    f"{_recount('target')}; END $$",
    "CREATE FUNCTION comments_changed() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF TG_OP <> 'INSERT' THEN PERFORM recount_post_comments(OLD.post_id); END IF; "
    "IF TG_OP <> 'DELETE' THEN PERFORM recount_post_comments(NEW.post_id); END IF; "
    f"{BUMP}; RETURN NULL; END $$",
    "CREATE FUNCTION suspension_counts_comments() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "DECLARE target integer; BEGIN "
    "FOR target IN SELECT DISTINCT post_id FROM comments "
    "WHERE user_id = NEW.id AND status = 'published' LOOP "
    "PERFORM recount_post_comments(target); END LOOP; RETURN NULL; END $$",
]
POSTGRESQL_TRIGGERS = {
    "comments_insert_counts": (
        f"AFTER INSERT ON comments FOR EACH ROW WHEN (NEW.status IN {VISIBLE}) "
        "EXECUTE FUNCTION comments_changed()"
    ),
    "comments_update_counts": (
        "AFTER UPDATE ON comments FOR EACH ROW "
        f"WHEN (OLD.status IN {VISIBLE} OR NEW.status IN {VISIBLE}) "
        "EXECUTE FUNCTION comments_changed()"
    ),
    "comments_delete_counts": (
        f"AFTER DELETE ON comments FOR EACH ROW WHEN (OLD.status IN {VISIBLE}) "
        "EXECUTE FUNCTION comments_changed()"
    ),
    "users_suspension_counts_comments": (
        "AFTER UPDATE OF suspended_at ON users FOR EACH ROW "
        "WHEN ((OLD.suspended_at IS NULL) <> (NEW.suspended_at IS NULL)) "
        "EXECUTE FUNCTION suspension_counts_comments()"
    ),
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.add_column(
        "posts",
        sa.Column("comments_enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.add_column(
        "posts", sa.Column("comment_count", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "users",
        sa.Column("comment_mail", sa.Boolean(), nullable=False, server_default=sa.true()),
    )
    op.add_column(
        "users",
        sa.Column("comments_approved", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_html", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["parent_id"], ["comments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_comments_post_id_created_at_id", "comments", ["post_id", "created_at", "id"]
    )
    op.create_index("ix_comments_status_created_at_id", "comments", ["status", "created_at", "id"])
    op.create_index("ix_comments_parent_id", "comments", ["parent_id"])
    op.create_index("ix_comments_user_id", "comments", ["user_id"])
    op.create_table(
        "comment_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["comment_id"], ["comments.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("comment_id", "user_id", name="uq_comment_reports_comment_id_user_id"),
    )
    op.create_index("ix_comment_reports_user_id", "comment_reports", ["user_id"])
    if _postgresql():
        for function in POSTGRESQL_FUNCTIONS:
            op.execute(function)
        for name, body in POSTGRESQL_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")
    else:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    postgresql = _postgresql()
    for name, body in SQLITE_TRIGGERS.items():
        table = "users" if " ON users " in body else "comments"
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION suspension_counts_comments()")
        op.execute("DROP FUNCTION comments_changed()")
        op.execute("DROP FUNCTION recount_post_comments(integer)")
    op.drop_index("ix_comment_reports_user_id", table_name="comment_reports")
    op.drop_table("comment_reports")
    op.drop_index("ix_comments_user_id", table_name="comments")
    op.drop_index("ix_comments_parent_id", table_name="comments")
    op.drop_index("ix_comments_status_created_at_id", table_name="comments")
    op.drop_index("ix_comments_post_id_created_at_id", table_name="comments")
    op.drop_table("comments")
    op.drop_column("users", "comments_approved")
    op.drop_column("users", "comment_mail")
    op.drop_column("posts", "comment_count")
    op.drop_column("posts", "comments_enabled")
