"""PostgreSQL: keep `posts.search_vector` in the row, not in TOAST.

A post's row (title, content, its HTML, `search_text` and the vector) passes the 2 kB
at which PostgreSQL moves its largest values out of line, and the vector was the one
moved: ranking a common word then fetched thousands of vectors from the TOAST table,
one index lookup each (37 ms for 5,000 matches in 10,000 posts, against 16 ms with the
vectors in the rows; bench/run.py --only search, README "Search"). Storage `MAIN`
makes PostgreSQL compress the vector and move the other columns out first; a vector
too large for a page still goes out of line, as it must.

Existing rows are rewritten (a no-op update recomputes the generated column) so the
new storage applies to them too; SQLite has nothing to change.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 18:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE posts ALTER COLUMN search_vector SET STORAGE MAIN")
    op.execute("UPDATE posts SET search_text = search_text WHERE status = 'published'")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE posts ALTER COLUMN search_vector SET STORAGE EXTENDED")
