"""Full-text search over published posts (content/search.py).

Posts get `search_text`, the words a reader sees (markdown_render.plain_text of the
HTML), written by the app with the content. The index is kept by the database itself,
in the same transaction as every write of `posts`:

- SQLite: `posts_fts`, an FTS5 table over `posts` (external content: it stores only the
  index), tokenizer unicode61 with `remove_diacritics 2` (accents fold), kept by
  triggers that index a post only while it is published.
- PostgreSQL: `posts.search_vector`, a generated `tsvector` (title weight A, text
  weight B; NULL unless published) with a GIN index. Accents fold through `unaccent`
  when the server has it, else through `translate` over the accented Latin letters.

Neither touches what the ORM knows of `posts` beyond `search_text`, so autogenerate
leaves them alone (database.py's `include_name`). A later migration that rebuilds
`posts` on SQLite (batch "recreate") drops these triggers and must make them again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 16:45:00
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from content.markdown_render import plain_text

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 500
FTS_COLUMNS = "title, search_text"
# Constants only (no input reaches these statements).
SQLITE_TRIGGERS = {
    "posts_fts_insert": (
        "AFTER INSERT ON posts WHEN NEW.status = 'published' BEGIN "  # noqa: S608
        f"INSERT INTO posts_fts (rowid, {FTS_COLUMNS}) "
        "VALUES (NEW.id, NEW.title, NEW.search_text); END"
    ),
    "posts_fts_delete": (
        "AFTER DELETE ON posts WHEN OLD.status = 'published' BEGIN "  # noqa: S608
        f"INSERT INTO posts_fts (posts_fts, rowid, {FTS_COLUMNS}) "
        "VALUES ('delete', OLD.id, OLD.title, OLD.search_text); END"
    ),
    # One trigger, so the old entry always goes before the new one comes.
    "posts_fts_update": (
        "AFTER UPDATE OF title, search_text, status ON posts BEGIN "
        f"INSERT INTO posts_fts (posts_fts, rowid, {FTS_COLUMNS}) "
        "SELECT 'delete', OLD.id, OLD.title, OLD.search_text WHERE OLD.status = 'published'; "
        f"INSERT INTO posts_fts (rowid, {FTS_COLUMNS}) "
        "SELECT NEW.id, NEW.title, NEW.search_text WHERE NEW.status = 'published'; END"
    ),
}


def _accent_table() -> tuple[str, str]:
    """Accented Latin letters and their bare forms, for `translate` when PostgreSQL has
    no `unaccent`."""
    accented, bare = [], []
    for code in range(0xC0, 0x250):
        letter = chr(code)
        base = "".join(
            c for c in unicodedata.normalize("NFKD", letter) if not unicodedata.combining(c)
        )
        if len(base) == 1 and base != letter and base.isalpha():
            accented.append(letter)
            bare.append(base)
    return "".join(accented), "".join(bare)


posts = sa.table(
    "posts",
    sa.column("id", sa.Integer()),
    sa.column("content_html", sa.Text()),
    sa.column("search_text", sa.Text()),
)


def _fill_search_text() -> None:
    connection = op.get_bind()
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(posts.c.id, posts.c.content_html)
            .where(posts.c.id > last_id)
            .order_by(posts.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        connection.execute(
            posts.update().where(posts.c.id == sa.bindparam("post_id")),
            [{"post_id": row.id, "search_text": plain_text(row.content_html)} for row in rows],
        )
        last_id = rows[-1].id


def _postgresql_unaccent() -> str:
    """The body of inkwell_unaccent(text): `unaccent` if the server has it."""
    connection = op.get_bind()
    try:
        with connection.begin_nested():
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
        schema = connection.exec_driver_sql(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
            "WHERE e.extname = 'unaccent'"
        ).scalar_one()
        return f"SELECT {schema}.unaccent('{schema}.unaccent'::regdictionary, $1)"
    except sa.exc.DBAPIError:
        accented, bare = _accent_table()
        return f"SELECT translate($1, '{accented}', '{bare}')"


def upgrade() -> None:
    # A plain ADD COLUMN on both databases: no rebuild of `posts` (its triggers stay).
    op.add_column("posts", sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
    _fill_search_text()
    op.create_index(
        "ix_posts_id_status_date_posted", "posts", ["id", "status", "date_posted"], unique=False
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION inkwell_unaccent(text) RETURNS text LANGUAGE sql IMMUTABLE "
            f"PARALLEL SAFE STRICT AS $${_postgresql_unaccent()}$$"
        )
        # Words only, as FTS5's unicode61 sees them: "example.com" is two words, not a host.
        op.execute(
            "CREATE FUNCTION inkwell_search_words(text) RETURNS text LANGUAGE sql IMMUTABLE "
            "PARALLEL SAFE STRICT AS "
            "$$SELECT regexp_replace(inkwell_unaccent($1), '[^[:alnum:]]+', ' ', 'g')$$"
        )
        op.execute(
            "ALTER TABLE posts ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
            "CASE WHEN status = 'published' THEN "
            "setweight(to_tsvector('simple'::regconfig, inkwell_search_words(title)), 'A') || "
            "setweight(to_tsvector('simple'::regconfig, inkwell_search_words(search_text)), 'B') "
            "END) STORED"
        )
        op.execute("CREATE INDEX ix_posts_search_vector ON posts USING gin (search_vector)")
        return
    op.execute(
        f"CREATE VIRTUAL TABLE posts_fts USING fts5({FTS_COLUMNS}, content='posts', "
        "content_rowid='id', tokenize='unicode61 remove_diacritics 2')"
    )
    op.execute(
        f"INSERT INTO posts_fts (rowid, {FTS_COLUMNS}) "  # noqa: S608
        "SELECT id, title, search_text FROM posts WHERE status = 'published'"
    )
    for name, body in SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    op.drop_index("ix_posts_id_status_date_posted", table_name="posts")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_posts_search_vector")
        op.execute("ALTER TABLE posts DROP COLUMN search_vector")
        op.execute("DROP FUNCTION inkwell_search_words(text)")
        op.execute("DROP FUNCTION inkwell_unaccent(text)")
        op.drop_column("posts", "search_text")
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
    op.execute("DROP TABLE posts_fts")
    # SQLite 3.35+ drops a column in place (no rebuild, the other triggers stay).
    op.execute("ALTER TABLE posts DROP COLUMN search_text")
