"""Login throttling: slow down password guessing per account and per client.

After MAX_FAILURES_PER_EMAIL failed logins for one email within WINDOW, or
MAX_FAILURES_PER_CLIENT from one client address, further attempts answer 429 with
`Retry-After` until the oldest failure leaves the window. The window is short on
purpose: someone who fails on purpose against your email can delay you by at most
WINDOW, never lock you out for good, and a successful login clears the count.
"""

import time
from collections import deque
from typing import Protocol

from fastapi import HTTPException, status

WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_EMAIL = 5
MAX_FAILURES_PER_CLIENT = 20


class LoginThrottle(Protocol):
    """What the login route needs; a store shared by several workers can implement it."""

    async def check(self, email_key: str, client: str) -> None:
        """Raise 429 while either the email or the client is over its limit."""

    async def record_failure(self, email_key: str, client: str) -> None: ...

    async def reset(self, email_key: str) -> None: ...


def too_many_attempts(retry_after: float) -> HTTPException:
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS,
        detail="Too many failed login attempts; try again later",
        headers={"Retry-After": str(max(1, round(retry_after + 0.5)))},
    )


class MemoryThrottle:
    """Failures kept in this process: right for one worker, the tests and the default
    SQLite set-up. Timestamps are monotonic, so clock changes cannot unlock anyone."""

    MAX_KEYS = 100_000  # a spray of random emails must not grow memory without bound

    def __init__(self, window: float = WINDOW_SECONDS) -> None:
        self.window = window
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures

    def _retry_after(self, key: str, limit: int, now: float) -> float | None:
        failures = self._recent(key, now)
        if len(failures) >= limit:
            return failures[-limit] + self.window - now
        return None

    async def check(self, email_key: str, client: str) -> None:
        now = time.monotonic()
        waits = [
            self._retry_after(f"email:{email_key}", MAX_FAILURES_PER_EMAIL, now),
            self._retry_after(f"client:{client}", MAX_FAILURES_PER_CLIENT, now),
        ]
        if any(wait is not None for wait in waits):
            raise too_many_attempts(max(wait for wait in waits if wait is not None))

    async def record_failure(self, email_key: str, client: str) -> None:
        now = time.monotonic()
        if len(self._failures) >= self.MAX_KEYS:
            for key in list(self._failures):
                self._recent(key, now)
        for key in (f"email:{email_key}", f"client:{client}"):
            self._failures.setdefault(key, self._recent(key, now)).append(now)

    async def reset(self, email_key: str) -> None:
        self._failures.pop(f"email:{email_key}", None)
