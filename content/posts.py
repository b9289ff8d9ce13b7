"""Posts as rows: their life cycle, who may see and change them, and pages of them.

A post is a draft, scheduled or published (models.PostStatus). Only published posts
are on the site: a draft or a scheduled post exists for its author alone, and to
anyone else it is 404 (not 403: nobody learns that it exists). Publishing sets the
publication date (`date_posted`) and fixes the slug; taking a post back to draft
clears the date; a change made while published sets `updated_at`. Scheduled posts are
made published at their time by content/scheduler.py.

An account creates at most POSTS_PER_HOUR posts (429 `post_limit`) and asks for at
most PREVIEWS_PER_MINUTE previews (429 `preview_limit`), counted in the database
(accounts/rate_limits.py) so the limits hold across workers: each costs a Markdown
rendering, and a post goes out to every reader and feed.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Response, status
from sqlalchemy import Select, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from accounts import rate_limits
from admin.actions import Action, record
from config import get_settings
from content.markdown_render import (
    ImageSizes,
    media_names,
    plain_text,
    reading_minutes,
    render_off_loop,
)
from content.pagination import PageOfPosts
from content.slugs import slug_for_title, slugify
from content.tags import normalise_tag
from content.visibility import may_read, on_site
from errors.domain import DomainError
from models import MediaImage, Post, PostImage, PostStatus, PostTag, User, utcnow
from schemas import PostPage

# What a change made while published shows as an update ("Updated <date>"; Atom's <updated>).
VISIBLE_FIELDS = ("title", "content", "summary")


def post_page_json(page: PageOfPosts) -> Response:
    """A page of posts as the API answers it (read while the session is open)."""
    body = PostPage.model_validate(
        {"items": page.posts, "next_cursor": page.next_cursor}, from_attributes=True
    )
    return Response(body.model_dump_json(), media_type="application/json")


def _not_found() -> DomainError:
    return DomainError(status.HTTP_404_NOT_FOUND, "post_not_found", "Post not found")


async def get_post_or_404(session: AsyncSession, post_id: int, viewer: User | None = None) -> Post:
    """The post if `viewer` may see it (content/visibility.py): anyone a post on the
    site, an admin a suspended author's too, only its author a draft or scheduled one."""
    post = await session.get(Post, post_id, options=[joinedload(Post.author)])
    if post is None or not may_read(post, viewer):
        raise _not_found()
    return post


async def get_own_post(session: AsyncSession, post_id: int, user: User, action: str) -> Post:
    """The post, if `user` may see it (404) and wrote it (403)."""
    post = await get_post_or_404(session, post_id, user)
    if post.user_id != user.id:
        raise _not_your_post(action)
    return post


def _not_your_post(action: str) -> DomainError:
    return DomainError(
        status.HTTP_403_FORBIDDEN, "not_your_post", f"Not authorized to {action} this post"
    )


async def delete_post(session: AsyncSession, *, post_id: int, user: User) -> None:
    """Delete a post: its author's, or any post `user` may see if an admin, which the
    admin-actions log records in the same transaction (with the title, since the post
    is gone after)."""
    post = await get_post_or_404(session, post_id, user)
    if post.user_id != user.id:
        if not user.is_admin:
            raise _not_your_post("delete")
        detail = f"post {post.id}: {post.title}"
        record(session, actor=user, action=Action.DELETE_POST, target=post.author, detail=detail)
    await session.delete(post)
    await session.commit()


async def get_author_or_404(session: AsyncSession, user_id: int) -> tuple[User, int]:
    """The author and how many posts they have published, in one query."""
    post_count = select(func.count()).where(Post.user_id == User.id, on_site()).scalar_subquery()
    row = (await session.execute(select(User, post_count).where(User.id == user_id))).first()
    if row is None:
        raise DomainError(status.HTTP_404_NOT_FOUND, "user_not_found", "User not found")
    return row[0], row[1]


@dataclass(frozen=True)
class Neighbour:
    """A post next to another in publication order: enough for a link."""

    id: int
    title: str
    slug: str

    @property
    def url(self) -> str:
        return f"/posts/{self.id}/{self.slug}"


def neighbour_query(here: tuple[datetime, int], *, older: bool) -> Select[int, str, str]:
    """The published post just before (`older`) or just after a (date_posted, id)
    position: one step along the (status, date_posted, id) index, no sort."""
    position = tuple_(Post.date_posted, Post.id)
    query = select(Post.id, Post.title, Post.slug).where(on_site())
    if older:
        query = query.where(position < here).order_by(Post.date_posted.desc(), Post.id.desc())
    else:
        query = query.where(position > here).order_by(Post.date_posted, Post.id)
    return query.limit(1)


