"""Comments as rows: who may write, see, change and moderate them, and pages of them.

- Who writes: a signed-in account with a verified email (403 `email_not_verified`),
  not suspended (403 `account_suspended`), on a published post (else 404) whose
  comments are open (403 `comments_closed`), at most `COMMENTS_PER_MINUTE` and
  `COMMENTS_PER_DAY` (429 `comment_limit`).
- Replies go one level deep: a reply to a reply attaches to its top-level comment.
- Spam: an account's comments wait for approval (`pending`) by the post's author or an
  admin until one of them has been approved (`users.comments_approved`); the post's
  author and admins publish at once.
- Who sees what: published comments and deleted placeholders, everyone; a pending one,
  its author, the post's author and admins; anything by a suspended account, admins
  alone (and replies to a comment one may not see are not shown either).
- A deleted comment with replies stays as a placeholder (`deleted`: no author, no
  text), so the thread still reads; without replies it goes, and so does a placeholder
  whose last reply goes.

Pages show comments, so the content version moves with every change of a visible one,
and `posts.comment_count` follows: database triggers, migration 0018.
"""

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import status
from sqlalchemy import ColumnElement, Select, and_, delete, exists, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, contains_eager, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from accounts import rate_limits
from admin.actions import Action, record
from comments import notifications
from config import get_settings
from content.markdown_render import render_comment_off_loop
from content.pagination import Position, encode_cursor
from database import rows_changed
from errors.domain import DomainError
from models import (
    COMMENT_MAX,
    Comment,
    CommentReport,
    CommentStatus,
    Post,
    PostStatus,
    User,
    utcnow,
)

# Placeholders and published comments are on pages; pending ones never are.
VISIBLE_STATUSES = (CommentStatus.PUBLISHED, CommentStatus.DELETED)
COMMENT_LIMIT = "comment_limit"
COMMENT_LIMIT_DETAIL = "Too many comments from this account; try again later"
NEWLINES = ("\r\n", "\r")


# --- Refusals ---------------------------------------------------------------------


def _comment_not_found() -> DomainError:
    return DomainError(status.HTTP_404_NOT_FOUND, "comment_not_found", "Comment not found")


def _post_not_found() -> DomainError:
    return DomainError(status.HTTP_404_NOT_FOUND, "post_not_found", "Post not found")


def check_content(text: str) -> str:
    """The comment as stored: newlines made `\\n`, white space around it dropped; 422
    with a code of its own if it is empty, too long or holds control characters."""
    for newline in NEWLINES:
        text = text.replace(newline, "\n")
    text = text.strip()
    if not text:
        raise DomainError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "comment_empty", "The comment is empty"
        )
    if len(text) > COMMENT_MAX:
        raise DomainError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "comment_too_long",
            f"A comment is at most {COMMENT_MAX:,} characters; this one has {len(text):,}",
        )
    if any(unicodedata.category(c) in ("Cc", "Cs") and c not in "\n\t" for c in text):
        raise DomainError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "comment_invalid_characters",
            "A comment may not contain control characters (newlines and tabs are fine)",
        )
    return text


def ensure_may_write(user: User) -> None:
    """A verified, unsuspended account: anyone else's words are not taken."""
    if user.suspended_at is not None:
        raise DomainError(
            status.HTTP_403_FORBIDDEN, "account_suspended", "This account is suspended"
        )
    if not user.email_verified:
        raise DomainError(
            status.HTTP_403_FORBIDDEN,
            "email_not_verified",
            "Verify your email address to comment (the link is in your mail)",
        )


def ensure_admin(user: User) -> None:
    if not user.is_admin:
        raise DomainError(status.HTTP_403_FORBIDDEN, "admin_required", "Only admins may do this")


# --- Who sees what ----------------------------------------------------------------


def _visible(
    comment: type[Comment],
    author: type[User],
    post_author_id: ColumnElement[int],
    viewer: User | None,
) -> ColumnElement[bool]:
    """Whether `viewer` may see `comment` (written by `author`, outer-joined: None for a
    placeholder) on a post by `post_author_id`."""
    if viewer is not None and viewer.is_admin:
        return comment.id.is_not(None)
    not_suspended = author.suspended_at.is_(None)
    public = and_(comment.status.in_(VISIBLE_STATUSES), not_suspended)
    if viewer is None:
        return public
    entitled = or_(comment.user_id == viewer.id, post_author_id == viewer.id)
    return or_(public, and_(comment.status == CommentStatus.PENDING, not_suspended, entitled))


