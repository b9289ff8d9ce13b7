"""Who is asking: password hashing, access tokens, and the current-user dependency."""

import asyncio
import contextlib
import hmac
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, NamedTuple, TypeVar

import jwt
from fastapi import Depends, HTTPException, status
from fastapi.security import OAuth2PasswordBearer
from pwdlib import PasswordHash

import sessions
from config import settings
from database import SessionDep
from models import ACCOUNT_KEY_MAX, MAX_ID, SESSION_ID_MAX, User, UserSession

password_hasher = PasswordHash.recommended()
T = TypeVar("T")
# How much lower than the event loop the hashing threads run (Unix nice levels).
HASHING_NICENESS = 10


def _yield_to_the_event_loop() -> None:
    """Hashing threads (and the lane threads Argon2 starts from them) take the CPU
    only when the event loop does not need it, so a burst of logins cannot slow
    other requests, while idle cores still go to hashing."""
    with contextlib.suppress(AttributeError, OSError):  # per-thread nice is Linux's
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


# Argon2 is slow and memory-hungry on purpose (~0.2 s, 64 MiB): it runs in these
# threads, never on the event loop, and at most this many at once, so a burst of
# logins queues cheaply instead of starving other requests or the memory.
_hashing_pool = ThreadPoolExecutor(
    max_workers=settings.max_concurrent_hashes,
    thread_name_prefix="argon2",
    initializer=_yield_to_the_event_loop,
)


async def _hash_work(function: Callable[..., T], *args: object) -> T:
    return await asyncio.get_running_loop().run_in_executor(_hashing_pool, function, *args)


# Verified when the email is unknown, so that path costs the same as a wrong password.
_DUMMY_HASH = password_hasher.hash("dummy password that matches no account")
# Decoding tolerates this much clock difference between servers.
TOKEN_LEEWAY = timedelta(seconds=10)

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="api/users/token", auto_error=False)


async def hash_password(password: str) -> str:
    return await _hash_work(password_hasher.hash, password)


async def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Check `password`; also return a fresh hash when the stored one uses old parameters.

    With no stored hash (unknown account) a dummy hash is verified anyway and the
    answer is always False, so callers cannot be timed into revealing who exists.
    """
    stored = password_hash or _DUMMY_HASH
    valid, new_hash = await _hash_work(password_hasher.verify_and_update, password, stored)
    if password_hash is None:
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
    lifetime = expires_delta or timedelta(minutes=settings.access_token_expire_minutes)
    payload = {**data, "iat": now, "exp": now + lifetime}
    return jwt.encode(payload, settings.secret_key.get_secret_value(), settings.algorithm)


def token_for(user: User, session_id: str) -> str:
    """An access token for `user` within the session `session_id` (see sessions.py)."""
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
    """
    try:
        payload = jwt.decode(
            token,
            settings.secret_key.get_secret_value(),
            algorithms=[settings.algorithm],
            options={"require": ["exp", "iat", "sub", "acct", "sid"]},
            leeway=TOKEN_LEEWAY,
        )
    except jwt.InvalidTokenError:
        return None
    sub, version, account_key = payload["sub"], payload.get("ver", 0), payload["acct"]
    session_id = payload["sid"]
    if not (sub.isascii() and sub.isdigit() and len(sub) <= len(str(MAX_ID))):
        return None
    if not 1 <= int(sub) <= MAX_ID or type(version) is not int:
        return None
    for value, longest in ((account_key, ACCOUNT_KEY_MAX), (session_id, SESSION_ID_MAX)):
        if not (type(value) is str and value.isascii() and len(value) <= longest):
            return None
    return AccessClaims(int(sub), version, account_key, session_id)


def _unauthorized() -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail="Could not validate credentials",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def get_optional_session(
    session: SessionDep, token: Annotated[str | None, Depends(oauth2_scheme)]
) -> UserSession | None:
    """The live session (with its user) a valid bearer token names, or None. One query:
    an ended or expired session refuses its access tokens at once."""
    claims = verify_access_token(token) if token else None
    if claims is None:
        return None
    row = await sessions.find(session, claims.session_id, claims.user_id)
    if row is None or not sessions.is_live(row, sessions.utcnow()):
        return None
    user = row.user
    if not hmac.compare_digest(user.account_key, claims.account_key):
        return None
    if user.token_version != claims.token_version:
        return None
    return row


async def get_optional_user(
    row: Annotated[UserSession | None, Depends(get_optional_session)],
) -> User | None:
    """The user a valid bearer token names, or None: for routes that only personalise."""
    return row.user if row else None


async def get_current_user(user: Annotated[User | None, Depends(get_optional_user)]) -> User:
    """The signed-in user, or 401 with `WWW-Authenticate: Bearer`."""
    if user is None:
        raise _unauthorized()
    return user


async def get_current_session(
    row: Annotated[UserSession | None, Depends(get_optional_session)],
) -> UserSession:
    if row is None:
        raise _unauthorized()
    return row


CurrentUser = Annotated[User, Depends(get_current_user)]
CurrentSession = Annotated[UserSession, Depends(get_current_session)]
OptionalSession = Annotated[UserSession | None, Depends(get_optional_session)]
OptionalUser = Annotated[User | None, Depends(get_optional_user)]