async def neighbours(
    session: AsyncSession, post: Post
) -> tuple[Neighbour | None, Neighbour | None]:
    """The published posts just before (older) and just after (newer) a published
    post, by publication time: two indexed reads."""
    if post.date_posted is None:  # only a published post's page asks
        return None, None
    here = (post.date_posted, post.id)
    found: list[Neighbour | None] = []
    for older in (True, False):
        row = (await session.execute(neighbour_query(here, older=older))).first()
        found.append(Neighbour(row.id, row.title, row.slug) if row is not None else None)
    return found[0], found[1]


async def render_content(session: AsyncSession, content: str) -> tuple[str, ImageSizes]:
    """The content's HTML (rendered off the event loop) with the uploaded images it
    shows at their sizes, and those images."""
    names = media_names(content)
    sizes: ImageSizes = ()
    if names:
        # Not flushed first: a new post has no content yet (set_content gives it one).
        with session.no_autoflush:
            rows = await session.execute(
                select(MediaImage.name, MediaImage.width, MediaImage.height)
                .where(MediaImage.name.in_(names))
                .order_by(MediaImage.name)
            )
        sizes = tuple((name, width, height) for name, width, height in rows)
    return await render_off_loop(content, sizes), sizes


POST_LIMIT = "post_limit"
PREVIEW_LIMIT = "preview_limit"


async def preview(session: AsyncSession, *, author: User, content: str) -> str:
    """The content's HTML as publishing it would show it, within the author's
    PREVIEWS_PER_MINUTE (counted, and committed, before the rendering it pays for)."""
    per_minute = get_settings().previews_per_minute
    await rate_limits.spend(
        session,
        {f"preview:{author.id}": rate_limits.Limit(per_minute, rate_limits.MINUTE)},
        code=PREVIEW_LIMIT,
        detail=f"At most {per_minute} previews a minute; try again in a moment",
    )
    await session.commit()
    html, _sizes = await render_content(session, content)
    return html


async def set_content(session: AsyncSession, post: Post, content: str) -> None:
    """The one place a post's content is written: the source, its HTML, its reading
    time, and which uploaded images it uses (so the unused ones can be collected)."""
    html, sizes = await render_content(session, content)
    post.content = content
    post.content_html = html
    post.search_text = plain_text(html)  # what search indexes (content/search.py)
    post.reading_minutes = reading_minutes(html)
    if post.id is None:
        await session.flush()  # the id the links below need
    used = {name for name, _width, _height in sizes}
    linked = set(await session.scalars(select(PostImage.name).where(PostImage.post_id == post.id)))
    if linked - used:
        await session.execute(
            delete(PostImage).where(PostImage.post_id == post.id, PostImage.name.in_(linked - used))
        )
    session.add_all(PostImage(post_id=post.id, name=name) for name in sorted(used - linked))


def set_tags(post: Post, tags: list[str]) -> None:
    """The one place a post's tags are written: `tags` normalised (content/tags.py, by
    the schemas). Rows of tags kept stay as they are; the caller also writes the post's
    `changed_at`, so the posts row changes in the same transaction and its trigger
    bumps the content version when the post is (or was) published."""
    kept = {row.tag: row for row in post.tag_rows}
    post.tag_rows = [kept.get(tag) or PostTag(tag=tag) for tag in sorted(set(tags))]


def tag_not_found() -> DomainError:
    return DomainError(status.HTTP_404_NOT_FOUND, "tag_not_found", "No published post has this tag")


async def published_tag(session: AsyncSession, text: str) -> str:
    """`text` as a tag that some published post carries, or 404 (so is a tag that is no
    tag at all: it names no page)."""
    try:
        tag = normalise_tag(text)
    except ValueError:
        raise tag_not_found() from None
    used = await session.scalar(
        select(PostTag.post_id)
        .join(Post, Post.id == PostTag.post_id)
        .where(PostTag.tag == tag, on_site())
        .limit(1)
    )
    if used is None:
        raise tag_not_found()
    return tag


async def tag_counts(session: AsyncSession) -> list[tuple[str, int]]:
    """Tags on published posts and on how many, most used first (ties by name)."""
    count = func.count().label("count")
    rows = await session.execute(
        select(PostTag.tag, count)
        .join(Post, Post.id == PostTag.post_id)
        .where(on_site())
        .group_by(PostTag.tag)
        .order_by(count.desc(), PostTag.tag)
    )
    return [(tag, number) for tag, number in rows]


def _fix_slug(post: Post) -> None:
    """From its first publication (or scheduling) a post's address stays what it is."""
    if not post.slug_fixed:
        post.slug = slug_for_title(post.title)
        post.slug_fixed = True


def _publish(post: Post, now: datetime) -> None:
    _fix_slug(post)
    post.status = PostStatus.PUBLISHED
    post.date_posted = now
    post.updated_at = None


def _schedule(post: Post, at: datetime) -> None:
    _fix_slug(post)
    post.status = PostStatus.SCHEDULED
    post.date_posted = at
    post.updated_at = None