def _visible_with_parent(viewer: User | None) -> tuple[Select[Comment], ColumnElement[bool]]:
    """Comments with their authors, and the condition that `viewer` may see each and its
    parent (a reply to a comment one may not see has no context, and is hidden too)."""
    author = aliased(User)
    parent = aliased(Comment)
    parent_author = aliased(User)
    query = (
        select(Comment)
        .join(Post, Post.id == Comment.post_id)
        .outerjoin(author, author.id == Comment.user_id)
        .outerjoin(parent, parent.id == Comment.parent_id)
        .outerjoin(parent_author, parent_author.id == parent.user_id)
        .options(contains_eager(Comment.author.of_type(author)))  # the join above
    )
    condition = and_(
        _visible(Comment, author, Post.user_id, viewer),  # type: ignore[arg-type]
        or_(
            Comment.parent_id.is_(None),
            _visible(parent, parent_author, Post.user_id, viewer),  # type: ignore[arg-type]
        ),
    )
    return query, condition


async def _visible_comment(session: AsyncSession, comment_id: int, viewer: User | None) -> Comment:
    """The comment if `viewer` may see it (and its post): else 404."""
    query, condition = _visible_with_parent(viewer)
    comment = await session.scalar(
        query.where(Comment.id == comment_id, condition, Post.status == PostStatus.PUBLISHED)
    )
    if comment is None:
        raise _comment_not_found()
    return comment


async def _published_post(session: AsyncSession, post_id: int) -> Post:
    post = await session.get(Post, post_id)
    if post is None or not post.is_published:
        raise _post_not_found()
    return post


# --- Pages ------------------------------------------------------------------------


@dataclass(frozen=True)
class PageOfComments:
    comments: list[Comment]
    next_cursor: str | None


async def _page(session: AsyncSession, query: Select[Comment], limit: int) -> PageOfComments:
    """Oldest first from where the cursor left off, one row more read to know if a
    next page exists (content/pagination.py's signed cursors)."""
    rows = list(
        await session.scalars(query.order_by(Comment.created_at, Comment.id).limit(limit + 1))
    )
    if len(rows) <= limit:
        return PageOfComments(rows, None)
    last = rows[limit - 1]
    return PageOfComments(rows[:limit], encode_cursor(Position(last.created_at, last.id)))


def _after(query: Select[Comment], after: Position | None) -> Select[Comment]:
    if after is None:
        return query
    return query.where(tuple_(Comment.created_at, Comment.id) > tuple(after))


async def list_comments(
    session: AsyncSession,
    *,
    post: Post,
    viewer: User | None,
    after: Position | None,
    limit: int,
) -> PageOfComments:
    """A post's comments that `viewer` may see, oldest first (replies among them, each
    naming its `parent_id`)."""
    query, condition = _visible_with_parent(viewer)
    query = query.where(Comment.post_id == post.id, condition)
    return await _page(session, _after(query, after), limit)


async def pending_comments(
    session: AsyncSession, *, viewer: User, after: Position | None, limit: int
) -> PageOfComments:
    """Comments waiting for approval: on `viewer`'s posts, or all of them for an admin."""
    author = aliased(User)
    query = (
        select(Comment)
        .join(Post, Post.id == Comment.post_id)
        .join(author, author.id == Comment.user_id)
        .options(contains_eager(Comment.author.of_type(author)))
        .where(Comment.status == CommentStatus.PENDING, Post.status == PostStatus.PUBLISHED)
    )
    if not viewer.is_admin:
        query = query.where(Post.user_id == viewer.id, author.suspended_at.is_(None))
    return await _page(session, _after(query, after), limit)


# Threads on the post page (its HTML is cached and the same for everyone).
THREADS_PER_PAGE = 50


@dataclass(frozen=True)
class Thread:
    comment: Comment
    replies: list[Comment]


