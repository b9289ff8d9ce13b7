"""Database tables as typed SQLAlchemy models."""

import secrets
import unicodedata
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    DateTime,
    FetchedValue,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from accounts.roles import ROLE_MAX, Role

# MEDIA_IMAGES_PATH (where images uploaded for posts are served, each under its content
# hash) is defined beside the renderer; re-exported here.
from content.markdown_render import MEDIA_IMAGES_PATH as MEDIA_IMAGES_PATH
from content.slugs import SLUG_MAX, post_path
from content.tags import TAG_MAX

USERNAME_MAX = 50
EMAIL_MAX = 120
TITLE_MAX = 100
CONTENT_MAX = 20_000
# Case folding can lengthen a string up to threefold ("ß" -> "ss"), so keys get room.
KEY_MAX = 3 * EMAIL_MAX
DEFAULT_IMAGE = "default.svg"
# Where uploaded pictures are served, each under its content hash (routers/pictures.py).
PICTURES_PATH = "/media/pictures"
# Ids fit a 32-bit INTEGER on every database; larger ones are refused as input.
MAX_ID = 2**31 - 1
ACCOUNT_KEY_BYTES = 16  # random bytes, 22 characters once encoded
ACCOUNT_KEY_MAX = 32
# An author's profile (the author page shows it): a few sentences and a home page.
BIO_MAX = 300
WEBSITE_MAX = 200
# A TOTP secret sealed by accounts/totp.py (Fernet over 32 base32 characters is ~140).
TOTP_SEALED_MAX = 300
# Ten recovery codes' hashes (64 hex characters each) and the spaces between them.
RECOVERY_CODE_COUNT = 10
RECOVERY_CODES_MAX = 65 * RECOVERY_CODE_COUNT
# Ids that appear in tokens and links are never handed out twice: PostgreSQL's
# sequences never go back, and on SQLite AUTOINCREMENT keeps the highest id ever used
# (without it, a deleted account's id goes to the next sign-up).
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


