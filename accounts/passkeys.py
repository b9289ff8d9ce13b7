"""Passkeys: WebAuthn credentials that sign a person in without a password.

The ceremonies themselves (CBOR, COSE keys, signatures, flags) are py_webauthn's; this
module decides what they are checked against:

- The relying party is the host of PUBLIC_URL, and the only origin accepted is
  PUBLIC_URL's. Without PUBLIC_URL (development) it is `localhost` and the address the
  server is listening on, `http://localhost:<port>`, read from the socket, never from a
  request's Host header, which the client writes.
- Every challenge is 32 random bytes kept in `passkey_challenges`: it expires after
  CHALLENGE_LIFETIME, is deleted as it is checked (so an answer can never be replayed,
  even one that failed), and a registration challenge only works for the account
  that asked for it.
- Signing in requires user verification (a PIN, a fingerprint, a face): the passkey
  replaces both the password and the device, so presence alone is not enough. The
  signature counter must grow, unless the authenticator keeps none (synced passkeys
  report 0), and an answer naming another account than the credential's is refused.
- Reauthentication (step-up, web/step_up.py) is a sign-in ceremony bound to the
  signed-in account: its challenge is that account's, its options list only that
  account's passkeys, and a passkey of any other account is refused.
"""

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from fastapi import Request, status
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialCreationOptions,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialRequestOptions,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from accounts import sessions, tokens
from accounts.throttle import LoginThrottle
from config import get_settings
from database import lock_account, rows_changed
from errors.domain import DomainError
from models import IP_MAX, Passkey, PasskeyChallenge, User, utcnow

Answer = TypeVar("Answer", RegistrationCredential, AuthenticationCredential)

RP_NAME = "Inkwell"
REGISTER = "register"
SIGN_IN = "sign-in"
# A signed-in person proving again who they are (step-up): bound to the account.
REAUTHENTICATE = "reauthenticate"
CHALLENGE_BYTES = 32
CHALLENGE_LIFETIME = timedelta(minutes=5)
# One client keeps at most this many challenges: asking for more drops its oldest, so
# the table cannot be filled by one address.
MAX_CHALLENGES_PER_CLIENT = 10
# An account has at most this many passkeys (they are listed in every registration).
MAX_PASSKEYS = 20
DEFAULT_NAME = "Passkey"


@dataclass(frozen=True)
class RelyingParty:
    id: str
    origin: str


def relying_party(request: Request) -> RelyingParty:
    """Who passkeys are made for, and the one origin their answers may come from."""
    url = get_settings().public_url
    if url is not None:
        host = url.host or ""
        default_port = {"http": 80, "https": 443}[url.scheme]
        port = "" if url.port in (None, default_port) else f":{url.port}"
        return RelyingParty(host, f"{url.scheme}://{host}{port}")
    server = request.scope.get("server")
    listening: int = server[1] if server and server[1] else 8000
    suffix = "" if listening == 80 else f":{listening}"
    return RelyingParty("localhost", f"http://localhost{suffix}")


def _refused(code: str, detail: str) -> DomainError:
    return DomainError(status.HTTP_400_BAD_REQUEST, code, detail)


# --- Challenges ---------------------------------------------------------------------


async def _new_challenge(
    db: AsyncSession, request: Request, purpose: str, user_id: int | None = None
) -> bytes:
    """A fresh challenge, added to the session (the caller commits)."""
    now = utcnow()
    client = sessions.client_address(request)[:IP_MAX]
    await tokens.purge(db, PasskeyChallenge, PasskeyChallenge.expires_at <= now)
    newest = (
        select(PasskeyChallenge.id)
        .where(PasskeyChallenge.client == client)
        .order_by(PasskeyChallenge.created_at.desc(), PasskeyChallenge.id.desc())
        .limit(MAX_CHALLENGES_PER_CLIENT - 1)
    )
    await db.execute(
        delete(PasskeyChallenge).where(
            PasskeyChallenge.client == client, PasskeyChallenge.id.not_in(newest.scalar_subquery())
        ),
        execution_options={"synchronize_session": False},
    )
    challenge = secrets.token_bytes(CHALLENGE_BYTES)
    db.add(
        PasskeyChallenge(
            challenge=bytes_to_base64url(challenge),
            purpose=purpose,
            user_id=user_id,
            client=client,
            created_at=now,
            expires_at=now + CHALLENGE_LIFETIME,
        )
    )
    return challenge