@dataclass(frozen=True)
class PageOfThreads:
    threads: list[Thread]
    next_cursor: str | None


async def public_threads(
    session: AsyncSession, *, post: Post, after: Position | None, limit: int = THREADS_PER_PAGE
) -> PageOfThreads:
    """What everyone may see of a post's comments, as the post page shows them: a page
    of top-level comments oldest first, each with its replies (oldest first), whatever
    the page's size in two statements. A placeholder none of whose replies may be seen
    is left out (it would say nothing)."""
    query, condition = _visible_with_parent(None)
    top = query.where(Comment.post_id == post.id, Comment.parent_id.is_(None), condition)
    page = await _page(session, _after(top, after), limit)
    replies: dict[int, list[Comment]] = {comment.id: [] for comment in page.comments}
    if replies:
        rows = await session.scalars(
            query.where(Comment.parent_id.in_(list(replies)), condition).order_by(
                Comment.created_at, Comment.id
            )
        )
        for reply in rows:
            assert reply.parent_id is not None
            replies[reply.parent_id].append(reply)
    threads = [
        Thread(comment, replies[comment.id])
        for comment in page.comments
        if comment.status != CommentStatus.DELETED or replies[comment.id]
    ]
    return PageOfThreads(threads, page.next_cursor)


@dataclass(frozen=True)
class ReportedComment:
    comment: Comment
    reports: list[CommentReport]


async def reported_comments(
    session: AsyncSession, *, viewer: User, after: Position | None, limit: int
) -> tuple[list[ReportedComment], str | None]:
    """Comments someone reported (admins only), oldest first, each with its reports:
    two queries for a page, whatever its size."""
    ensure_admin(viewer)
    query = (
        select(Comment)
        .options(joinedload(Comment.author))
        .where(exists().where(CommentReport.comment_id == Comment.id))
    )
    page = await _page(session, _after(query, after), limit)
    ids = [comment.id for comment in page.comments]
    reports: dict[int, list[CommentReport]] = {comment_id: [] for comment_id in ids}
    if ids:
        rows = await session.scalars(
            select(CommentReport)
            .options(joinedload(CommentReport.reporter))
            .where(CommentReport.comment_id.in_(ids))
            .order_by(CommentReport.created_at, CommentReport.id)
        )
        for report in rows:
            reports[report.comment_id].append(report)
    found = [ReportedComment(comment, reports[comment.id]) for comment in page.comments]
    return found, page.next_cursor


# --- Writing ----------------------------------------------------------------------


async def _spend(session: AsyncSession, user: User) -> None:
    settings = get_settings()
    await rate_limits.spend(
        session,
        {
            f"comment-minute:{user.id}": rate_limits.Limit(
                settings.comments_per_minute, rate_limits.MINUTE
            ),
            f"comment-day:{user.id}": rate_limits.Limit(settings.comments_per_day, rate_limits.DAY),
        },
        code=COMMENT_LIMIT,
        detail=COMMENT_LIMIT_DETAIL,
    )


async def _top_level_parent(
    session: AsyncSession, post: Post, parent_id: int, author: User
) -> Comment:
    """The comment a reply attaches to: the parent itself, or its own parent when it is
    a reply (one level). 422 `comment_parent_invalid` for an unknown one, another
    post's, or one not published."""
    try:
        parent: Comment | None = await _visible_comment(session, parent_id, author)
    except DomainError:
        parent = None
    if parent is not None and parent.parent_id is not None:
        parent = await session.get(Comment, parent.parent_id)
    if parent is None or parent.post_id != post.id or parent.status != CommentStatus.PUBLISHED:
        raise DomainError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "comment_parent_invalid",
            "parent_id must name a published comment on this post",
        )
    return parent


