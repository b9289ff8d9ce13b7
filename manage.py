"""Server-side account administration: `uv run python -m manage promote EMAIL`.

What no API may do, done by whoever runs commands on the server: make an account an
admin (`promote`) or a member again (`demote`), or turn its two-factor authentication
off (`reset-2fa`) for an owner who lost both the authenticator and the recovery codes.
It brings the schema up to date first, as start-up and `seed` do, and logs each change
in the admin-actions log as the "server shell". The email is matched whatever its case.
Demoting the last admin who can sign in is refused. More commands come as subcommands
of their own.
"""

import argparse
import asyncio
import sys
from collections.abc import Sequence

from sqlalchemy import select

from accounts import mfa
from accounts.roles import Role
from admin.accounts import set_role
from admin.actions import Action, record
from config import get_settings
from database import create_engine, create_sessionmaker, migrate
from errors.domain import DomainError
from models import User, fold

# Exit statuses: 0 done (or nothing to do), 1 refused, 2 a usage error (argparse's).
REFUSED = 1


async def change_role(database_url: str, email: str, role: Role) -> tuple[int, str]:
    """Give the account with `email` `role`: the exit status and what to print."""
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        async with create_sessionmaker(engine)() as session:
            try:
                change = await set_role(session, email=email, role=role)
            except DomainError as refused:
                return REFUSED, f"Refused: {refused.detail}."
            if change is None:
                return REFUSED, f"No account has the email {email!r}."
            name = f"{change.user.username} <{change.user.email}>"
    finally:
        await engine.dispose()
    what = "an admin" if role == Role.ADMIN else "a member"
    return 0, f"{name} is {'now' if change.changed else 'already'} {what}."


async def reset_2fa(database_url: str, email: str) -> tuple[int, str]:
    """Turn 2FA off for the account with `email`, mailed to its owner, in its security
    log ("by an admin") and in the admin-actions log: the exit status and what to print."""
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        async with create_sessionmaker(engine)() as session:
            user = await session.scalar(select(User).where(User.email_key == fold(email.strip())))
            if user is None:
                return REFUSED, f"No account has the email {email!r}."
            name = f"{user.username} <{user.email}>"
            if not user.totp_enabled:
                return 0, f"{name} has two-factor authentication off already."
            record(session, actor=None, action=Action.RESET_2FA, target=user)
            try:  # commits the action's record with the change
                await mfa.turn_off(session, user_id=user.id, request=None, by_admin=True)
            except DomainError as refused:
                return REFUSED, f"Refused: {refused.detail}."
    finally:
        await engine.dispose()
    return 0, f"{name} has two-factor authentication off now; they were mailed."


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m manage", description=__doc__.splitlines()[0] if __doc__ else None
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, role, text in (
        ("promote", Role.ADMIN, "make the account with this email an admin"),
        ("demote", Role.MEMBER, "make the account with this email a member again"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("email", help="the account's email, in any case")
        command.set_defaults(role=role)
    text = "turn two-factor authentication off for the account with this email"
    command = commands.add_parser("reset-2fa", help=text, description=text)
    command.add_argument("email", help="the account's email, in any case")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    url = get_settings().database_url
    if args.command == "reset-2fa":
        status, message = asyncio.run(reset_2fa(url, args.email))
    else:
        status, message = asyncio.run(change_role(url, args.email, args.role))
    print(message, file=sys.stderr if status else sys.stdout)
    return status


if __name__ == "__main__":
    sys.exit(main())
