"""Posts are Markdown: keep each post's rendered, sanitised HTML beside its source
(content/markdown_render.py), so pages and feeds never render on a read.

Existing posts are rendered here, with the renderer of this revision's code. The
column is added with ALTER TABLE ADD COLUMN on both databases, never through a batch
rebuild: on SQLite a rebuild of `posts` would drop the content-version triggers of
0004. SQLite's ADD COLUMN needs a default for a NOT NULL column, so there the empty
default stays (dropping it would take that very rebuild); the model always writes
the column, and on PostgreSQL the default is dropped once the rows are filled.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from content.markdown_render import render_html

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Rows rendered and written per round trip.
BATCH = 500

posts = sa.table(
    "posts",
    sa.column("id", sa.Integer()),
    sa.column("content", sa.Text()),
    sa.column("content_html", sa.Text()),
)


def upgrade() -> None:
    op.add_column("posts", sa.Column("content_html", sa.Text(), nullable=False, server_default=""))
    connection = op.get_bind()
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(posts.c.id, posts.c.content)
            .where(posts.c.id > last_id)
            .order_by(posts.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        connection.execute(
            posts.update().where(posts.c.id == sa.bindparam("post_id")),
            [{"post_id": row.id, "content_html": render_html(row.content)} for row in rows],
        )
        last_id = rows[-1].id
    if connection.dialect.name == "postgresql":
        op.alter_column("posts", "content_html", server_default=None)


def downgrade() -> None:
    # DROP COLUMN (SQLite 3.35+) leaves the table and its triggers in place.
    op.drop_column("posts", "content_html")