def _parsed(parse: Callable[[dict[str, Any]], Answer], answer: dict[str, Any]) -> Answer:
    """The browser's JSON answer as py_webauthn's structure; 400 if it is not one."""
    try:
        return parse(answer)
    except (WebAuthnException, ValueError) as exc:  # binascii.Error is a ValueError
        raise _refused("passkey_malformed", f"The passkey's answer is malformed: {exc}") from exc


def _challenge_of(credential: RegistrationCredential | AuthenticationCredential) -> bytes:
    try:
        return parse_client_data_json(credential.response.client_data_json).challenge
    except (WebAuthnException, ValueError) as exc:
        raise _refused(
            "passkey_malformed", "The passkey's answer is malformed (clientDataJSON)"
        ) from exc


async def _take_challenge(
    db: AsyncSession, challenge: bytes, purpose: str, user_id: int | None
) -> None:
    """Spend the challenge the answer signed, whatever comes next, and commit: an
    answer is checked once at most. 400 if it is unknown, used, expired or another's."""
    owner = (
        PasskeyChallenge.user_id.is_(None)
        if user_id is None
        else PasskeyChallenge.user_id == user_id
    )
    taken = await db.execute(
        delete(PasskeyChallenge)
        .where(
            PasskeyChallenge.challenge == bytes_to_base64url(challenge),
            PasskeyChallenge.purpose == purpose,
            PasskeyChallenge.expires_at > utcnow(),
            owner,
        )
        .returning(PasskeyChallenge.id),
        execution_options={"synchronize_session": False},
    )
    found = taken.first() is not None
    await db.commit()
    if not found:
        raise _refused(
            "passkey_challenge_expired",
            "This passkey request has expired or was already used; please try again",
        )


# --- Registration -------------------------------------------------------------------


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in passkey.transports.split(",") if t]
    return PublicKeyCredentialDescriptor(id=passkey.credential_id, transports=transports)


async def registration_options(db: AsyncSession, request: Request, user: User) -> dict[str, Any]:
    """Options for navigator.credentials.create(): a discoverable credential, user
    verification preferred, none of the account's own passkeys again. Commits."""
    owned = list(await db.scalars(select(Passkey).where(Passkey.user_id == user.id)))
    if len(owned) >= MAX_PASSKEYS:
        raise _refused(
            "too_many_passkeys", f"An account can have {MAX_PASSKEYS} passkeys; remove one first"
        )
    challenge = await _new_challenge(db, request, REGISTER, user.id)
    await db.commit()
    options = generate_registration_options(
        rp_id=relying_party(request).id,
        rp_name=RP_NAME,
        # Random and made with the account: the handle names no one (the spec asks
        # that it carry nothing personal) and is what a sign-in answer names.
        user_id=user.account_key.encode(),
        user_name=user.email,
        user_display_name=user.username,
        challenge=challenge,
        timeout=int(CHALLENGE_LIFETIME.total_seconds() * 1000),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(passkey) for passkey in owned],
    )
    return _as_json(options)


def _as_json(
    options: PublicKeyCredentialCreationOptions | PublicKeyCredentialRequestOptions,
) -> dict[str, Any]:
    """The options as the browser's JSON form (`PublicKeyCredential.parse...FromJSON`)."""
    browser_json: dict[str, Any] = json.loads(options_to_json(options))
    return browser_json


