"""Tag pages that cost the same at any depth, for any tag: each `post_tags` row carries
its post's publication time while the post is published (NULL otherwise), and the
index (tag, date_posted, post_id) walks one tag's posts newest first.

Without it a tag page walked every published post newest first and kept those with the
tag: a tag on 5 of 20,000 posts took 7.7 ms on SQLite, and ten times that at ten times
the posts. The column is the database's to keep, like the search index (0012): a
trigger fills it when a tag is added and another follows the post's status and date,
whoever writes them (the app, the scheduler, `seed.py`, an operator's SQL).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 19:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PUBLISHED_DATE = "CASE WHEN status = 'published' THEN date_posted END"
NEW_PUBLISHED_DATE = "CASE WHEN NEW.status = 'published' THEN NEW.date_posted END"
# Constants only (no input reaches these statements).
SQLITE = [
    "CREATE TRIGGER post_tags_take_date AFTER INSERT ON post_tags BEGIN "  # noqa: S608
    f"UPDATE post_tags SET date_posted = (SELECT {PUBLISHED_DATE} FROM posts "
    "WHERE posts.id = NEW.post_id) WHERE post_id = NEW.post_id AND tag = NEW.tag; END",
    "CREATE TRIGGER posts_give_tag_dates AFTER UPDATE OF status, date_posted ON posts BEGIN "  # noqa: S608
    f"UPDATE post_tags SET date_posted = {NEW_PUBLISHED_DATE} WHERE post_id = NEW.id; END",
]
POSTGRESQL = [
    "CREATE FUNCTION post_tags_take_date() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "  # noqa: S608
    f"SELECT {PUBLISHED_DATE} INTO NEW.date_posted FROM posts WHERE id = NEW.post_id; "
    "RETURN NEW; END $$",
    "CREATE TRIGGER post_tags_take_date BEFORE INSERT ON post_tags "
    "FOR EACH ROW EXECUTE FUNCTION post_tags_take_date()",
    "CREATE FUNCTION posts_give_tag_dates() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "  # noqa: S608
    f"UPDATE post_tags SET date_posted = {NEW_PUBLISHED_DATE} WHERE post_id = NEW.id; "
    "RETURN NULL; END $$",
    "CREATE TRIGGER posts_give_tag_dates AFTER UPDATE OF status, date_posted ON posts "
    "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status "
    "OR OLD.date_posted IS DISTINCT FROM NEW.date_posted) "
    "EXECUTE FUNCTION posts_give_tag_dates()",
]


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.add_column("post_tags", sa.Column("date_posted", sa.DateTime(timezone=True)))
    op.execute(
        f"UPDATE post_tags SET date_posted = (SELECT {PUBLISHED_DATE} FROM posts "  # noqa: S608
        "WHERE posts.id = post_tags.post_id)"
    )
    op.drop_index("ix_post_tags_tag_post_id", table_name="post_tags")
    op.create_index(
        "ix_post_tags_tag_date_posted_post_id", "post_tags", ["tag", "date_posted", "post_id"]
    )
    for statement in POSTGRESQL if _postgresql() else SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if _postgresql():
        op.execute("DROP TRIGGER posts_give_tag_dates ON posts")
        op.execute("DROP TRIGGER post_tags_take_date ON post_tags")
        op.execute("DROP FUNCTION posts_give_tag_dates()")
        op.execute("DROP FUNCTION post_tags_take_date()")
    else:
        op.execute("DROP TRIGGER posts_give_tag_dates")
        op.execute("DROP TRIGGER post_tags_take_date")
    op.drop_index("ix_post_tags_tag_date_posted_post_id", table_name="post_tags")
    op.create_index("ix_post_tags_tag_post_id", "post_tags", ["tag", "post_id"])
    op.drop_column("post_tags", "date_posted")