async def create_comment(
    session: AsyncSession,
    *,
    post_id: int,
    author: User,
    content: str,
    parent_id: int | None = None,
) -> Comment:
    """A new comment (or reply) by `author`: published at once for the post's author,
    admins and accounts with an approved comment, else pending. Mails the post's author
    and, for a published reply, the comment replied to's (comments/notifications.py)."""
    ensure_may_write(author)
    text = check_content(content)
    post = await _published_post(session, post_id)
    if not post.comments_enabled:
        raise DomainError(
            status.HTTP_403_FORBIDDEN, "comments_closed", "This post takes no new comments"
        )
    parent = None
    if parent_id is not None:
        parent = await _top_level_parent(session, post, parent_id, author)
    # Rendered before the first write: nothing but the database may be awaited while a
    # write transaction is open (web/inline_sqlite.py), and spending the limit writes.
    html = await render_comment_off_loop(text)
    await _spend(session, author)
    trusted = author.comments_approved or author.is_admin or author.id == post.user_id
    comment = Comment(
        post_id=post.id,
        parent_id=parent.id if parent else None,
        user_id=author.id,
        content=text,
        content_html=html,
        status=CommentStatus.PUBLISHED if trusted else CommentStatus.PENDING,
        created_at=utcnow(),
    )
    session.add(comment)
    await session.flush()
    # The signed-in user is detached (auth.py): shown as the author, never attached.
    set_committed_value(comment, "author", author)
    await notifications.queue_new_comment(session, post=post, comment=comment, parent=parent)
    return comment


async def edit_comment(
    session: AsyncSession, *, comment_id: int, user: User, content: str
) -> Comment:
    """Its author's new text (shown as edited: `updated_at`)."""
    ensure_may_write(user)
    comment = await _visible_comment(session, comment_id, user)
    if comment.user_id != user.id:
        raise DomainError(
            status.HTTP_403_FORBIDDEN, "not_your_comment", "Only its author may edit a comment"
        )
    text = check_content(content)
    if text != comment.content:
        comment.content_html = await render_comment_off_loop(text)
        comment.content = text
        comment.updated_at = utcnow()
    return comment


async def _has_replies(
    session: AsyncSession, comment_id: int, *, other_than: int | None = None
) -> bool:
    query = select(Comment.id).where(Comment.parent_id == comment_id)
    if other_than is not None:
        query = query.where(or_(Comment.user_id.is_(None), Comment.user_id != other_than))
    return await session.scalar(query.limit(1)) is not None


def _make_placeholder(comment: Comment) -> None:
    comment.status = CommentStatus.DELETED
    comment.content = ""
    comment.content_html = ""
    comment.user_id = None
    set_committed_value(comment, "author", None)
    comment.updated_at = None


def _record_moderation(
    session: AsyncSession, admin: User, action: Action, comment: Comment, post: Post
) -> None:
    """An admin moderating a comment on someone else's post, in the admin-actions log
    (in the action's transaction); the comment's words are kept, since a deleted one
    is gone after."""
    detail = f"comment {comment.id} on post {post.id} ({post.title}): {comment.content}"
    record(session, actor=admin, action=action, target=comment.author, detail=detail)


async def delete_comment(session: AsyncSession, *, comment_id: int, user: User) -> None:
    """By its author, the post's author or an admin: a placeholder if it has replies,
    else gone (and its parent too if that was a placeholder left with no reply)."""
    comment = await _visible_comment(session, comment_id, user)
    # A placeholder is what is left of a deleted comment: gone, whoever asks.
    if comment.status == CommentStatus.DELETED:
        raise _comment_not_found()
    post = await session.get(Post, comment.post_id)
    assert post is not None
    if user.id not in (comment.user_id, post.user_id):
        if not user.is_admin:
            raise DomainError(
                status.HTTP_403_FORBIDDEN,
                "not_your_comment",
                "Only its author, the post's author or an admin may delete a comment",
            )
        _record_moderation(session, user, Action.DELETE_COMMENT, comment, post)
    if comment.parent_id is None and await _has_replies(session, comment.id):
        _make_placeholder(comment)
        await session.execute(delete(CommentReport).where(CommentReport.comment_id == comment.id))
        return
    parent_id = comment.parent_id
    await session.delete(comment)
    await session.flush()
    if parent_id is not None:
        await _remove_bare_placeholders(session, [parent_id])


