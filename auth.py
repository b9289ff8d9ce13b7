"""Who is asking: password hashing, access tokens, and the current-user dependency."""

import asyncio
import contextlib
import hmac
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, NamedTuple, TypeVar

import jwt
from fastapi import Depends, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy.orm import make_transient_to_detached

from accounts import access_tokens, sessions
from accounts.access_tokens import Scope
from accounts.roles import Role
from config import Settings, get_settings
from errors.domain import DomainError
from models import ACCOUNT_KEY_MAX, MAX_ID, SESSION_ID_MAX, User
from web.hot_reads import PAT_CHECK, SESSION_CHECK, HotReads

T = TypeVar("T")
# How much lower than the event loop the hashing threads run (Unix nice levels).
HASHING_NICENESS = 10
DUMMY_PASSWORD = "dummy password that matches no account"  # noqa: S105 (hashed, never accepted)


def _yield_to_the_event_loop() -> None:
    """Hashing threads (and the lane threads Argon2 starts from them) take the CPU
    only when the event loop does not need it, so a burst of logins cannot slow
    other requests, while idle cores still go to hashing."""
    with contextlib.suppress(AttributeError, OSError):  # per-thread nice is Linux's
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


class PasswordHashing:
    """Argon2 for one app, built from its settings at start-up (never at import).

    Argon2 is slow and memory-hungry on purpose (~0.2 s, 64 MiB): it runs in a pool of
    MAX_CONCURRENT_HASHES threads, never on the event loop, so a burst of logins queues
    cheaply instead of starving other requests or the memory. The dummy hash is what an
    unknown email is checked against, so that path costs what a wrong password does.
    """

    def __init__(self, hasher: PasswordHash, max_concurrent: int) -> None:
        self.hasher = hasher
        self.pool = ThreadPoolExecutor(
            max_workers=max_concurrent,
            thread_name_prefix="argon2",
            initializer=_yield_to_the_event_loop,
        )
        self._dummy_hash: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "PasswordHashing":
        argon2 = Argon2Hasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=settings.argon2_parallelism,
        )
        return cls(PasswordHash((argon2,)), settings.max_concurrent_hashes)

    async def run(self, function: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, function, *args)

    async def dummy_hash(self) -> str:
        """Made once, in the pool (start-up asks first, so no login ever waits for it)."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.run(self.hasher.hash, DUMMY_PASSWORD)
        return self._dummy_hash

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


_hashing: PasswordHashing | None = None


def use_hashing(hashing: PasswordHashing | None) -> None:
    """Make `hashing` the one every password check and hash of this process goes
    through: the app's lifespan installs its own at start-up, and takes it away
    (None) when it stops."""
    global _hashing
    _hashing = hashing


def current_hashing() -> PasswordHashing:
    """The installed hashing, or (outside an app: `python -m seed`) one made now from
    the settings."""
    if _hashing is None:
        use_hashing(PasswordHashing.from_settings(get_settings()))
    assert _hashing is not None
    return _hashing


oauth2_scheme = OAuth2PasswordBearer(tokenUrl="api/users/token", auto_error=False)
# Personal access tokens (`ink_…`), for Swagger's Authorize: the routes that take one
# (`scoped`) name this scheme beside the password flow's.
access_token_scheme = HTTPBearer(
    scheme_name="PersonalAccessToken",
    bearerFormat="ink_…",
    description="A personal access token (POST /api/users/me/tokens)",
    auto_error=False,
)


async def hash_password(password: str) -> str:
    hashing = current_hashing()
    return await hashing.run(hashing.hasher.hash, password)


async def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Check `password`; also return a fresh hash when the stored one uses old parameters.

    With no stored hash (an unknown account, or "": one that signs in only through a
    provider) a dummy hash is verified anyway and the answer is always False, so callers
    cannot be timed into revealing who exists or how they sign in.
    """
    hashing = current_hashing()
    stored = password_hash or await hashing.dummy_hash()
    valid, new_hash = await hashing.run(hashing.hasher.verify_and_update, password, stored)
    if not password_hash:
        return False, None
    return valid, new_hash


class AccessClaims(NamedTuple):
    user_id: int
    token_version: int
    account_key: str
    session_id: str


def create_access_token(data: dict[str, Any], expires_delta: timedelta | None = None) -> str:
    """Sign `data` (which carries `sub`, the user id as a string) with `iat` and `exp`."""
    now = datetime.now(UTC)
    settings = get_settings()
    lifetime = expires_delta or timedelta(minutes=settings.access_token_expire_minutes)
    payload = {**data, "iat": now, "exp": now + lifetime}
    return jwt.encode(payload, settings.secret_key.get_secret_value(), settings.algorithm)