def fold(value: str) -> str:
    """The key two names collide on: Unicode NFKC plus full case folding.

    Done in Python so SQLite and PostgreSQL agree: SQLite's lower() and NOCASE
    only fold ASCII.
    """
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_account_key() -> str:
    return secrets.token_urlsafe(ACCOUNT_KEY_BYTES)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database (SQLite keeps no time zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(USERNAME_MAX))
    email: Mapped[str] = mapped_column(String(EMAIL_MAX))
    # Plain UNIQUE columns on the folded forms make the database itself refuse
    # "Alice" beside "alice", identically on SQLite and PostgreSQL.
    username_key: Mapped[str] = mapped_column(String(KEY_MAX), unique=True)
    email_key: Mapped[str] = mapped_column(String(KEY_MAX), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    image_file: Mapped[str | None] = mapped_column(String(200), default=None)
    # Access tokens carry it as `ver` and must match it. Nothing bumps it since sessions
    # took over revocation (a password change ends sessions instead); raising it by hand
    # still retires every access token of the account at once.
    token_version: Mapped[int] = mapped_column(default=0)
    # Random, made with the account and carried by its tokens: a token names this
    # account and no other, even one that somehow came to have the same id.
    account_key: Mapped[str] = mapped_column(String(ACCOUNT_KEY_MAX), default=new_account_key)
    # Whether the owner of `email` opened a link mailed to it (accounts/email_links.py). A new
    # email starts unverified.
    email_verified: Mapped[bool] = mapped_column(default=False)
    # Plain text (newlines kept) and an http(s) URL, both optional (schemas.py's rules).
    bio: Mapped[str | None] = mapped_column(String(BIO_MAX), default=None)
    website: Mapped[str | None] = mapped_column(String(WEBSITE_MAX), default=None)
    # accounts/roles.py: changed only from the server's shell (manage.py).
    role: Mapped[str] = mapped_column(
        String(ROLE_MAX), default=Role.MEMBER, server_default=Role.MEMBER.value
    )
    # Set while suspended by an admin: no sign-in, and the account's writing is hidden
    # from everyone but admins until it is restored.
    suspended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When the account was made (accounts older than migration 0017 carry its time).
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Whether the account wants comment mails (comments/notifications.py): off from the
    # account page, PATCH, or the one-click unsubscribe link every such mail carries.
    comment_mail: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
    # A comment of theirs was approved once: their comments publish at once from then on
    # (comments/service.py; the first one waits for the post's author or an admin).
    comments_approved: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # The second factor (accounts/totp.py). Secrets are kept sealed (encrypted under a key
    # derived from SECRET_KEY): a copy of the database alone cannot mint codes.
    # `totp_secret` is set while 2FA is on; `totp_pending_secret` while an enrolment
    # waits for its first code.
    totp_secret: Mapped[str | None] = mapped_column(String(TOTP_SEALED_MAX), default=None)
    totp_pending_secret: Mapped[str | None] = mapped_column(String(TOTP_SEALED_MAX), default=None)
    # The last time step a code was accepted for: a code of that step or an earlier one
    # is refused (no replay within its window).
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The unused recovery codes' keyed hashes, space-separated (each used code is taken
    # out): on the row, so /api/users/me counts them without another query.
    recovery_codes: Mapped[str] = mapped_column(
        String(RECOVERY_CODES_MAX), default="", server_default=""
    )

    posts: Mapped[list["Post"]] = relationship(
        back_populates="author", cascade="all, delete-orphan", passive_deletes=True
    )

    @validates("username")
    def _keep_username_key(self, _key: str, username: str) -> str:
        self.username_key = fold(username)
        return username

    @validates("email")
    def _lowercase_email(self, _key: str, email: str) -> str:
        email = email.lower()
        self.email_key = fold(email)
        return email

    @property
    def totp_enabled(self) -> bool:
        return self.totp_secret is not None

    @property
    def recovery_codes_left(self) -> int:
        return len(self.recovery_codes.split())

    @property
    def has_password(self) -> bool:
        """False for an account made through a provider, until a password is set (by the
        reset-by-mail flow): its `password_hash` is empty."""
        return bool(self.password_hash)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def image_path(self) -> str:
        """The uploaded picture (content-addressed, see images/pictures.py), or the default."""
        if self.image_file:
            return f"{PICTURES_PATH}/{self.image_file}"
        return f"/static/img/{DEFAULT_IMAGE}"


class PostStatus(StrEnum):
    """Where a post is in its life: only `published` posts are on the site."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"  # goes live by itself at `date_posted` (content/scheduler.py)
    PUBLISHED = "published"


SUMMARY_MAX = 300
STATUS_MAX = 10


class Post(Base):
    __tablename__ = "posts"
    # Listings walk published posts newest first and resume after a (date_posted, id)
    # position (keyset pagination), so any page costs the same as the first; an author
    # walks their own by last change. The status leads, so drafts are never read past.
    __table_args__ = (
        Index("ix_posts_status_date_posted_id", "status", "date_posted", "id"),
        Index("ix_posts_user_id_status_date_posted_id", "user_id", "status", "date_posted", "id"),
        Index("ix_posts_user_id_changed_at_id", "user_id", "changed_at", "id"),
        # Search ranks every match and breaks ties by date: from this index SQLite reads a
        # match's status and date without its row, whose long text comes first (a common
        # word's search over 10,000 posts took 14 ms of joins without it, 6 ms with it).
        # `author_suspended` rides along so that hiding a suspended author's posts
        # (content/visibility.py) reads no row either.
        Index(
            "ix_posts_id_status_date_posted_author_suspended",
            "id",
            "status",
            "date_posted",
            "author_suspended",
        ),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    # Markdown source, stored and answered exactly as written.
    content: Mapped[str] = mapped_column(Text)
    # The source rendered and sanitised (content/markdown_render.py), kept beside it so pages
    # never render Markdown: written with `content`, in the same transaction, by
    # content/posts.py's `set_content`, the one place that writes either.
    content_html: Mapped[str] = mapped_column(Text)
    # The words a reader sees (markdown_render.plain_text of `content_html`), written with
    # it by `set_content`: what search indexes beside the title (content/search.py) and
    # what its snippets are cut from. Triggers keep the index (SQLite FTS5 `posts_fts`,
    # PostgreSQL's `search_vector` column) exact in the same transaction.
    search_text: Mapped[str] = mapped_column(Text, server_default="")
    status: Mapped[str] = mapped_column(String(STATUS_MAX), default=PostStatus.PUBLISHED)
    # The words of the address (content/slugs.py). It follows the title until the post is
    # first published (or scheduled); from then on it is fixed unless the author edits it.
    slug: Mapped[str] = mapped_column(String(SLUG_MAX))
    slug_fixed: Mapped[bool] = mapped_column(default=False)
    # The card's text when set; otherwise cards show an excerpt of the content.
    summary: Mapped[str | None] = mapped_column(String(SUMMARY_MAX), default=None)
    # The publication time: None for a draft, the planned time for a scheduled post.
    date_posted: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The last change made while published (None if it never changed since).
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # The last change of any kind: the author's own list is ordered by it.
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reading_minutes: Mapped[int] = mapped_column(default=1)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # A copy of "the author is suspended", kept by the database itself (migration 0017's
    # triggers on users.suspended_at and on new posts), so that every public read
    # filters on a column of the post's own row rather than joining users
    # (content/visibility.py). Never written by the application.
    author_suspended: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # Whether new comments are taken (its author's switch); existing ones stay visible.
    comments_enabled: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
    # Published comments whose author is not suspended: kept by database triggers
    # (migration 0018) in the transaction of every change that moves it, never written
    # here, so a page of posts shows its counts without one more query.
    comment_count: Mapped[int] = mapped_column(default=0, server_default="0")

    author: Mapped[User] = relationship(back_populates="posts")
    # Loaded with the post, for a whole page of posts in one more query (never one per
    # post); written by content/posts.py's `set_tags`. Deleting a post deletes its rows
    # in the database (ON DELETE CASCADE).
    tag_rows: Mapped[list["PostTag"]] = relationship(
        lazy="selectin",
        order_by="PostTag.tag",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )

    @property
    def url(self) -> str:
        return post_path(self.id, self.slug)

    @property
    def tags(self) -> list[str]:
        """The post's tags (content/tags.py), in alphabetical order."""
        return [row.tag for row in self.tag_rows]

    @property
    def is_published(self) -> bool:
        return self.status == PostStatus.PUBLISHED


class PostTag(Base):
    """A post's tag, normalised (content/tags.py). Tag pages and `?tag=` walk one tag's
    rows of the (tag, date_posted, post_id) index, newest first, to their posts."""

    __tablename__ = "post_tags"
    __table_args__ = (
        Index("ix_post_tags_tag_date_posted_post_id", "tag", "date_posted", "post_id"),
    )

    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(TAG_MAX), primary_key=True)
    # The post's publication time while it is published, else NULL: kept by the
    # database's triggers (migration 0016), never written by the app.
    date_posted: Mapped[datetime | None] = mapped_column(
        UTCDateTime, server_default=FetchedValue(), server_onupdate=FetchedValue()
    )


