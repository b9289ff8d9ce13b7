"""Hashing passwords: an unknown email costs what a wrong password costs, a bounded
number of hashes at once (at a lower priority, never blocking other requests), and
hashes made with weaker parameters upgraded at the next login."""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select

import auth
from config import get_settings
from models import User
from tests.helpers import STRONG_PASSWORD, login, register


@pytest.mark.real_hashing
def test_unknown_email_costs_as_much_as_a_wrong_password(client, alice, monkeypatch):
    """An unknown email is checked against a dummy hash of the very parameters real
    hashes have, so both paths run one Argon2 verification of the same cost. Asserted
    on what runs, not on a stopwatch (a loaded machine made the timed version flaky)."""
    verified: list[str] = []
    hasher = auth.current_hashing().hasher
    verify = hasher.verify_and_update

    def recording(password: str, stored: str) -> tuple[bool, str | None]:
        verified.append(stored)
        return verify(password, stored)

    monkeypatch.setattr(hasher, "verify_and_update", recording)
    assert login(client, "ghost@example.com", "wrong password!").status_code == 401
    assert login(client, alice.email, "wrong password!").status_code == 401
    dummy, real = verified
    assert dummy != real
    # "$argon2id$v=19$m=65536,t=3,p=4$salt$hash": everything but salt and hash.
    assert dummy.rsplit("$", 2)[0] == real.rsplit("$", 2)[0]


def test_at_most_n_hashes_run_at_once(client, monkeypatch):
    running, peak, lock = 0, 0, threading.Lock()
    real = auth.current_hashing().hasher
    # Each hash waits for a second one to be running beside it (never for a fixed
    # time): with a pool of 2 they pair up; with 1 the wait times out and the sign-up
    # fails; with 3 or more a third would be counted running.
    together = threading.Barrier(2, timeout=10)

    class CountingHasher:
        def hash(self, password: str) -> str:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
            try:
                together.wait()
                return real.hash(password)
            finally:
                with lock:
                    running -= 1

    # Installed over the app's own until its lifespan ends (the test's last step).
    auth.use_hashing(auth.PasswordHashing(CountingHasher(), max_concurrent=2))
    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = list(
            pool.map(lambda n: register(client, f"u{n}", f"u{n}@example.com"), range(6))
        )
    assert [s.status_code for s in statuses] == [201] * 6
    assert peak == 2


def test_hashing_threads_yield_the_cpu_to_the_event_loop():
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    hashing = auth.PasswordHashing.from_settings(get_settings())
    try:
        in_pool = hashing.pool.submit(niceness).result()
    finally:
        hashing.close()
    assert in_pool == niceness() + auth.HASHING_NICENESS


class CountingHashing(auth.PasswordHashing):
    """The app's hashing, counting the work handed to its pool."""

    def __init__(self, hasher: PasswordHash, max_concurrent: int) -> None:
        super().__init__(hasher, max_concurrent)
        self.submitted = 0
        self._changed = threading.Condition()

    async def run(self, function, *args):
        with self._changed:
            self.submitted += 1
            self._changed.notify_all()
        return await super().run(function, *args)

    def wait_for(self, count: int) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.submitted >= count, timeout=10)


@pytest.mark.real_hashing
def test_hashing_never_blocks_other_requests(client, alice, monkeypatch):
    """Logins queue for one hashing slot; a read sent meanwhile is answered first."""
    hashing = CountingHashing(auth.current_hashing().hasher, max_concurrent=1)
    auth.use_hashing(hashing)  # until the app stops
    finished: dict[str, float] = {}

    def timed(name: str, call) -> None:
        call()
        finished[name] = time.monotonic()

    with ThreadPoolExecutor(max_workers=5) as pool:
        for n in range(4):
            pool.submit(timed, f"login{n}", lambda: login(client, alice.email))
        hashing.wait_for(4)  # every login is waiting for (or holding) the hashing slot
        pool.submit(timed, "read", lambda: client.get("/api/posts"))
    last_login = max(t for name, t in finished.items() if name.startswith("login"))
    assert finished["read"] < last_login


@pytest.mark.real_hashing
def test_login_upgrades_a_hash_made_with_weaker_parameters(client, alice):
    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1),))
    old_hash = weak.hash(STRONG_PASSWORD)

    async def stored_hash(new: str | None = None) -> str:
        async with client.app_state["sessionmaker"]() as session:
            user = await session.scalar(select(User).where(User.id == alice.id))
            if new:
                user.password_hash = new
                await session.commit()
            return user.password_hash

    client.portal.call(stored_hash, old_hash)
    assert login(client, alice.email).status_code == 200
    upgraded = client.portal.call(stored_hash)
    assert upgraded != old_hash
    assert upgraded.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert login(client, alice.email).status_code == 200
