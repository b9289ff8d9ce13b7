"""Settings, from `.env` and the environment (names are case-insensitive), and which
settings this process serves with."""

import hashlib
import hmac
import logging
import os
import re
import secrets
from email.headerregistry import Address
from email.utils import parseaddr
from pathlib import Path
from typing import Literal, Self

from dotenv import dotenv_values
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

logger = logging.getLogger("inkwell")

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY_FILE = BASE_DIR / ".secret_key"
MIN_SECRET_BYTES = 32
# Where `uv run fastapi dev` serves, by name (passkeys refuse IP addresses): the links
# of mails when PUBLIC_URL is unset.
DEVELOPMENT_URL = "http://localhost:8000"


def load_or_create_secret_key(path: Path = SECRET_KEY_FILE) -> SecretStr:
    """Return the key kept in `path`, creating it on first use.

    A fresh checkout must start with no manual step, yet a key must never be
    hard-coded: so the first start generates one and later starts reuse it, which
    keeps tokens valid across restarts. The file is git-ignored and owner-only.
    """
    try:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        pass
    key = secrets.token_urlsafe(64)
    # Written aside, then linked into place: if several workers start at once, one
    # link wins and the others read a complete key, never a half-written file.
    draft = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(key)
    try:
        os.link(draft, path)
    except FileExistsError:
        return SecretStr(path.read_text(encoding="utf-8").strip())
    finally:
        draft.unlink()
    logger.warning("No SECRET_KEY configured: generated one and saved it to %s (mode 600).", path)
    return SecretStr(key)


# An OpenID Connect provider's name: in its URLs (/auth/oidc/<name>/...) and, upper-cased
# with hyphens as underscores, in its settings' names (OIDC_<NAME>_ISSUER...).
OIDC_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")


class OIDCClient(BaseModel):
    """Inkwell's registration at one OpenID Connect provider (OIDC_<NAME>_* settings)."""

    name: str = Field(pattern=OIDC_NAME.pattern)
    # Compared exactly with the discovery document's and the ID tokens' `iss`.
    issuer: AnyHttpUrl
    client_id: str = Field(min_length=1)
    client_secret: SecretStr = Field(min_length=1)
    # The button's text; the name when unset.
    label: str = ""

    @property
    def issuer_url(self) -> str:
        """The issuer as configured (pydantic adds a "/" to a bare host; issuers compare
        as exact strings, so it is taken off again)."""
        return str(self.issuer).rstrip("/")

    @property
    def display_label(self) -> str:
        return self.label or self.name


