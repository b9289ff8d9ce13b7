"""The second factor: TOTP (RFC 6238) codes from an authenticator app, and single-use
recovery codes for when that app is lost.

- The shared secret is kept sealed (Fernet, under a key derived from SECRET_KEY), so a
  copy of the database alone cannot mint codes; pyotp computes the codes.
- A code is accepted for the current 30-second step or one step either side (clock
  skew), and only for a step later than the last one accepted for the account: a code
  seen once cannot be replayed, not even within its window. The step is claimed with a
  compare-and-set, so two requests racing with one code cannot both pass.
- Recovery codes are random (59 bits each), shown once and kept as keyed SHA-256
  hashes on the account's row; using one takes its hash out, again by compare-and-set.

Nothing here commits: the caller's transaction keeps the code's use together with what
it was for (a sign-in, a reauthentication).
"""

import base64
import hashlib
import hmac
import io
import secrets
from enum import StrEnum

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from accounts import sessions
from config import get_settings
from database import rows_changed
from models import RECOVERY_CODE_COUNT, User

ISSUER = "Inkwell"
STEP_SECONDS = 30
DIGITS = 6
# Steps either side of now a code may come from: one, for a phone's clock a little off.
SKEW_STEPS = 1
# A recovery code: 12 characters of 31 that cannot be mistaken for each other (no i, l,
# o, 0 or 1): 59 bits, shown as xxxx-xxxx-xxxx.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_GROUPS = 3
RECOVERY_GROUP_LENGTH = 4
# Longer than any code of either kind (a recovery code with spaces or dashes): refused
# before any work is done.
CODE_MAX = 40


class SecondFactor(StrEnum):
    TOTP = "totp"
    RECOVERY_CODE = "recovery_code"


def _cipher() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(get_settings().derived_key("totp secret")))


def seal(secret: str) -> str:
    """The secret as it is stored: encrypted and authenticated."""
    return _cipher().encrypt(secret.encode()).decode()


def unseal(sealed: str) -> str | None:
    """The stored secret, or None when it was sealed under another SECRET_KEY."""
    try:
        return _cipher().decrypt(sealed.encode()).decode()
    except InvalidToken:
        return None


def new_secret() -> str:
    """160 random bits in base32, what RFC 4226 recommends and every app accepts."""
    return pyotp.random_base32(32)


def otpauth_uri(user: User, secret: str) -> str:
    """The `otpauth://` URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=user.email, issuer_name=ISSUER
    )


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (segno): no script, no style attribute, so the
    account page shows it under its strict CSP. With its namespace declared, so the page
    can parse it as SVG (never as HTML) before putting it in."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out,
        kind="svg",
        xmldecl=False,
        svgns=True,
        nl=False,
        scale=4,
        title="QR code for your authenticator app",
    )
    return out.getvalue().decode()


def _normalise(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _totp_step(secret: str, code: str) -> int | None:
    """The time step `code` is the code of, within SKEW_STEPS of now, or None."""
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    now = sessions.utcnow()
    current = totp.timecode(now)
    found = None
    for step in range(current - SKEW_STEPS, current + SKEW_STEPS + 1):
        # Every candidate is compared (no early exit), in constant time.
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step
    return found


async def accept_totp(db: AsyncSession, user: User, secret: str, code: str) -> bool:
    """Whether `code` is a current code of `secret` not used before; claims its step.
    Works for a pending enrolment's secret too (its first code claims a step)."""
    step = _totp_step(secret, _normalise(code)) if len(code) <= CODE_MAX else None
    if step is None:
        return False
    claimed = await rows_changed(
        db,
        update(User)
        .where(
            User.id == user.id,
            or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False),
    )
    if claimed == 1:
        set_committed_value(user, "totp_last_step", step)  # as stored: nothing to flush
    return claimed == 1


def _recovery_hash(code: str) -> str:
    key = get_settings().derived_key("recovery code")
    return hmac.new(key, _normalise(code).encode(), hashlib.sha256).hexdigest()


def new_recovery_codes() -> tuple[list[str], str]:
    """RECOVERY_CODE_COUNT fresh codes to show once, and what the account stores."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        letters = "".join(
            secrets.choice(RECOVERY_ALPHABET)
            for _ in range(RECOVERY_GROUPS * RECOVERY_GROUP_LENGTH)
        )
        size = RECOVERY_GROUP_LENGTH
        groups = [letters[i : i + size] for i in range(0, len(letters), size)]
        codes.append("-".join(groups))
    return codes, " ".join(_recovery_hash(code) for code in codes)


async def use_recovery_code(db: AsyncSession, user: User, code: str) -> bool:
    """Whether `code` is one of the account's unused recovery codes; takes it out."""
    if len(code) > CODE_MAX or not user.recovery_codes:
        return False
    presented = _recovery_hash(code)
    stored = user.recovery_codes.split()
    matches = [hmac.compare_digest(presented, known) for known in stored]
    if not any(matches):
        return False
    left = " ".join(known for known, match in zip(stored, matches, strict=True) if not match)
    taken = await rows_changed(
        db,
        update(User)
        .where(User.id == user.id, User.recovery_codes == user.recovery_codes)
        .values(recovery_codes=left)
        .execution_options(synchronize_session=False),
    )
    if taken == 1:
        set_committed_value(user, "recovery_codes", left)
    return taken == 1


async def accept_second_factor(db: AsyncSession, user: User, code: str) -> SecondFactor | None:
    """Which factor `code` proves for an account with 2FA on (a current TOTP code, or
    an unused recovery code, which is used up), or None."""
    secret = unseal(user.totp_secret) if user.totp_secret else None
    if secret is None:
        return None
    if await accept_totp(db, user, secret, code):
        return SecondFactor.TOTP
    if await use_recovery_code(db, user, code):
        return SecondFactor.RECOVERY_CODE
    return None
