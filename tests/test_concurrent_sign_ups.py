"""Sign-ups at once: fifty in parallel all succeed, and fifty for one address (in any
case) make exactly one account."""

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from models import User
from tests.helpers import register


def test_fifty_simultaneous_sign_ups_all_succeed(client):
    def sign_up(n: int) -> int:
        return register(client, f"user{n}", f"user{n}@example.com").status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(sign_up, range(50)))
    assert statuses == [201] * 50


def test_fifty_simultaneous_sign_ups_of_one_email_make_one_user(client):
    cases = ["mixed@example.com", "MIXED@EXAMPLE.COM", "Mixed@Example.com", "mIxEd@example.COM"]

    def sign_up(n: int) -> int:
        return register(client, f"racer{n}", cases[n % len(cases)]).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(sign_up, range(50)))
    assert statuses.count(201) == 1
    assert statuses.count(409) == 49

    async def count() -> int:
        async with client.app_state["sessionmaker"]() as session:
            return len((await session.scalars(select(User))).all())

    assert client.portal.call(count) == 1