def oidc_clients_from(environment: dict[str, str], names: str) -> list[dict[str, str]]:
    """The OIDC_<NAME>_* settings of each name in OIDC_PROVIDERS, as OIDCClient's fields
    (`environment`'s keys upper-case). A name of the wrong form is refused here, before
    its settings are looked for under a name it would not fit."""
    clients = []
    for name in (part.strip() for part in names.split(",")):
        if not name:
            continue
        if not OIDC_NAME.fullmatch(name):
            raise ValueError(
                f"OIDC_PROVIDERS: {name!r} is not a provider name "
                "(lowercase letters, digits and hyphens, at most 32)"
            )
        prefix = f"OIDC_{name.upper().replace('-', '_')}_"
        fields = {"name": name}
        for field in ("issuer", "client_id", "client_secret", "label"):
            value = environment.get(prefix + field.upper())
            if value:
                fields[field] = value
        missing = [
            prefix + field.upper()
            for field in ("issuer", "client_id", "client_secret")
            if field not in fields
        ]
        if missing:
            raise ValueError(f"OIDC_PROVIDERS names {name!r}, but {', '.join(missing)} unset")
        clients.append(fields)
    if len({client["name"] for client in clients}) != len(clients):
        raise ValueError("OIDC_PROVIDERS names a provider twice")
    return clients


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=BASE_DIR / ".env",
        env_file_encoding="utf-8",
        case_sensitive=False,
        extra="ignore",
    )

    # Where a generated key is kept when SECRET_KEY is not set.
    secret_key_file: Path = SECRET_KEY_FILE
    secret_key: SecretStr = Field(
        default_factory=lambda data: load_or_create_secret_key(data["secret_key_file"]),
        validate_default=True,
    )
    algorithm: str = "HS256"
    # Access tokens are short-lived; the refresh cookie renews them (see accounts/sessions.py).
    access_token_expire_minutes: float = Field(default=15, gt=0)
    # Tokens are still accepted this long past their expiry: clock differences
    # between the servers that make and check them.
    access_token_leeway_seconds: float = Field(default=10, ge=0, le=300)
    # A rotated refresh token presented again within this many seconds is a second tab
    # that refreshed at the same moment; later, it is a stolen copy: the session ends.
    refresh_reuse_interval_seconds: float = Field(default=10, ge=0)
    # A session ends this long after sign-in, or after this long without a refresh.
    session_lifetime_days: float = Field(default=30, gt=0)
    session_idle_days: float = Field(default=7, gt=0)
    # The refresh cookie's Secure flag. Unset: on, except for plain HTTP to a loopback
    # host (local development, `uv run fastapi dev`).
    cookie_secure: bool | None = None
    database_url: str = "sqlite:///./blog.db"
    # Apply migrations at start-up. Unset: yes for SQLite (nothing to set up by hand),
    # no for other databases, where `uv run alembic upgrade head` is a deploy step.
    auto_migrate: bool | None = None
    # Connections each worker keeps open, and how many more it may open under load.
    database_pool_size: int = Field(default=10, gt=0)
    database_max_overflow: int = Field(default=10, ge=0)
    # A request that waits this long for a free connection answers 503 + Retry-After:
    # a database that saturated is said so quickly rather than left to hang.
    database_pool_timeout: float = Field(default=2.0, gt=0)

    # Argon2id's cost (RFC 9106): passes, memory in KiB, lanes. The defaults are
    # pwdlib's recommendation (~0.2 s, 64 MiB on this project's machine); a hash made
    # with other parameters is upgraded at its next successful login.
    argon2_time_cost: int = Field(default=3, gt=0)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    argon2_parallelism: int = Field(default=4, gt=0)
    # At most this many Argon2 operations run at once; the rest wait their turn.
    max_concurrent_hashes: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0)
    # Requests with a larger body are refused with 413 before they are parsed.
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)

    # Posts per page on the home page and each author's page.
    page_size: int = Field(default=10, ge=1, le=100)
    # How often each worker looks for scheduled posts that are due (content/scheduler.py);
    # a post goes live at most this late. It sleeps until the next one it knows of.
    publish_check_seconds: float = Field(default=2, gt=0, le=60)
    # The site's public address (e.g. https://blog.example.com), for the absolute
    # links feeds and mails need. Unset: feeds take it from each request, which suits
    # development; mails never do (a forged Host would aim reset links elsewhere), so
    # they use DEVELOPMENT_URL, and a configured SMTP server requires it set.
    public_url: AnyHttpUrl | None = None

    # Mail (mailing/smtp.py, mailing/outbox.py). No SMTP_HOST: development mode, each message is
    # written to the log instead of sent.
    smtp_host: str | None = None
    # Unset: 25 with `none`, 587 with `starttls`, 465 with `tls`.
    smtp_port: int | None = Field(default=None, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # Seconds to connect, or to wait for any one answer of the server.
    smtp_timeout: float = Field(default=30, gt=0)
    # The From of every mail. Unset: Inkwell <noreply@ the PUBLIC_URL's host>.
    mail_from: str | None = None

    # How much mail one address or account can be made to receive (counted in the
    # database, per hour). An address its owner has not verified gets at most this many
    # mails of any kind; the reset mails' own limit fits inside it.
    unverified_mail_per_hour: int = Field(default=5, ge=1)
    # Every mail an account causes (notices, links to a new address...), verified or not.
    account_mail_per_hour: int = Field(default=10, ge=1)
    # Sign-ups from one client address.
    signups_per_hour: int = Field(default=10, ge=1)
    # Comments one account may write (comments/service.py): a burst, and a day's worth.
    comments_per_minute: int = Field(default=5, ge=1)
    comments_per_day: int = Field(default=50, ge=1)
    # Posts one account may create per hour, and Markdown previews per minute (the
    # editor asks for one as the writer pauses, so a burst is normal).
    posts_per_hour: int = Field(default=30, ge=1)
    previews_per_minute: int = Field(default=60, ge=1)
    # Imports one account may run per hour (portability/importing.py): each may bring
    # up to MAX_IMPORT_POSTS posts, outside POSTS_PER_HOUR.
    imports_per_hour: int = Field(default=5, ge=1)

    # Sensitive actions (a new email or password, deleting the account, passkeys, 2FA,
    # ending other sessions) need the session to have proven who uses it within this
    # many minutes: signing in counts, and so does POST /api/users/me/reauthentication.
    reauth_window_minutes: float = Field(default=10, gt=0)
    # How long an account's security events are kept (accounts/security_log.py).
    security_log_days: int = Field(default=90, ge=1)

    # Uploaded images are decoded in child processes with their own limits (images/):
    # this many at once per worker, this many more waiting (then 503 + Retry-After),
    # each killed past this many seconds or this much memory.
    image_workers: int = Field(default=2, ge=1)
    image_queue: int = Field(default=8, ge=0)
    image_decode_seconds: float = Field(default=10, gt=0)
    image_decode_memory_mb: int = Field(default=512, ge=64)
    # Picture uploads per account and hour, refused files included.
    uploads_per_hour: int = Field(default=20, ge=1)
    # Images for posts (images/media.py): uploads per account and hour, refused files
    # included (a budget apart from pictures': a post may show dozens); the MiB of stored
    # images an account may have (what it uploaded first, used by posts or not yet
    # collected); and how many hours an image no post uses is kept after its upload.
    media_uploads_per_hour: int = Field(default=60, ge=1)
    media_quota_mib: float = Field(default=100, gt=0)
    # Downloads of an account's data (GET /api/users/me/export) per account and hour:
    # each reads every post, image and comment of the account.
    exports_per_hour: int = Field(default=3, ge=1)
    media_unused_hours: float = Field(default=24, gt=0)

    # While the database is unreachable, pages this worker rendered at the last version
    # it read are served for this many seconds after its last good read (then 503).
    stale_pages_seconds: float = Field(default=300, ge=0)

    # OpenID Connect providers to sign in with (accounts/oidc.py): their names,
    # comma-separated (e.g. "google,keycloak"); each one's OIDC_<NAME>_ISSUER,
    # OIDC_<NAME>_CLIENT_ID, OIDC_<NAME>_CLIENT_SECRET and optional OIDC_<NAME>_LABEL
    # become one OIDCClient in `oidc_clients`. None: nothing of it shows.
    oidc_providers: str = ""
    oidc_clients: list[OIDCClient] = []

    @model_validator(mode="before")
    @classmethod
    def _oidc_clients_from_their_settings(cls, data: object) -> object:
        """OIDC_<NAME>_* settings have names no field can declare: they are read here,
        from `.env` and the environment (which wins), unless given as `oidc_clients`."""
        if not isinstance(data, dict) or "oidc_clients" in data:
            return data
        names = next((v for k, v in data.items() if k.lower() == "oidc_providers"), "")
        if not isinstance(names, str) or not names.strip():
            return data
        env_file = cls.model_config.get("env_file")
        found = dotenv_values(env_file) if isinstance(env_file, Path) else {}
        environment = {k.upper(): v for k, v in found.items() if v is not None}
        environment |= {k.upper(): v for k, v in os.environ.items()}
        return data | {"oidc_clients": oidc_clients_from(environment, names)}

    @field_validator("secret_key")
    @classmethod
    def _secret_key_is_long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"SECRET_KEY must be at least {MIN_SECRET_BYTES} bytes; "
                "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))'"
            )
        return value

    @field_validator("mail_from")
    @classmethod
    def _mail_from_is_an_address(cls, value: str | None) -> str | None:
        if value is not None and "@" not in parseaddr(value)[1]:
            raise ValueError("MAIL_FROM must be an address, e.g. 'Inkwell <blog@example.com>'")
        return value

    @model_validator(mode="after")
    def _mail_links_have_an_address(self) -> Self:
        if self.smtp_host and self.public_url is None:
            raise ValueError(
                "SMTP_HOST is set but PUBLIC_URL is not: links in mails are built from "
                "PUBLIC_URL (e.g. https://blog.example.com), never from a request"
            )
        return self

    def derived_key(self, purpose: str) -> bytes:
        """A 32-byte key of its own for `purpose`, derived from SECRET_KEY: what one
        feature signs or encrypts can never pass for another's."""
        secret = self.secret_key.get_secret_value().encode()
        return hmac.new(secret, f"inkwell {purpose}".encode(), hashlib.sha256).digest()

    @property
    def site_url(self) -> str:
        """The base of every link in a mail, without a trailing slash."""
        return str(self.public_url or DEVELOPMENT_URL).rstrip("/")

    @property
    def mail_sender(self) -> Address:
        """MAIL_FROM, or `Inkwell <noreply@host>` for the site's host."""
        if self.mail_from:
            name, address = parseaddr(self.mail_from)
            return Address(display_name=name, addr_spec=address)
        host = self.public_url.host if self.public_url else None
        return Address(display_name="Inkwell", username="noreply", domain=host or "localhost")


_current: Settings | None = None


def get_settings() -> Settings:
    """The settings of the app this process serves: those `create_app` was given
    (main.py), or, outside an app (`python -m seed`, Alembic's command line), the
    environment's and `.env`'s, read on first use. Read at call time, never kept at
    import, so an app built from other settings (a test's) is obeyed everywhere."""
    global _current
    if _current is None:
        _current = Settings()
    return _current


def use_settings(settings: Settings) -> None:
    """Make `settings` those of this process (`create_app` calls it)."""
    global _current
    _current = settings
