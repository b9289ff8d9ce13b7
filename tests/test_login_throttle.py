"""Guessing passwords: failures counted per email and per client, locks that end with
their window, and budgets reserved before the slow hash, so parallel guesses get no
more answers than serial ones while right passwords sent together all get in."""

from datetime import UTC, datetime, timedelta

from accounts.throttle import (
    MAX_FAILURES_PER_CLIENT,
    MAX_FAILURES_PER_EMAIL,
    PENDING_SECONDS,
    WINDOW_SECONDS,
    DatabaseThrottle,
)
from errors.domain import DomainError
from tests.helpers import login, register, statuses_in_parallel


def test_five_failures_for_one_email_lock_it_until_the_window_passes(client, alice):
    for _ in range(MAX_FAILURES_PER_EMAIL):
        assert login(client, alice.email, "wrong password!").status_code == 401
    locked = login(client, alice.email.upper())  # even the right password waits
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= WINDOW_SECONDS
    assert login(client, "someone.else@example.com", "whatever1").status_code == 401


def test_a_successful_login_clears_the_email_count(client, alice):
    for _ in range(MAX_FAILURES_PER_EMAIL - 1):
        login(client, alice.email, "wrong password!")
    assert login(client, alice.email).status_code == 200
    for _ in range(MAX_FAILURES_PER_EMAIL - 1):
        assert login(client, alice.email, "wrong password!").status_code == 401


def test_one_client_guessing_many_emails_is_stopped(client):
    for n in range(MAX_FAILURES_PER_CLIENT):
        assert login(client, f"victim{n}@example.com", "guess-guess").status_code == 401
    assert login(client, "fresh@example.com", "guess-guess").status_code == 429


def test_the_lock_ends_when_the_window_passes(client):
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    throttle = DatabaseThrottle(
        client.app_state["sessionmaker"], window=timedelta(seconds=60), clock=lambda: now[0]
    )

    async def locked() -> bool:
        try:
            await throttle.reserve("a@example.com", "5.6.7.8")
        except DomainError as error:
            return error.status_code == 429
        return False

    async def scenario() -> list[bool]:
        for _ in range(MAX_FAILURES_PER_EMAIL):
            await throttle.failed(await throttle.reserve("a@example.com", "1.2.3.4"))
        seen = [await locked()]
        now[0] += timedelta(seconds=59)
        seen.append(await locked())
        now[0] += timedelta(seconds=2)
        seen.append(await locked())
        return seen

    assert client.portal.call(scenario) == [True, True, False]


def test_parallel_guesses_at_one_email_get_at_most_five_answers(client, alice):
    """Every attempt is reserved before the slow hash: 40 guesses sent at once used to
    all pass the check before any failure was recorded, and all got 401."""
    statuses = statuses_in_parallel(lambda: login(client, alice.email, "wrong password!"), 40)
    assert statuses == [401] * MAX_FAILURES_PER_EMAIL + [429] * (40 - MAX_FAILURES_PER_EMAIL)


def test_parallel_guesses_from_one_client_get_at_most_twenty_answers(client):
    emails = iter(f"victim{n}@example.com" for n in range(60))
    statuses = statuses_in_parallel(lambda: login(client, next(emails), "guess-guess"), 60)
    assert statuses == [401] * MAX_FAILURES_PER_CLIENT + [429] * (60 - MAX_FAILURES_PER_CLIENT)


def test_right_passwords_sent_together_all_get_in(client, alice):
    """Attempts in flight hold the budget, but one that finds it held only by those
    waits for their outcome instead of failing: people signing in together from one
    address (an office, a proxy) are delayed by a hash, never refused."""
    assert statuses_in_parallel(lambda: login(client, alice.email), 12) == [200] * 12
    accounts = [register(client, f"Office{n}", f"office{n}@example.com") for n in range(30)]
    assert {account.status_code for account in accounts} == {201}
    emails = iter(f"office{n}@example.com" for n in range(30))
    assert statuses_in_parallel(lambda: login(client, next(emails)), 30) == [200] * 30


def test_a_check_cut_short_counts_as_a_failure_after_a_while(client):
    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    throttle = DatabaseThrottle(client.app_state["sessionmaker"], clock=lambda: now[0])

    async def scenario() -> int:
        for _ in range(MAX_FAILURES_PER_EMAIL):
            await throttle.reserve("a@example.com", "1.2.3.4")  # then the server died
        now[0] += timedelta(seconds=PENDING_SECONDS + 1)
        try:
            await throttle.reserve("a@example.com", "1.2.3.4")
        except DomainError as error:
            return error.status_code
        return 200

    assert client.portal.call(scenario) == 429


def test_a_right_password_takes_back_its_own_reservation(client, alice):
    """A success must not count against the client's budget either."""
    for _ in range(MAX_FAILURES_PER_CLIENT + 5):
        assert login(client, alice.email).status_code == 200
    assert login(client, "someone@example.com", "guess-guess").status_code == 401