async def register(
    db: AsyncSession, request: Request, user: User, answer: dict[str, Any], name: str | None
) -> Passkey:
    """Check the browser's answer to the registration options and keep the new
    passkey, added to the session (the caller commits). 400 if it does not verify or
    the account has its MAX_PASSKEYS already, 409 if it is registered already."""
    credential = _parsed(parse_registration_credential_json, answer)
    challenge = _challenge_of(credential)
    await _take_challenge(db, challenge, REGISTER, user.id)
    party = relying_party(request)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=party.id,
            expected_origin=party.origin,
        )
    except (WebAuthnException, ValueError) as exc:
        raise _refused("passkey_invalid", f"The passkey could not be verified: {exc}") from exc
    transports = credential.response.transports or []
    passkey = Passkey(
        user_id=user.id,
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=",".join(sorted({t.value for t in transports})),
        name=name or DEFAULT_NAME,
        created_at=utcnow(),
    )
    # The cap holds in the transaction that stores, not only when options were given
    # (ten sets of options answered at once would pass that check together).
    await lock_account(db, user.id)
    db.add(passkey)
    try:
        await db.flush()  # on SQLite, takes the write lock before counting
    except IntegrityError:
        await db.rollback()
        raise DomainError(
            status.HTTP_409_CONFLICT, "passkey_exists", "This passkey is already registered"
        ) from None
    owned = await db.scalar(select(func.count()).where(Passkey.user_id == user.id))
    if (owned or 0) > MAX_PASSKEYS:
        raise DomainError(
            status.HTTP_400_BAD_REQUEST,
            "too_many_passkeys",
            f"An account can have {MAX_PASSKEYS} passkeys; remove one first",
        )
    return passkey


# --- Signing in ---------------------------------------------------------------------


