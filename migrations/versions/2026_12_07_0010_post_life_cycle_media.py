"""Posts get a life cycle (draft, scheduled, published), words in their address, a
summary, an edit date and a reading time; images uploaded for posts get their tables.

Every existing post was on the site, so it becomes `published` with a slug from its
title, fixed from now on (links to it already exist), and is rendered again with what
the renderer now does (highlighted code, task lists, footnotes, heading ids).

The content version is now bumped only by writes that change what the site shows:
a post that is, or was, published (a draft saved every few seconds by the editor must
not empty every worker's page cache). The triggers are made anew after the rebuild
of `posts` (SQLite drops a table's triggers with it).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from content.markdown_render import reading_minutes, render_html
from content.slugs import slug_for_title

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
BUMP = "UPDATE content_version SET version = version + 1 WHERE id = 1"
# (name, event, the rows it concerns): as in 0004, but a post that is not and was not
# published changes nothing anyone else sees.
OLD_TRIGGERS = [
    ("posts_insert_bumps_content_version", "INSERT"),
    ("posts_update_bumps_content_version", "UPDATE"),
    ("posts_delete_bumps_content_version", "DELETE"),
]
NEW_TRIGGERS = [
    ("posts_insert_bumps_content_version", "INSERT", "NEW.status = 'published'"),
    (
        "posts_update_bumps_content_version",
        "UPDATE",
        "OLD.status = 'published' OR NEW.status = 'published'",
    ),
    ("posts_delete_bumps_content_version", "DELETE", "OLD.status = 'published'"),
]

posts = sa.table(
    "posts",
    sa.column("id", sa.Integer()),
    sa.column("title", sa.String()),
    sa.column("content", sa.Text()),
    sa.column("content_html", sa.Text()),
    sa.column("slug", sa.String()),
    sa.column("reading_minutes", sa.Integer()),
    sa.column("date_posted", sa.DateTime(timezone=True)),
    sa.column("changed_at", sa.DateTime(timezone=True)),
)


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _drop_triggers(triggers: Sequence[tuple[str, ...]]) -> None:
    for name, *_rest in triggers:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON posts" if _postgresql() else ""))


def _create_triggers(triggers: Sequence[tuple[str, str, str | None]]) -> None:
    for name, event, condition in triggers:
        if _postgresql():
            # Row triggers, so the condition can read the row (0004's fired per statement).
            scope = "FOR EACH ROW" if condition else "FOR EACH STATEMENT"
            when = f" WHEN ({condition})" if condition else ""
            op.execute(
                f"CREATE TRIGGER {name} AFTER {event} ON posts {scope}{when} "
                "EXECUTE FUNCTION bump_content_version()"
            )
        else:
            when = f" WHEN {condition}" if condition else ""
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON posts{when} BEGIN {BUMP}; END")


def _rebuild() -> dict[str, object]:
    """On SQLite a column's nullability changes only by rebuilding the table: keep
    AUTOINCREMENT (0002) when it is."""
    if _postgresql():
        return {}
    return {"recreate": "always", "table_kwargs": {"sqlite_autoincrement": True}}


def upgrade() -> None:
    _drop_triggers(OLD_TRIGGERS)
    with op.batch_alter_table("posts", **_rebuild()) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(10), nullable=False, server_default="published")
        )
        batch_op.add_column(sa.Column("slug", sa.String(80), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("slug_fixed", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("summary", sa.String(300), nullable=True))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("reading_minutes", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.alter_column(
            "date_posted", existing_type=sa.DateTime(timezone=True), nullable=True
        )
        batch_op.drop_index("ix_posts_date_posted_id")
        batch_op.drop_index("ix_posts_user_id_date_posted_id")

    connection = op.get_bind()
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(posts.c.id, posts.c.title, posts.c.content)
            .where(posts.c.id > last_id)
            .order_by(posts.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        updates = []
        for row in rows:
            # Rendered again: existing posts get highlighted code, task lists, footnotes
            # and heading ids too (no uploaded image existed before this revision).
            html = render_html(row.content)
            updates.append(
                {
                    "post_id": row.id,
                    "slug": slug_for_title(row.title),
                    "content_html": html,
                    "reading_minutes": reading_minutes(html),
                }
            )
        connection.execute(posts.update().where(posts.c.id == sa.bindparam("post_id")), updates)
        last_id = rows[-1].id
    connection.execute(posts.update().values(changed_at=posts.c.date_posted))

    with op.batch_alter_table("posts", **_rebuild()) as batch_op:
        batch_op.alter_column(
            "changed_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        for column in ("status", "slug", "slug_fixed", "reading_minutes"):
            batch_op.alter_column(column, server_default=None)
        batch_op.create_index(
            "ix_posts_status_date_posted_id", ["status", "date_posted", "id"], unique=False
        )
        batch_op.create_index(
            "ix_posts_user_id_status_date_posted_id",
            ["user_id", "status", "date_posted", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_posts_user_id_changed_at_id", ["user_id", "changed_at", "id"], unique=False
        )
    _create_triggers(NEW_TRIGGERS)

    op.create_table(
        "media_images",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index("ix_media_images_user_id", "media_images", ["user_id"], unique=False)
    op.create_index("ix_media_images_created_at", "media_images", ["created_at"], unique=False)
    op.create_table(
        "post_images",
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(["post_id"], ["posts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("post_id", "name"),
    )
    op.create_index("ix_post_images_name", "post_images", ["name"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_post_images_name", table_name="post_images")
    op.drop_table("post_images")
    op.drop_index("ix_media_images_created_at", table_name="media_images")
    op.drop_index("ix_media_images_user_id", table_name="media_images")
    op.drop_table("media_images")
    _drop_triggers(NEW_TRIGGERS)
    # Only published posts existed before this revision: the others are dropped.
    op.execute("DELETE FROM posts WHERE status <> 'published'")
    with op.batch_alter_table("posts", **_rebuild()) as batch_op:
        batch_op.drop_index("ix_posts_user_id_changed_at_id")
        batch_op.drop_index("ix_posts_user_id_status_date_posted_id")
        batch_op.drop_index("ix_posts_status_date_posted_id")
        batch_op.alter_column(
            "date_posted", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        for column in (
            "reading_minutes",
            "changed_at",
            "updated_at",
            "summary",
            "slug_fixed",
            "slug",
            "status",
        ):
            batch_op.drop_column(column)
        batch_op.create_index("ix_posts_date_posted_id", ["date_posted", "id"], unique=False)
        batch_op.create_index(
            "ix_posts_user_id_date_posted_id", ["user_id", "date_posted", "id"], unique=False
        )
    _create_triggers([(name, event, None) for name, event in OLD_TRIGGERS])
