"""The mails comments cause, and the one-click way to stop them.

- A post's author hears of each new comment on it (one awaiting approval says so and
  links to it); a comment's author hears of each published reply to it (a pending
  reply once it is approved). Nobody hears of their own comment, and one mail goes to
  a person who is both.
- Only to a verified address of an account that is not suspended and has comment mail
  on (`users.comment_mail`). These mails carry a visitor's words, so an address
  nobody has proven never gets them. They spend no account's mail budget
  (accounts/account_mail.py): the commenter's own limits (5 a minute, 50 a day) bound
  them, and the recipient turns them off with one click.
- Each carries RFC 8058's one-click unsubscribe: `List-Unsubscribe` with the address
  of `/unsubscribe/comments?token=…` and `List-Unsubscribe-Post:
  List-Unsubscribe=One-Click`. A POST there, signed in or not, turns comment mails off
  for that account and does nothing else. The token is the account id and an HMAC of
  it and the account's random key (a key of its own derived from SECRET_KEY), so it
  cannot be guessed from the id, and it dies with the account.

Queued in the transaction of the comment (mailing/outbox.py): sent if, and once, it
commits.
"""

import base64
import hashlib
import hmac
from typing import TYPE_CHECKING

from fastapi import status
from sqlalchemy.ext.asyncio import AsyncSession

from config import get_settings
from errors.domain import DomainError
from mailing import outbox, smtp
from models import MAX_ID, User

if TYPE_CHECKING:
    from models import Comment, Post

UNSUBSCRIBE_PATH = "/unsubscribe/comments"
_TAG_BYTES = 16
EXCERPT = 500


def _tag(user_id: int, account_key: str) -> str:
    key = get_settings().derived_key("comment mail unsubscribe")
    digest = hmac.new(key, f"{user_id}.{account_key}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_TAG_BYTES]).rstrip(b"=").decode()


def unsubscribe_token(user: User) -> str:
    return f"{user.id}.{_tag(user.id, user.account_key)}"


def unsubscribe_url(user: User) -> str:
    return f"{get_settings().site_url}{UNSUBSCRIBE_PATH}?token={unsubscribe_token(user)}"


def _link_invalid() -> DomainError:
    return DomainError(
        status.HTTP_400_BAD_REQUEST,
        "link_invalid",
        "This unsubscribe link is not valid: use the link of a recent mail exactly as given",
    )


async def user_for_token(session: AsyncSession, token: str) -> User:
    """The account an unsubscribe token was made for; 400 `link_invalid` otherwise."""
    user_part, _, tag = token.partition(".")
    if not user_part.isascii() or not user_part.isdigit() or not 1 <= int(user_part) <= MAX_ID:
        raise _link_invalid()
    user = await session.get(User, int(user_part))
    if user is None or not hmac.compare_digest(
        tag.encode(), _tag(user.id, user.account_key).encode()
    ):
        raise _link_invalid()
    return user


def _wants_mail(user: User | None, writer_id: int | None) -> bool:
    return (
        user is not None
        and user.id != writer_id
        and user.comment_mail
        and user.email_verified
        and user.suspended_at is None
    )


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT else text[:EXCERPT].rstrip() + "…"


def _queue(
    session: AsyncSession,
    recipient: User,
    subject: str,
    template: str,
    **context: object,
) -> None:
    settings = get_settings()
    message = smtp.compose(
        settings,
        smtp.mailbox(recipient.username, recipient.email),
        subject,
        template,
        username=recipient.username,
        unsubscribe_url=unsubscribe_url(recipient),
        **context,
    )
    message["List-Unsubscribe"] = f"<{unsubscribe_url(recipient)}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    outbox.enqueue(session, message)


async def queue_new_comment(
    session: AsyncSession, *, post: "Post", comment: "Comment", parent: "Comment | None"
) -> None:
    """Mail the post's author (a new or an awaiting comment) and, for a published reply,
    the author of the comment replied to."""
    writer = comment.author
    assert writer is not None
    post_author = await session.get(User, post.user_id)
    link = f"{get_settings().site_url}{post.url}#comment-{comment.id}"
    common = {"post_title": post.title, "writer": writer.username, "link": link}
    pending = comment.status == "pending"
    if _wants_mail(post_author, writer.id):
        assert post_author is not None
        _queue(
            session,
            post_author,
            f"{'A comment awaits your approval' if pending else 'New comment'} on “{post.title}”",
            "comment_new.txt",
            pending=pending,
            text=_excerpt(comment.content),
            **common,
        )
    if parent is not None and not pending:
        await queue_reply(session, post=post, comment=comment, parent=parent)


async def queue_reply(
    session: AsyncSession, *, post: "Post", comment: "Comment", parent: "Comment"
) -> None:
    """Mail the author of `parent` of a published reply to it (unless they wrote it, or
    are the post's author, who heard of it as a new comment)."""
    if parent.user_id is None or parent.user_id == post.user_id:
        return
    recipient = await session.get(User, parent.user_id)
    writer = await session.get(User, comment.user_id) if comment.user_id else None
    if writer is None or not _wants_mail(recipient, writer.id):
        return
    assert recipient is not None
    link = f"{get_settings().site_url}{post.url}#comment-{comment.id}"
    _queue(
        session,
        recipient,
        f"{writer.username} replied to your comment on “{post.title}”",
        "comment_reply.txt",
        post_title=post.title,
        writer=writer.username,
        link=link,
        text=_excerpt(comment.content),
    )
