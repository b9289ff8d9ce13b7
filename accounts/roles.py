"""What an account may do beyond its own things: a role, set only from the server's
shell (manage.py), never through the API by the account itself."""

from enum import StrEnum

ROLE_MAX = 10


class Role(StrEnum):
    MEMBER = "member"  # everyone, from sign-up on
    ADMIN = "admin"  # may delete any post or comment, suspend accounts, see /admin