def token_for(user: User, session_id: str) -> str:
    """An access token for `user` within the session `session_id` (see accounts/sessions.py)."""
    claims = {
        "sub": str(user.id),
        "sid": session_id,
        "ver": user.token_version,
        "acct": user.account_key,
    }
    return create_access_token(claims)


def verify_access_token(token: str) -> AccessClaims | None:
    """The claims of a genuine, unexpired token, or None.

    The algorithm list is pinned, so `alg: none` or a swapped algorithm is refused.
    A token's signature and claims never change, so each is checked once (see
    `_check_token`); only its expiry is checked again on every use.
    """
    try:
        claims, expires = _check_token(token)
    except jwt.InvalidTokenError:
        return None
    if time.time() > expires + get_settings().access_token_leeway_seconds:
        return None
    return claims


def forget_checked_tokens() -> None:
    """Empty `_check_token`'s cache: for a new app, whose key may differ."""
    _check_token.cache_clear()


@lru_cache(maxsize=4096)
def _check_token(token: str) -> tuple[AccessClaims, float]:
    """Verify the signature and the claims' shapes: the claims and the expiry, or
    `InvalidTokenError`. Cached per token (answers that raise are not), which saves
    PyJWT's ~70 µs on every request; the cache holds only tokens this key signed."""
    settings = get_settings()
    payload = jwt.decode(
        token,
        settings.secret_key.get_secret_value(),
        algorithms=[settings.algorithm],
        options={"require": ["exp", "iat", "sub", "acct", "sid"]},
        leeway=settings.access_token_leeway_seconds,
    )
    sub, version, account_key = payload["sub"], payload.get("ver", 0), payload["acct"]
    session_id, expires = payload["sid"], payload["exp"]
    if not (sub.isascii() and sub.isdigit() and len(sub) <= len(str(MAX_ID))):
        raise jwt.InvalidTokenError("sub")
    if not 1 <= int(sub) <= MAX_ID or type(version) is not int:
        raise jwt.InvalidTokenError("sub or ver")
    for value, longest in ((account_key, ACCOUNT_KEY_MAX), (session_id, SESSION_ID_MAX)):
        if not (type(value) is str and value.isascii() and len(value) <= longest):
            raise jwt.InvalidTokenError("acct or sid")
    return AccessClaims(int(sub), version, account_key, session_id), float(expires)