async def _remove_bare_placeholders(session: AsyncSession, ids: Sequence[int]) -> None:
    """Placeholders among `ids` whose last reply went."""
    reply = aliased(Comment)
    await session.execute(
        delete(Comment)
        .where(
            Comment.id.in_(ids),
            Comment.status == CommentStatus.DELETED,
            ~exists().where(reply.parent_id == Comment.id),
        )
        .execution_options(synchronize_session=False)
    )


async def approve_comment(session: AsyncSession, *, comment_id: int, user: User) -> None:
    """The post's author or an admin publishes a pending comment, and its author's next
    comments publish at once. Approving a published one changes nothing."""
    comment = await _visible_comment(session, comment_id, user)
    post = await session.get(Post, comment.post_id)
    assert post is not None
    if user.id != post.user_id and not user.is_admin:
        raise DomainError(
            status.HTTP_403_FORBIDDEN,
            "not_a_moderator",
            "Only the post's author or an admin may approve its comments",
        )
    if comment.status == CommentStatus.PUBLISHED:
        return
    if comment.status != CommentStatus.PENDING:
        raise _comment_not_found()
    comment.status = CommentStatus.PUBLISHED
    if user.id != post.user_id:
        _record_moderation(session, user, Action.APPROVE_COMMENT, comment, post)
    author = await session.get(User, comment.user_id) if comment.user_id else None
    if author is not None:
        author.comments_approved = True
    if comment.parent_id is not None:
        parent = await session.get(Comment, comment.parent_id)
        if parent is not None:
            await notifications.queue_reply(session, post=post, comment=comment, parent=parent)


async def report_comment(
    session: AsyncSession, *, comment_id: int, user: User, reason: str
) -> None:
    """Once per account and comment (409 `already_reported` after); never one's own
    (422 `cannot_report_own_comment`)."""
    comment = await _visible_comment(session, comment_id, user)
    if comment.status == CommentStatus.DELETED:
        raise _comment_not_found()
    if comment.user_id == user.id:
        raise DomainError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "cannot_report_own_comment",
            "You cannot report your own comment; edit or delete it instead",
        )
    session.add(CommentReport(comment_id=comment.id, user_id=user.id, reason=reason))
    try:
        await session.flush()
    except IntegrityError:
        raise DomainError(
            status.HTTP_409_CONFLICT, "already_reported", "You reported this comment already"
        ) from None


async def dismiss_reports(session: AsyncSession, *, comment_id: int, user: User) -> None:
    """An admin clears a comment's reports and keeps the comment (it leaves the list
    of reported ones), in the admin-actions log when there was something to clear."""
    ensure_admin(user)
    comment = await _visible_comment(session, comment_id, user)
    cleared = await rows_changed(
        session, delete(CommentReport).where(CommentReport.comment_id == comment.id)
    )
    if cleared:
        post = await session.get(Post, comment.post_id)
        assert post is not None
        _record_moderation(session, user, Action.DISMISS_REPORTS, comment, post)


async def delete_account_comments(session: AsyncSession, user_id: int) -> None:
    """Before an account is deleted: its comments that others replied to become
    placeholders, the rest go (explicitly, while the account's row still says whether
    they were counted), and placeholders left with no reply go too."""
    reply = aliased(Comment)
    keep = list(
        await session.scalars(
            select(Comment.id).where(
                Comment.user_id == user_id,
                Comment.parent_id.is_(None),
                exists().where(
                    reply.parent_id == Comment.id,
                    or_(reply.user_id.is_(None), reply.user_id != user_id),
                ),
            )
        )
    )
    parents = list(
        await session.scalars(
            select(Comment.parent_id)
            .where(Comment.user_id == user_id, Comment.parent_id.is_not(None))
            .distinct()
        )
    )
    for comment in await session.scalars(select(Comment).where(Comment.id.in_(keep))):
        _make_placeholder(comment)
    await session.flush()
    await session.execute(delete(CommentReport).where(CommentReport.comment_id.in_(keep)))
    await session.execute(
        delete(Comment)
        .where(Comment.user_id == user_id, Comment.parent_id.is_not(None))
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        delete(Comment)
        .where(Comment.user_id == user_id)
        .execution_options(synchronize_session=False)
    )
    await _remove_bare_placeholders(session, [p for p in parents if p is not None])