def _unpublish(post: Post) -> None:
    post.status = PostStatus.DRAFT
    post.date_posted = None
    post.updated_at = None


def _draft_and_schedule_conflict() -> DomainError:
    return DomainError(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        "schedule_conflict",
        'publish_at schedules the post: leave it out to keep a draft, or send status "published"',
    )


def _set_slug(post: Post, value: str) -> None:
    slug = slugify(value)
    if not slug:
        raise DomainError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "invalid_slug",
            "The slug needs at least one letter or digit",
        )
    post.slug = slug
    post.slug_fixed = True


async def create_post(
    session: AsyncSession,
    *,
    author: User,
    title: str,
    content: str,
    summary: str | None = None,
    status: str = PostStatus.PUBLISHED,
    publish_at: datetime | None = None,
    tags: list[str] | None = None,
    comments_enabled: bool = True,
    count_limit: bool = True,
) -> Post:
    """A new post: published now (the default), a draft, or scheduled for `publish_at`;
    taking comments unless `comments_enabled` is false. 429 `post_limit` past the
    author's POSTS_PER_HOUR, unless `count_limit` is false: an import
    (portability/importing.py) counts itself once, under its own limit."""
    if publish_at is not None and status == PostStatus.DRAFT:
        raise _draft_and_schedule_conflict()
    now = utcnow()
    post = Post(
        title=title,
        summary=summary or None,
        author=author,
        status=PostStatus.DRAFT,
        slug=slug_for_title(title),
        changed_at=now,
        tag_rows=[PostTag(tag=tag) for tag in sorted(set(tags or ()))],
        comments_enabled=comments_enabled,
    )
    session.add(post)
    await set_content(session, post, content)
    if publish_at is not None:
        _schedule(post, publish_at)
    elif status == PostStatus.PUBLISHED:
        _publish(post, now)
    # Counted with the post itself (a post that is not created is not counted), and
    # last: the write lock this takes on SQLite must not be held across the rendering
    # above (web/inline_sqlite.py), so a refused post has cost its rendering.
    if not count_limit:
        return post
    per_hour = get_settings().posts_per_hour
    await rate_limits.spend(
        session,
        {f"post:{author.id}": per_hour},
        code=POST_LIMIT,
        detail=f"At most {per_hour} new posts an hour; try again later",
    )
    return post


async def update_post(session: AsyncSession, *, post: Post, changes: Mapping[str, Any]) -> Post:
    """Apply a PATCH (or a PUT's fields) to `post`, its author's: the content fields, the
    slug, and the status (`publish_at` schedules; "published" publishes now unless it is
    already; "draft" takes it off the site)."""
    new_status = changes.get("status")
    publish_at: datetime | None = changes.get("publish_at")
    if publish_at is not None and new_status == PostStatus.DRAFT:
        raise _draft_and_schedule_conflict()
    if "summary" in changes:  # an empty summary is none: cards go back to an excerpt
        changes = {**changes, "summary": changes["summary"] or None}
    now = utcnow()
    was_published = post.is_published
    visible_change = any(
        field in changes and changes[field] != getattr(post, field) for field in VISIBLE_FIELDS
    )
    if "title" in changes:
        post.title = changes["title"]
    if "summary" in changes:
        post.summary = changes["summary"]
    if "content" in changes and changes["content"] != post.content:
        await set_content(session, post, changes["content"])
    if "tags" in changes:
        set_tags(post, changes["tags"])
    if "comments_enabled" in changes:  # not an "Updated" change; pages follow changed_at
        post.comments_enabled = changes["comments_enabled"]
    if "slug" in changes:
        _set_slug(post, changes["slug"])
    elif not post.slug_fixed:
        post.slug = slug_for_title(post.title)  # a draft's address follows its title

    if publish_at is not None:
        _schedule(post, publish_at)
    elif new_status == PostStatus.PUBLISHED and not was_published:
        _publish(post, now)
    elif new_status == PostStatus.DRAFT and post.status != PostStatus.DRAFT:
        _unpublish(post)
    elif was_published and visible_change:
        post.updated_at = now
    post.changed_at = now
    return post


async def publish_due(session: AsyncSession, now: datetime) -> int:
    """Make the scheduled posts whose time has come published; how many there were."""
    due = list(
        await session.scalars(
            select(Post).where(Post.status == PostStatus.SCHEDULED, Post.date_posted <= now)
        )
    )
    for post in due:
        post.status = PostStatus.PUBLISHED
        post.changed_at = now
    return len(due)


async def next_scheduled(session: AsyncSession) -> datetime | None:
    """When the next scheduled post goes live, if any is scheduled."""
    moment: datetime | None = await session.scalar(
        select(func.min(Post.date_posted)).where(Post.status == PostStatus.SCHEDULED)
    )
    return moment
