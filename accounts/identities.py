"""Accounts at OpenID Connect providers that sign into Inkwell accounts: which account a
provider's sign-in opens, when one is made, linking and unlinking.

The rules, and why:
- An identity is the provider's name and its `sub`, which the provider never changes or
  reuses; the email beside it is only shown. A linked identity signs its account in
  whatever email the provider gives now.
- A sign-in by an identity nobody linked makes a new account, but only from an email the
  provider says is verified and no account uses. An email already in use is refused,
  never merged: whoever controls a provider account with that email (or registered it
  there before the owner did) would otherwise get into the account. Its owner signs in
  as before and links the provider from the account page.
- Linking takes a signed-in session that proved itself recently (the link flow starts
  from the API); an identity linked to another account is refused.
- Unlinking the last way to sign in (no password, no passkey, no other provider that is
  configured) is refused, so nobody locks themselves out.

Every link, unlink and sign-in is in the security log with the provider's name; a link
or unlink also mails a notice (in the transaction of the change)."""

import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import Request, status
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import notices, rate_limits, security_log, sessions
from accounts.security_log import EventType
from accounts.usernames import clean_username
from database import lock_account
from errors.domain import DomainError
from models import (
    EMAIL_MAX,
    OIDC_SUBJECT_MAX,
    USERNAME_MAX,
    OIDCIdentity,
    Passkey,
    User,
    fold,
)

# Links per account and hour: enough for anyone, too few to churn rows or mail.
LINKS_PER_HOUR = 10
# A made-up username's number (alice2, alice3...) before a random one is tried.
NUMBERED_NAMES = 9
RANDOM_NAME_DIGITS = 6
FALLBACK_NAME = "reader"


@dataclass(frozen=True)
class ProviderAccount:
    """Who a verified ID token says signed in, at which provider (its configured name)."""

    provider: str
    subject: str
    email: str
    email_verified: bool
    preferred_username: str
    name: str


