"""Who may read a post: the one predicate every public read filters on.

A post is on the site while it is published and its author is not suspended. Whether
the author is suspended is copied into the post's own row (`posts.author_suspended`,
kept exact by migration 0017's triggers on `users.suspended_at` and on new posts), so
the listings, counts, feeds, search and neighbours filter on a column of the row they
read anyway, walking the same `(status, date_posted, id)` indexes, with no join to
users and no statement more. Admins still reach a suspended author's posts through
the API (content/posts.py's `get_post_or_404`, the admin's listing of an account).
"""

from sqlalchemy import ColumnElement, and_, false

from models import Post, PostStatus, User


def on_site() -> ColumnElement[bool]:
    """Published, and by an author who is not suspended."""
    return and_(Post.status == PostStatus.PUBLISHED, Post.author_suspended == false())


def published() -> ColumnElement[bool]:
    """Published, whoever wrote it: what an admin may read."""
    return Post.status == PostStatus.PUBLISHED


# The same condition as raw SQL, for the one query written as text (SQLite's search).
ON_SITE_SQL = "posts.status = 'published' AND posts.author_suspended = 0"


def may_read(post: Post, viewer: User | None) -> bool:
    """Whether `viewer` (None for a guest) may read `post`: anyone a post on the site,
    an admin any published post, the author every post of theirs."""
    if viewer is not None and viewer.id == post.user_id:
        return True
    if not post.is_published:
        return False
    return not post.author_suspended or (viewer is not None and viewer.is_admin)