class MediaImage(Base):
    """An image uploaded for posts, re-encoded (images/media.py) and kept by the name of its
    content, "<sha256>.webp": in the database, so every worker and machine serves it. One
    that no post uses is deleted a day after its upload."""

    __tablename__ = "media_images"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    width: Mapped[int] = mapped_column()
    height: Mapped[int] = mapped_column()
    size: Mapped[int] = mapped_column()  # bytes, counted against the uploader's quota
    # Who uploaded it first (None once that account is gone; posts may still use it).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class PostImage(Base):
    """That a post's content shows an uploaded image: kept with the content (content/posts.py),
    so unused images are found without reading every post."""

    __tablename__ = "post_images"

    post_id: Mapped[int] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(80), primary_key=True, index=True)


class ContentVersion(Base):
    """One row whose `version` grows with every change to what pages show (a post
    written, edited or deleted; an account created, renamed or deleted). Database
    triggers bump it in the writing transaction itself (migration 0004), so cached
    pages and ETags checked against it are never stale, whichever worker wrote."""

    __tablename__ = "content_version"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


class LoginFailure(Base):
    """One failed password check, kept for the throttle window, or one still running
    (`pending`): a table, so every worker and every machine behind the same database
    counts the same attempts."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "email:<folded email>" or "client:<address>"
    key: Mapped[str] = mapped_column(String(KEY_MAX + 10))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Reserved by a check whose password is still being verified (see accounts/throttle.py).
    pending: Mapped[bool] = mapped_column(default=False)

    __table_args__ = (Index("ix_login_failures_key_failed_at", "key", "failed_at"),)


SESSION_ID_BYTES = 32  # random bytes, 43 characters once encoded
SESSION_ID_MAX = 64
USER_AGENT_MAX = 300
IP_MAX = 64
TOKEN_HASH_LENGTH = 64  # SHA-256, hex
AUTH_METHOD_MAX = 60  # "oidc:" with a 32-character provider name and "+recovery_code"


def new_session_id() -> str:
    return secrets.token_urlsafe(SESSION_ID_BYTES)


class UserSession(Base):
    """One sign-in: what its refresh token and its access tokens are checked against.
    Its id is random (it appears in tokens and in the sessions list) and never reused."""

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(
        String(SESSION_ID_MAX), primary_key=True, default=new_session_id
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the current refresh token's secret; the token itself is never stored.
    refresh_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_LENGTH))
    # The token it replaced, accepted again only within the reuse interval after rotation.
    previous_hash: Mapped[str | None] = mapped_column(String(TOKEN_HASH_LENGTH), default=None)
    # How many times the refresh token was rotated: each token names its generation, so
    # any earlier one presented again is known for a copy (accounts/sessions.py).
    generation: Mapped[int] = mapped_column(default=0, server_default="0")
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    user_agent: Mapped[str] = mapped_column(String(USER_AGENT_MAX), default="")
    ip: Mapped[str] = mapped_column(String(IP_MAX), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # When this session last proved who is using it: at sign-in, then at each
    # reauthentication. Sensitive actions need it within REAUTH_WINDOW_MINUTES.
    authenticated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # How it signed in (accounts/security_log.py's SignInMethod): the sessions list says.
    auth_method: Mapped[str] = mapped_column(
        String(AUTH_METHOD_MAX), default="password", server_default="password"
    )

    user: Mapped[User] = relationship()


TOKEN_HASH_MAX = 64  # SHA-256, hex
EMAIL_ADDRESS_MAX = 320  # RFC 5321's longest path, bar the brackets


class EmailToken(Base):
    """A single-use link mailed to an account: to verify its address, or to reset its
    password. Only a SHA-256 of the token is kept (accounts/email_links.py)."""

    __tablename__ = "email_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_MAX), unique=True)
    # "verify-email" or "reset-password"
    purpose: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The address it was mailed to: once the account's email differs, the link is dead.
    email_key: Mapped[str] = mapped_column(String(KEY_MAX))
    # For a reset, a fingerprint of the password hash it may replace: any change of
    # the password, by whatever way, kills the link.
    password_stamp: Mapped[str | None] = mapped_column(String(TOKEN_HASH_MAX), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    user: Mapped[User] = relationship()


class OutboxMessage(Base):
    """A mail on its way: written in the transaction of the change that caused it,
    deleted once the SMTP server has accepted it (mailing/outbox.py)."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    sender: Mapped[str] = mapped_column(String(EMAIL_ADDRESS_MAX))  # envelope addresses
    recipient: Mapped[str] = mapped_column(String(EMAIL_ADDRESS_MAX))
    # The whole message, headers and body, as it goes on the wire.
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When a sender may next take it: now for a new one, later after a failure, and
    # a lease's end while a sender holds it (so a killed sender's claim runs out).
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    # After this, a message still not accepted is given up (and kept, marked failed).
    give_up_at: Mapped[datetime] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # Why the last attempt failed: an exception's class and the server's reply code.
    last_error: Mapped[str | None] = mapped_column(String(200), default=None)

    __table_args__ = (Index("ix_outbox_failed_at_next_attempt_at", "failed_at", "next_attempt_at"),)


