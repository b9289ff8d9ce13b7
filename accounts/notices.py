"""Security notices mailed to an account's owner after a change to how it is signed
into: a new password, a passkey added or removed. If it was not them, they learn it
now and know what to do. Each is counted and queued in the caller's transaction
(accounts/account_mail.py), so it goes out if and only if the change is committed, and a change
whose notice may not go (the budget is spent) is refused with it.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from accounts import account_mail
from models import User, utcnow


def _when() -> str:
    return utcnow().strftime("%d %B %Y at %H:%M UTC")


async def queue_password_changed(
    session: AsyncSession, user: User, *, by_reset: bool = False
) -> None:
    """`by_reset`: the change was made with a mailed reset link, which counts apart from
    the account's budget (accounts/account_mail.py)."""
    await account_mail.send(
        session,
        user,
        "Your password was changed",
        "password_changed.txt",
        account_budget=not by_reset,
        when=_when(),
    )


async def queue_passkey_added(session: AsyncSession, user: User, passkey_name: str) -> None:
    await _passkey_notice(session, user, passkey_name, "added to", "passkey_added.txt")


async def queue_passkey_removed(session: AsyncSession, user: User, passkey_name: str) -> None:
    await _passkey_notice(session, user, passkey_name, "removed from", "passkey_removed.txt")


async def _passkey_notice(
    session: AsyncSession, user: User, passkey_name: str, change: str, template: str
) -> None:
    await account_mail.send(
        session,
        user,
        f"A passkey was {change} your account",
        template,
        chosen={"name": passkey_name},
        when=_when(),
    )


# --- The second factor (accounts/mfa.py) --------------------------------------------


async def queue_totp_enabled(session: AsyncSession, user: User) -> None:
    await account_mail.send(
        session, user, "Two-factor authentication is on", "totp_enabled.txt", when=_when()
    )


async def queue_totp_disabled(session: AsyncSession, user: User, *, by_admin: bool) -> None:
    """`by_admin`: turned off from the server's shell (manage.py reset-2fa), for an
    owner who lost both the authenticator and the recovery codes."""
    await account_mail.send(
        session,
        user,
        "Two-factor authentication is off",
        "totp_disabled.txt",
        by_admin=by_admin,
        when=_when(),
    )


async def queue_recovery_codes_replaced(session: AsyncSession, user: User) -> None:
    await account_mail.send(
        session,
        user,
        "Your recovery codes were replaced",
        "recovery_codes_replaced.txt",
        when=_when(),
    )


async def queue_recovery_code_used(session: AsyncSession, user: User, left: int) -> None:
    """Apart from the account's budget: someone locked out of their authenticator must
    not be refused their own way back because other mail was sent this hour (the ten
    codes bound how many of these there can be)."""
    await account_mail.send(
        session,
        user,
        "A recovery code was used to sign in",
        "recovery_code_used.txt",
        account_budget=False,
        left=left,
        when=_when(),
    )


# --- Providers (accounts/identities.py) ----------------------------------------------


async def queue_identity_linked(session: AsyncSession, user: User, provider_label: str) -> None:
    await account_mail.send(
        session,
        user,
        f"{provider_label} can now sign in to your account",
        "identity_linked.txt",
        chosen={"provider": provider_label},
        when=_when(),
    )


async def queue_identity_unlinked(session: AsyncSession, user: User, provider_label: str) -> None:
    await account_mail.send(
        session,
        user,
        f"{provider_label} no longer signs in to your account",
        "identity_unlinked.txt",
        chosen={"provider": provider_label},
        when=_when(),
    )