def _unauthorized(code: str = "invalid_token") -> DomainError:
    """The one 401 of the API's bearer routes: `not_authenticated` when no token came,
    `invalid_token` when one came and is not (or no longer) good."""
    return DomainError(
        status.HTTP_401_UNAUTHORIZED,
        code,
        "Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )


@dataclass(frozen=True, slots=True)
class LiveSession:
    """The live session a bearer token names, and its user. The user is detached (read
    without the ORM, see web/hot_reads.py): `db.add()` it before changing it."""

    id: str
    user: User
    # When the session last proved who uses it (sign-in, reauthentication).
    authenticated_at: datetime

    @property
    def user_id(self) -> int:
        return self.user.id

    def recently_authenticated(self) -> bool:
        """Whether sensitive actions may go ahead on the session's word alone."""
        window = timedelta(minutes=get_settings().reauth_window_minutes)
        return sessions.utcnow() - self.authenticated_at <= window


_USER_COLUMNS = tuple(column.key for column in User.__table__.columns)


def insufficient_scope() -> DomainError:
    """A personal access token on a route its scopes do not cover (every session-only
    route included): it is good, but not for this."""
    return DomainError(
        status.HTTP_403_FORBIDDEN,
        "insufficient_scope",
        "This access token may not do this",
        headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'},
    )


async def _token_user(request: Request, token: str, scope: Scope | None) -> User | None:
    """The user a live personal access token names (accounts/access_tokens.py), in one
    read, or None. 403 `insufficient_scope` when it does not carry `scope` (None: no
    scope will do, the route is the sessions' alone). The user is detached, and never
    an admin: a token does not carry the role's powers."""
    token_hash = access_tokens.hash_of(token)
    if token_hash is None:
        return None
    reads: HotReads = request.state.hot_reads
    row = await reads.one(PAT_CHECK, token_hash=token_hash)
    now = sessions.utcnow()
    if row is None or not access_tokens.is_live(row, now):
        return None
    if scope is None or scope not in row.scopes.split():
        raise insufficient_scope()
    user = _detached_user(row, role=Role.MEMBER.value)
    await access_tokens.note_use(request, row, user, now)
    return user


async def _live_session(request: Request, token: str | None) -> LiveSession | None:
    """The one check of a bearer token: its signature and expiry, then its session and
    user in one read. An ended or expired session refuses its access tokens at once.
    A live personal access token is refused with 403 `insufficient_scope`: the routes
    that take one ask for it by scope (`scoped`)."""
    if token and access_tokens.is_access_token(token):
        await _token_user(request, token, None)  # raises for a live one
        return None
    claims = verify_access_token(token) if token else None
    if claims is None:
        return None
    reads: HotReads = request.state.hot_reads
    row = await reads.one(SESSION_CHECK, session_id=claims.session_id, user_id=claims.user_id)
    if row is None or not sessions.is_live(row, sessions.utcnow()):
        return None
    if not hmac.compare_digest(row.account_key, claims.account_key):
        return None
    if row.token_version != claims.token_version:
        return None
    if row.suspended_at is not None:  # suspending ends the sessions too; this holds regardless
        return None
    return LiveSession(claims.session_id, _detached_user(row), row.authenticated_at)


def _detached_user(row: Any, **overrides: object) -> User:
    """The user as if loaded by a session that has since closed. Built as SQLAlchemy's
    loader builds objects (values straight into the instance's dict), not through
    `User(...)`, whose validators and change tracking cost ~10 µs per request to redo
    what the database already holds."""
    user: User = User.__mapper__.class_manager.new_instance()
    user.__dict__.update({key: getattr(row, key) for key in _USER_COLUMNS} | overrides)
    make_transient_to_detached(user)
    return user


BearerToken = Annotated[str | None, Depends(oauth2_scheme)]


async def get_optional_session(request: Request, token: BearerToken) -> LiveSession | None:
    return await _live_session(request, token)


async def get_current_session(request: Request, token: BearerToken) -> LiveSession:
    """The live session, or 401 with `WWW-Authenticate: Bearer`."""
    live = await _live_session(request, token)
    if live is None:
        raise _unauthorized("invalid_token" if token else "not_authenticated")
    return live


def reauthentication_required() -> DomainError:
    """The 401 of a sensitive action on a session that has not proven who uses it
    lately: the client reauthenticates (POST /api/users/me/reauthentication) and
    retries. Nothing was changed."""
    return DomainError(
        status.HTTP_401_UNAUTHORIZED,
        "reauthentication_required",
        "Confirm it is you (your password or a passkey) to do this",
    )


async def get_recent_session(request: Request, token: BearerToken) -> LiveSession:
    """The live session, provided it authenticated within REAUTH_WINDOW_MINUTES: for
    sensitive actions (401 `reauthentication_required` otherwise)."""
    live = await get_current_session(request, token)
    if not live.recently_authenticated():
        raise reauthentication_required()
    return live


async def get_optional_user(request: Request, token: BearerToken) -> User | None:
    """The user a valid bearer token names, or None: for routes that only personalise."""
    live = await _live_session(request, token)
    return live.user if live else None


async def get_current_user(request: Request, token: BearerToken) -> User:
    """The signed-in user, or 401 with `WWW-Authenticate: Bearer`."""
    return (await get_current_session(request, token)).user


async def get_admin_user(request: Request, token: BearerToken) -> User:
    """The signed-in admin: 401 without a valid token, 403 `admin_required` for a member."""
    user = (await get_current_session(request, token)).user
    if not user.is_admin:
        raise DomainError(status.HTTP_403_FORBIDDEN, "admin_required", "Only an admin may do this")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]
AdminUser = Annotated[User, Depends(get_admin_user)]
CurrentSession = Annotated[LiveSession, Depends(get_current_session)]
# A session that authenticated lately (see get_recent_session).
RecentSession = Annotated[LiveSession, Depends(get_recent_session)]
OptionalSession = Annotated[LiveSession | None, Depends(get_optional_session)]
OptionalUser = Annotated[User | None, Depends(get_optional_user)]


def scoped(scope: Scope, *, optional: bool = False) -> Callable[..., Any]:
    """The dependency of a route a personal access token with `scope` may use: the user
    a live session's access token or such a token names. 401 without either (`optional`:
    None), 403 `insufficient_scope` for a token without the scope."""

    async def token_or_session(
        request: Request,
        token: BearerToken,
        _offered: Annotated[HTTPAuthorizationCredentials | None, Depends(access_token_scheme)],
    ) -> User | None:
        if token and access_tokens.is_access_token(token):
            user = await _token_user(request, token, scope)
            if user is None and not optional:
                raise _unauthorized()
            return user
        if optional:
            return await get_optional_user(request, token)
        return await get_current_user(request, token)

    return token_or_session


# The routes personal access tokens may use (accounts/access_tokens.Scope).
PostsReader = Annotated[User, Depends(scoped(Scope.POSTS_READ))]
OptionalPostsReader = Annotated[User | None, Depends(scoped(Scope.POSTS_READ, optional=True))]
PostsWriter = Annotated[User, Depends(scoped(Scope.POSTS_WRITE))]
CommentsWriter = Annotated[User, Depends(scoped(Scope.COMMENTS_WRITE))]