class RateLimitHit(Base):
    """One use of a rate-limited action (a reset mail asked for, a link resent), kept
    for the window (accounts/rate_limits.py)."""

    __tablename__ = "rate_limit_hits"

    id: Mapped[int] = mapped_column(primary_key=True)
    # e.g. "reset-email:<folded email>", "reset-client:<address>", "resend:<user id>"
    key: Mapped[str] = mapped_column(String(KEY_MAX + 20))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    __table_args__ = (Index("ix_rate_limit_hits_key_at", "key", "at"),)


class StoredPicture(Base):
    """A profile picture as re-encoded by images/pictures.py, keyed by its name, the SHA-256 of
    its bytes: in the database, so every worker and machine serves it. Deleted once no
    account uses it."""

    __tablename__ = "pictures"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)  # "<sha256>.webp"
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


CREDENTIAL_ID_MAX = 1023  # bytes: the WebAuthn spec's limit
PASSKEY_NAME_MAX = 60
CHALLENGE_MAX = 64  # base64url of 32 random bytes is 43 characters


class Passkey(Base):
    """A WebAuthn credential that signs its owner in without a password (accounts/passkeys.py).
    Only the public key is here; the private key never leaves the person's device."""

    __tablename__ = "passkeys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(CREDENTIAL_ID_MAX), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE, as the authenticator sent it
    # The authenticator's signature counter: a value that fails to grow betrays a clone.
    # Synced passkeys always report 0, which the check allows.
    sign_count: Mapped[int] = mapped_column(BigInteger, default=0)
    # How the browser can reach it ("internal", "hybrid", "usb"...), comma-separated:
    # handed back in excludeCredentials so a second registration is refused early.
    transports: Mapped[str] = mapped_column(String(200), default="")
    name: Mapped[str] = mapped_column(String(PASSKEY_NAME_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    user: Mapped[User] = relationship()


OIDC_PROVIDER_MAX = 32  # config.OIDC_NAME
OIDC_SUBJECT_MAX = 255  # OpenID Connect Core 2: at most 255 ASCII characters


class OIDCIdentity(Base):
    """An account at an OpenID Connect provider that signs into this account
    (accounts/identities.py): the provider's name and its `sub` for the person, which
    never changes and is never reused there, unlike the email beside it (the one the
    provider last gave, shown on the account page, never used to find the account)."""

    __tablename__ = "oidc_identities"
    # One identity per (provider, sub), and per account at most one of each provider.
    __table_args__ = (
        UniqueConstraint("provider", "subject", name="uq_oidc_identities_provider_subject"),
        UniqueConstraint("user_id", "provider", name="uq_oidc_identities_user_id_provider"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(OIDC_PROVIDER_MAX))
    subject: Mapped[str] = mapped_column(String(OIDC_SUBJECT_MAX))
    email: Mapped[str] = mapped_column(String(EMAIL_MAX), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class PasskeyChallenge(Base):
    """A challenge handed to a browser for one ceremony: used once (deleted as it is
    checked), short-lived, and for registration bound to the account that asked."""

    __tablename__ = "passkey_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    challenge: Mapped[str] = mapped_column(String(CHALLENGE_MAX), unique=True)  # base64url
    # "register", "sign-in" or "reauthenticate"
    purpose: Mapped[str] = mapped_column(String(20))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None, index=True
    )
    # Who asked, so that one client cannot keep more than a few at once.
    client: Mapped[str] = mapped_column(String(IP_MAX), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (Index("ix_passkey_challenges_client_created_at", "client", "created_at"),)


ACTION_MAX = 30
ADMIN_ACTION_DETAIL_MAX = 500
# Who did an action from the server's shell (manage.py), in place of an account.
SERVER_SHELL = "server shell"


class AdminAction(Base):
    """One thing an admin did (admin/actions.py), written in the transaction of the
    action itself. Append-only: the database refuses UPDATE and DELETE of its rows
    (migration 0017's triggers). Its ids name no foreign key, and the usernames are
    copies taken at the time, so deleting an account leaves its history readable."""

    __tablename__ = "admin_actions"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # None for the server shell.
    actor_id: Mapped[int | None] = mapped_column(default=None)
    actor_name: Mapped[str] = mapped_column(String(USERNAME_MAX))
    # "suspend", "restore", "delete_post", "promote", "demote"
    action: Mapped[str] = mapped_column(String(ACTION_MAX))
    target_id: Mapped[int | None] = mapped_column(default=None)
    target_name: Mapped[str] = mapped_column(String(USERNAME_MAX), default="")
    detail: Mapped[str] = mapped_column(String(ADMIN_ACTION_DETAIL_MAX), default="")


COMMENT_MAX = 5_000
REPORT_REASON_MAX = 500


class CommentStatus(StrEnum):
    """A comment waits for approval (`pending`, seen by its author, the post's author
    and admins), is on the post (`published`), or is the placeholder of a deleted
    comment that has replies (`deleted`: no author, no text)."""

    PENDING = "pending"
    PUBLISHED = "published"
    DELETED = "deleted"


class Comment(Base):
    """A comment on a post, or a reply to one (one level: `parent_id` is always a
    top-level comment). comments/service.py holds the rules."""

    __tablename__ = "comments"
    __table_args__ = (
        # A post's thread, oldest first, resumed from a (created_at, id) position.
        Index("ix_comments_post_id_created_at_id", "post_id", "created_at", "id"),
        # The moderation queue (pending ones), oldest first.
        Index("ix_comments_status_created_at_id", "status", "created_at", "id"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), default=None, index=True
    )
    # None once deleted as a placeholder (its author's words and name are gone).
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), default=None, index=True
    )
    # Markdown source as sent (a subset is rendered: content/markdown_render.py), and
    # its sanitised HTML, written together by comments/service.py.
    content: Mapped[str] = mapped_column(Text)
    content_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(STATUS_MAX), default=CommentStatus.PENDING)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set when its author edits it (shown as edited).
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    author: Mapped[User | None] = relationship()


class CommentReport(Base):
    """That an account reported a comment to the admins, once per account and comment."""

    __tablename__ = "comment_reports"
    __table_args__ = (
        UniqueConstraint("comment_id", "user_id", name="uq_comment_reports_comment_id_user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(REPORT_REASON_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    reporter: Mapped[User] = relationship()


class MfaChallenge(Base):
    """A sign-in whose first factor (the password) is proven and whose second is
    awaited: the `mfa_token` handed out names it (only its SHA-256 is kept). Works
    once, lives a few minutes, and dies after a few wrong codes (accounts/mfa.py)."""

    __tablename__ = "mfa_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_MAX), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # How the first factor was proven ("password"): the session's method once complete.
    method: Mapped[str] = mapped_column(String(AUTH_METHOD_MAX), default="password")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    failures: Mapped[int] = mapped_column(default=0)


SECURITY_EVENT_TYPE_MAX = 40
SECURITY_EVENT_DETAIL_MAX = 300


class SecurityEvent(Base):
    """One thing that happened to how an account is signed into (accounts/security_log.py),
    written in the transaction of the change itself, kept SECURITY_LOG_DAYS, shown to the
    account's owner."""

    __tablename__ = "security_events"
    __table_args__ = (Index("ix_security_events_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(SECURITY_EVENT_TYPE_MAX))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ip: Mapped[str] = mapped_column(String(IP_MAX), default="")
    user_agent: Mapped[str] = mapped_column(String(USER_AGENT_MAX), default="")
    detail: Mapped[str] = mapped_column(String(SECURITY_EVENT_DETAIL_MAX), default="")


PAT_NAME_MAX = 100
PAT_SCOPES_MAX = 100
# The client addresses a token was used from, space-separated (accounts/access_tokens.py
# keeps the newest few): a use from any other is "first use from a new address".
PAT_USED_FROM_MAX = 400


class PersonalAccessToken(Base):
    """A personal access token (accounts/access_tokens.py): a script's long-lived bearer
    token, limited to its scopes. Only the SHA-256 of the secret is stored."""

    __tablename__ = "personal_access_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(PAT_NAME_MAX))
    # Space-separated (accounts/access_tokens.Scope values).
    scopes: Mapped[str] = mapped_column(String(PAT_SCOPES_MAX))
    token_hash: Mapped[str] = mapped_column(String(TOKEN_HASH_MAX), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    used_from: Mapped[str] = mapped_column(String(PAT_USED_FROM_MAX), default="")