async def sign_in_options(db: AsyncSession, request: Request) -> dict[str, Any]:
    """Options for navigator.credentials.get(): no allow-list, so the browser offers
    whichever passkeys it holds for this site. Commits."""
    challenge = await _new_challenge(db, request, SIGN_IN)
    await db.commit()
    options = generate_authentication_options(
        rp_id=relying_party(request).id,
        challenge=challenge,
        timeout=int(CHALLENGE_LIFETIME.total_seconds() * 1000),
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return _as_json(options)


def _not_accepted(code: str, detail: str) -> DomainError:
    return DomainError(
        status.HTTP_401_UNAUTHORIZED, code, detail, headers={"WWW-Authenticate": "Bearer"}
    )


UNKNOWN_PASSKEY = "This passkey is not registered here; it may have been removed"


async def authenticate(db: AsyncSession, request: Request, answer: dict[str, Any]) -> User:
    """The account a sign-in answer proves, its passkey's counter moved on. 400 for a
    stale or reused request, 401 for an answer that does not prove an account, and
    429 once the login throttle's budget is spent: a failed passkey counts against the
    client (and a known passkey against its account) as a wrong password would."""
    credential = _parsed(parse_authentication_credential_json, answer)
    challenge = _challenge_of(credential)
    await _take_challenge(db, challenge, SIGN_IN, None)
    passkey = await db.scalar(
        select(Passkey)
        .options(joinedload(Passkey.user))
        .where(Passkey.credential_id == credential.raw_id)
    )
    await db.commit()  # release the connection while the throttle works
    key = (
        passkey.user.email_key
        if passkey
        else "passkey:" + hashlib.sha256(credential.raw_id).hexdigest()
    )
    return await _throttled_verify(db, request, credential, challenge, passkey, key)


async def _throttled_verify(
    db: AsyncSession,
    request: Request,
    credential: AuthenticationCredential,
    challenge: bytes,
    passkey: Passkey | None,
    key: str,
) -> User:
    """`_verify`, spending the login throttle's budget of `key` and of the client."""
    throttle: LoginThrottle = request.state.login_throttle
    attempt = await throttle.reserve(key, sessions.client_address(request))
    try:
        user = await _verify(db, request, credential, challenge, passkey)
    except Exception:
        await throttle.failed(attempt)
        raise
    await throttle.succeeded(attempt)
    return user


# --- Reauthenticating (step-up) -------------------------------------------------------


async def reauthentication_options(
    db: AsyncSession, request: Request, user: User
) -> dict[str, Any]:
    """Options for navigator.credentials.get() that only `user`'s passkeys answer
    (allowCredentials), user verification required as at sign-in. 400 `no_passkeys`
    for an account without any. Commits."""
    owned = list(await db.scalars(select(Passkey).where(Passkey.user_id == user.id)))
    if not owned:
        raise _refused("no_passkeys", "This account has no passkey: confirm it is you another way")
    challenge = await _new_challenge(db, request, REAUTHENTICATE, user.id)
    await db.commit()
    options = generate_authentication_options(
        rp_id=relying_party(request).id,
        challenge=challenge,
        timeout=int(CHALLENGE_LIFETIME.total_seconds() * 1000),
        allow_credentials=[_descriptor(passkey) for passkey in owned],
        user_verification=UserVerificationRequirement.REQUIRED,
    )
    return _as_json(options)


async def reauthenticate(
    db: AsyncSession, request: Request, user: User, answer: dict[str, Any]
) -> None:
    """Check that the answer to `reauthentication_options` proves `user` (one of its own
    passkeys, verified as at sign-in, its counter moved on): 400 for a stale or reused
    request, 401 `passkey_wrong_account` for another account's passkey, 401 for one
    that does not verify, 429 once the account's login throttle is spent (a failure
    counts as a wrong password would)."""
    credential = _parsed(parse_authentication_credential_json, answer)
    challenge = _challenge_of(credential)
    await _take_challenge(db, challenge, REAUTHENTICATE, user.id)
    passkey = await db.scalar(
        select(Passkey)
        .options(joinedload(Passkey.user))
        .where(Passkey.credential_id == credential.raw_id)
    )
    await db.commit()  # release the connection while the throttle works
    if passkey is not None and passkey.user_id != user.id:
        throttle: LoginThrottle = request.state.login_throttle
        attempt = await throttle.reserve(user.email_key, sessions.client_address(request))
        await throttle.failed(attempt)
        raise _not_accepted("passkey_wrong_account", "This passkey belongs to another account")
    await _throttled_verify(db, request, credential, challenge, passkey, user.email_key)


async def _verify(
    db: AsyncSession,
    request: Request,
    credential: AuthenticationCredential,
    challenge: bytes,
    passkey: Passkey | None,
) -> User:
    if passkey is None:
        raise _not_accepted("passkey_unknown", UNKNOWN_PASSKEY)
    handle = credential.response.user_handle
    if handle is not None and handle != passkey.user.account_key.encode():
        raise _not_accepted("passkey_wrong_account", "This passkey belongs to another account")
    party = relying_party(request)
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=party.id,
            expected_origin=party.origin,
            credential_public_key=passkey.public_key,
            credential_current_sign_count=passkey.sign_count,
            require_user_verification=True,
        )
    except (WebAuthnException, ValueError) as exc:
        raise _not_accepted("passkey_invalid", f"The passkey could not be verified: {exc}") from exc
    # The counter moves only forward, checked and set in one statement: of two answers
    # racing with the same count, one wins and the other is refused as a copy.
    new_count = verified.new_sign_count
    moved_on = Passkey.sign_count < new_count if new_count else Passkey.sign_count == 0
    moved = await rows_changed(
        db,
        update(Passkey)
        .where(Passkey.id == passkey.id, moved_on)
        .values(sign_count=new_count, last_used_at=utcnow())
        .execution_options(synchronize_session=False),
    )
    await db.commit()
    if moved != 1:
        raise _not_accepted(
            "passkey_cloned", "This passkey's sign count did not go up: it may have been copied"
        )
    return passkey.user
