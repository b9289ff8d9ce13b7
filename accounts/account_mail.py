"""Every mail to an account's address goes through `send`: the one place that says how
much mail an address or an account can be made to receive, and what a mail to an
address nobody has proven may say. Links (accounts/email_links.py) and notices (accounts/notices.py)
both call it, so a new kind of mail cannot forget the rule.

- An address its owner has not verified gets at most UNVERIFIED_MAIL_PER_HOUR mails of
  any kind (sign-up, a new email, links sent again, resets, notices): anyone can type
  anyone's address, so this is what a stranger's inbox risks.
- Each account causes at most ACCOUNT_MAIL_PER_HOUR mails, to whichever address, so no
  loop of changes (an email alternated between two victims, password changes, passkeys
  added and removed) floods even a verified inbox. The reset flow (its link, and the
  notice of a reset done with one) is counted apart, by its own limit per address: it
  is how an owner gets back in, so whoever holds the account must not be able to spend
  it, and the reset requests' limit bounds it anyway.
- A mail that may not go refuses what caused it: 429 with `Retry-After` and the code
  `mail_limit`, and the caller's transaction rolls back, so every change that happens
  has its notice.
- A mail to an unverified address carries no text the account chose (its username in
  the greeting or in the `To:` display name, a passkey's name): that inbox may be a
  stranger's, and the text could be "Your bank: verify at https://evil.example".

Each mail is counted (accounts/rate_limits.py) and queued (mailing/outbox.py) in the caller's
transaction: both happen if, and only if, it commits.
"""

from collections.abc import Mapping
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from accounts import rate_limits
from config import get_settings
from mailing import outbox, smtp
from models import User

MAIL_LIMIT = "mail_limit"
MAIL_LIMIT_DETAIL = (
    "Too many mails to this address or from this account in the past hour, so nothing "
    "was done; try again later"
)


def budgets(user: User, *, account_budget: bool = True) -> dict[str, int]:
    """The hourly limits a mail to `user` spends (accounts/rate_limits.py keys)."""
    limits: dict[str, int] = {}
    if account_budget and user.id is not None:  # a new account has spent nothing yet
        limits[f"account-mail:{user.id}"] = get_settings().account_mail_per_hour
    if not user.email_verified:
        limits[f"unverified-mail:{user.email_key}"] = get_settings().unverified_mail_per_hour
    return limits


async def send(
    session: AsyncSession,
    user: User,
    subject: str,
    template: str,
    *,
    chosen: Mapping[str, str] | None = None,
    account_budget: bool = True,
    give_up_after: timedelta = outbox.DEFAULT_GIVE_UP_AFTER,
    **context: object,
) -> None:
    """Count a mail to `user` against its budgets (429 `mail_limit` when one is spent)
    and queue it in `session`'s transaction. The template gets `username` and every key
    of `chosen` (text the account chose), all None when the address is unverified, and
    `context` as it is. `account_budget=False` only for the reset flow (see above) and a
    recovery code used (accounts/notices.py)."""
    limits = budgets(user, account_budget=account_budget)
    if limits:
        # No autoflush: a new account or a new email is written by the caller's
        # commit, where a name taken in a race is answered as such (users.py).
        with session.no_autoflush:
            await rate_limits.spend(session, limits, code=MAIL_LIMIT, detail=MAIL_LIMIT_DETAIL)
    personal: dict[str, str | None] = {"username": user.username, **(chosen or {})}
    if not user.email_verified:
        personal = dict.fromkeys(personal)
    name = user.username if user.email_verified else ""
    message = smtp.compose(
        get_settings(), smtp.mailbox(name, user.email), subject, template, **personal, **context
    )
    outbox.enqueue(session, message, give_up_after=give_up_after)