def _text_claim(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    return value.strip() if isinstance(value, str) else ""


def provider_account(provider: str, claims: Mapping[str, Any]) -> ProviderAccount:
    """The claims Inkwell uses, of the right types (a claim of another type counts as
    missing; `email_verified` must be the JSON `true`)."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > OIDC_SUBJECT_MAX:
        raise DomainError(
            status.HTTP_400_BAD_REQUEST,
            "oidc_id_token_invalid",
            "The provider's answer could not be verified. Please try again.",
        )
    email = _text_claim(claims, "email")
    return ProviderAccount(
        provider=provider,
        subject=subject,
        email=email if len(email) <= EMAIL_MAX else "",
        email_verified=claims.get("email_verified") is True,
        preferred_username=_text_claim(claims, "preferred_username"),
        name=_text_claim(claims, "name"),
    )


# --- Refusals: each becomes an explaining page (routers/oidc.py) ---------------------


def email_in_use(label: str) -> DomainError:
    return DomainError(
        status.HTTP_409_CONFLICT,
        "oidc_email_in_use",
        f"An Inkwell account already uses the email address of your {label} account, so "
        f"none was made and nobody was signed in. If it is yours, log in to it with its "
        f"password or passkey, then link {label} from your account page: after that, "
        f"“Continue with {label}” signs you in.",
    )


def email_unverified(label: str) -> DomainError:
    return DomainError(
        status.HTTP_400_BAD_REQUEST,
        "oidc_email_unverified",
        f"{label} does not confirm that the email address of your account there is yours, "
        f"so no Inkwell account was made from it. Confirm the address at {label} and try "
        f"again, or register here with a password.",
    )


def email_missing(label: str) -> DomainError:
    return DomainError(
        status.HTTP_400_BAD_REQUEST,
        "oidc_email_missing",
        f"{label} did not share an email address, which a new Inkwell account needs. "
        f"Allow it to share your email and try again, or register here with a password.",
    )


def identity_taken(label: str) -> DomainError:
    return DomainError(
        status.HTTP_409_CONFLICT,
        "oidc_identity_taken",
        f"This {label} account already signs in to another Inkwell account, so it was not "
        f"linked. Unlink it there first, or link a different {label} account.",
    )


def provider_already_linked(label: str) -> DomainError:
    return DomainError(
        status.HTTP_409_CONFLICT,
        "oidc_provider_already_linked",
        f"Another {label} account is already linked to your account. Unlink it first "
        f"to link this one.",
    )


def session_ended() -> DomainError:
    return DomainError(
        status.HTTP_401_UNAUTHORIZED,
        "oidc_session_ended",
        "You were signed out meanwhile, so nothing was done. Log in and try again.",
    )


def not_linked_here(label: str) -> DomainError:
    return DomainError(
        status.HTTP_403_FORBIDDEN,
        "oidc_identity_not_linked",
        f"This {label} account is not linked to your Inkwell account, so it cannot "
        f"confirm it is you. Use the {label} account you linked, or your password or "
        f"a passkey.",
    )


def code_needed(label: str) -> DomainError:
    return DomainError(
        status.HTTP_403_FORBIDDEN,
        "oidc_reauthentication_needs_code",
        f"Your account has two-factor authentication, which {label} alone cannot "
        f"satisfy: nothing was confirmed. Try again and type your code before you "
        f"continue with {label}, or use a passkey.",
    )


def identity_not_found() -> DomainError:
    return DomainError(
        status.HTTP_404_NOT_FOUND, "identity_not_found", "No such linked sign-in on your account"
    )


def last_method() -> DomainError:
    return DomainError(
        status.HTTP_409_CONFLICT,
        "identity_last_method",
        "This is the only way left to sign in to your account, so it cannot be unlinked. "
        "Set a password first (log out and use “Forgot your password?”, which mails you "
        "a link) or add a passkey, then unlink it.",
    )


# --- Signing in ------------------------------------------------------------------------


async def _identity(db: AsyncSession, provider: str, subject: str) -> OIDCIdentity | None:
    return await db.scalar(
        select(OIDCIdentity).where(
            OIDCIdentity.provider == provider, OIDCIdentity.subject == subject
        )
    )


def _used(identity: OIDCIdentity, account: ProviderAccount) -> None:
    identity.last_used_at = sessions.utcnow()
    if account.email:
        identity.email = account.email


async def account_for_sign_in(
    request: Request, db: AsyncSession, *, account: ProviderAccount, label: str
) -> User:
    """The account `account` signs into: the one its identity is linked to, or a new
    one made from it (see the module's rules). Committed: the new account, or the
    identity's last use. Whether the account may sign in (suspended, 2FA) is the
    caller's."""
    for attempt in range(2):
        identity = await _identity(db, account.provider, account.subject)
        user = await db.get(User, identity.user_id) if identity is not None else None
        if identity is not None and user is not None:
            _used(identity, account)
            await db.commit()
            return user
        try:
            return await _new_account(request, db, account=account, label=label)
        except IntegrityError:
            # The same identity (a callback racing this one) or the same email was
            # stored first: look again, and the second look answers.
            await db.rollback()
            if attempt:
                raise
        except DomainError as refusal:
            # The account using this email may be the one a callback racing this one
            # just made for this very identity, committed between the two looks (the
            # identity's, then the email's): look again before refusing.
            if attempt or refusal.code != "oidc_email_in_use":
                raise
            await db.rollback()
    raise email_in_use(label)


async def _new_account(
    request: Request, db: AsyncSession, *, account: ProviderAccount, label: str
) -> User:
    if not account.email:
        raise email_missing(label)
    if not account.email_verified:
        raise email_unverified(label)
    email_key = fold(account.email)
    if await db.scalar(select(User.id).where(User.email_key == email_key)) is not None:
        raise email_in_use(label)
    await rate_limits.spend_sign_up(db, sessions.client_address(request))
    username = await _free_username(db, account)
    # No password (""): it signs in through the provider until one is set with the
    # reset-by-mail flow. The provider vouched for the email, so it is verified.
    user = User(
        username=username, email=account.email.lower(), password_hash="", email_verified=True
    )
    db.add(user)
    await db.flush()
    db.add(
        OIDCIdentity(
            user_id=user.id,
            provider=account.provider,
            subject=account.subject,
            email=account.email,
            last_used_at=sessions.utcnow(),
        )
    )
    await security_log.record(db, user.id, EventType.IDENTITY_LINKED, request, account.provider)
    await db.commit()
    return user


def _base_names(account: ProviderAccount) -> Iterator[str]:
    """The provider's names for the person, each made a valid username, best first;
    FALLBACK_NAME only when none of them is valid (a taken name is numbered, not
    swapped for a generic one)."""
    local_part = account.email.partition("@")[0]
    found = False
    for raw in (account.preferred_username, account.name, local_part):
        try:
            name = clean_username(raw)
        except ValueError:
            continue
        if name:
            found = True
            yield name
    if not found:
        yield FALLBACK_NAME


def _cut(name: str, room: int) -> str:
    """`name` shortened to leave `room` characters for a number (still a valid name)."""
    cut = name[: USERNAME_MAX - room].rstrip()
    try:
        return clean_username(cut) if cut else FALLBACK_NAME
    except ValueError:
        return FALLBACK_NAME


async def _free_username(db: AsyncSession, account: ProviderAccount) -> str:
    """The first of the provider's names no account has (whatever its case), then the
    best of them numbered (alice2...alice9), then with a random number. The database's
    unique key is the last word: a name taken meanwhile fails the commit, and the
    sign-in is tried once more."""
    bases = list(dict.fromkeys(_base_names(account)))
    best = _cut(bases[0], RANDOM_NAME_DIGITS)
    candidates = bases + [f"{_cut(bases[0], 1)}{n}" for n in range(2, NUMBERED_NAMES + 1)]
    taken = set(
        (
            await db.scalars(
                select(User.username_key).where(
                    User.username_key.in_([fold(name) for name in candidates])
                )
            )
        ).all()
    )
    for name in candidates:
        if fold(name) not in taken:
            return name
    while True:
        name = f"{best}{secrets.randbelow(10**RANDOM_NAME_DIGITS)}"
        if await db.scalar(select(User.id).where(User.username_key == fold(name))) is None:
            return name


# --- Linking, reauthenticating, unlinking ----------------------------------------------


async def _signed_in(db: AsyncSession, user_id: int, session_id: str) -> User:
    """The account whose session `session_id` started a link or reauthentication, if
    that session is still live and the account may sign in."""
    row = await sessions.find(db, session_id)
    live = row is not None and row.revoked_at is None and sessions.is_live(row, sessions.utcnow())
    if row is None or not live or row.user_id != user_id or row.user.suspended_at is not None:
        raise session_ended()
    return row.user


async def reauthenticate(
    request: Request,
    db: AsyncSession,
    *,
    user_id: int,
    session_id: str,
    account: ProviderAccount,
    label: str,
    second_factor: str = "",
) -> None:
    """The session `session_id` proves again who uses it by signing in at a provider
    linked to its account, as a password or passkey would (web/step_up.py). With 2FA
    on, `second_factor` must name the factor proven when the flow started (a provider
    does not stand in for it). Logged; committed."""
    user = await _signed_in(db, user_id, session_id)
    identity = await _identity(db, account.provider, account.subject)
    if identity is None or identity.user_id != user_id:
        raise not_linked_here(label)
    if user.totp_enabled and not second_factor:
        raise code_needed(label)
    _used(identity, account)
    await sessions.mark_authenticated(db, session_id)
    method = security_log.provider_method(account.provider)
    if user.totp_enabled:
        method = f"{method}+{second_factor}"
    await security_log.record(db, user_id, EventType.REAUTHENTICATED, request, method)
    await db.commit()


async def link(
    request: Request,
    db: AsyncSession,
    *,
    user_id: int,
    session_id: str,
    account: ProviderAccount,
    label: str,
) -> None:
    """Link `account` to the account signed in as `session_id` (which must still be
    live): logged and mailed. Linking it again to the same account changes nothing."""
    user = await _signed_in(db, user_id, session_id)
    identity = await _identity(db, account.provider, account.subject)
    if identity is not None:
        if identity.user_id != user_id:
            raise identity_taken(label)
        _used(identity, account)
        await db.commit()
        return
    other = await db.scalar(
        select(OIDCIdentity.id).where(
            OIDCIdentity.user_id == user_id, OIDCIdentity.provider == account.provider
        )
    )
    if other is not None:
        raise provider_already_linked(label)
    await rate_limits.spend(db, {f"oidc-link:{user_id}": LINKS_PER_HOUR})
    db.add(
        OIDCIdentity(
            user_id=user_id,
            provider=account.provider,
            subject=account.subject,
            email=account.email,
        )
    )
    try:
        await db.flush()
    except IntegrityError:
        # A callback racing this one linked this identity (to this account or
        # another), or another account of this provider to this account, first:
        # the database's unique keys decide, and the answer says which.
        await db.rollback()
        identity = await _identity(db, account.provider, account.subject)
        if identity is not None and identity.user_id == user_id:
            return
        raise (identity_taken if identity else provider_already_linked)(label) from None
    await security_log.record(db, user_id, EventType.IDENTITY_LINKED, request, account.provider)
    await notices.queue_identity_linked(db, user, label)
    await db.commit()


async def identities_of(db: AsyncSession, user_id: int) -> list[OIDCIdentity]:
    """The account's linked identities, oldest first."""
    return list(
        (
            await db.scalars(
                select(OIDCIdentity)
                .where(OIDCIdentity.user_id == user_id)
                .order_by(OIDCIdentity.id)
            )
        ).all()
    )


async def unlink(
    request: Request,
    db: AsyncSession,
    *,
    user_id: int,
    identity_id: int,
    labels: Mapping[str, str],
) -> None:
    """Unlink one of the account's identities, unless it is the last way to sign in.
    `labels`: the configured providers' labels by name (an identity of a provider no
    longer configured signs nobody in, so it does not count as another way)."""
    await lock_account(db, user_id)  # two unlinks of the last two take turns
    user = await db.get(User, user_id, populate_existing=True)
    identity = await db.get(OIDCIdentity, identity_id)
    if user is None or identity is None or identity.user_id != user_id:
        raise identity_not_found()
    await rate_limits.spend(db, {f"oidc-link:{user_id}": LINKS_PER_HOUR})
    provider = identity.provider
    # Deleted first, then what is left counted: on SQLite the write is what makes two
    # unlinks take turns (database.lock_account).
    await db.delete(identity)
    await db.flush()
    others = await db.scalar(
        select(func.count())
        .select_from(OIDCIdentity)
        .where(OIDCIdentity.user_id == user_id, OIDCIdentity.provider.in_(list(labels)))
    )
    passkeys = await db.scalar(
        select(func.count()).select_from(Passkey).where(Passkey.user_id == user_id)
    )
    if not (user.password_hash or others or passkeys):
        await db.rollback()
        raise last_method()
    await security_log.record(db, user_id, EventType.IDENTITY_UNLINKED, request, provider)
    await notices.queue_identity_unlinked(db, user, labels.get(provider, provider))
    await db.commit()
