"""`uvicorn --workers 2` behaves as one process: a token from one worker works on the
other, failed logins counted by either lock the account for both, however many
arrive at once, and the mail both queue goes out once."""

import re
from concurrent.futures import ThreadPoolExecutor

import httpx

from accounts.throttle import MAX_FAILURES_PER_EMAIL
from tests.helpers import STRONG_PASSWORD, make_account, outbox_rows
from tests.live_server import LiveServer, access_log_config

ACCESS_LINE = re.compile(
    r'^(?P<pid>\d+) .*"(?P<method>\w+) (?P<path>\S+) HTTP/[\d.]+" (?P<status>\d+)'
)


def _workers_that_answered(access_log, method: str, path: str, status: int) -> set[str]:
    lines = access_log.read_text().splitlines()
    return {
        match["pid"]
        for match in map(ACCESS_LINE.match, lines)
        if match
        and (match["method"], match["path"], match["status"]) == (method, path, str(status))
    }


def _burst(call, times: int) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=times) as pool:
        return list(pool.map(lambda _: call(), range(times)))


def test_two_workers_share_the_key_the_tokens_the_throttle_and_the_outbox(
    tmp_path, smtp_server, mailbox
):
    access_log = tmp_path / "access.log"
    server = LiveServer(
        tmp_path,
        workers=2,
        migrated=False,  # an empty database: the two workers' start-ups meet on it
        smtp_port=smtp_server.port,
        # No SECRET_KEY: both workers must agree on one generated key.
        env={"SECRET_KEY": None, "SECRET_KEY_FILE": str(tmp_path / "secret_key")},
        args=["--log-config", access_log_config(tmp_path / "log.json", access_log)],
    )
    try:
        base = server.wait_until_ready()
        # A new connection per request, so the kernel may hand each to either worker.
        fresh = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=base, limits=fresh, timeout=30) as http:
            user = make_account(http, "Worker")
            me = user.headers
            form = {"username": user.email, "password": user.password}

            seen: set[str] = set()
            for _ in range(10):  # until both workers have answered with this token
                answers = _burst(lambda: http.get("/api/users/me", headers=me), 16)
                assert {r.status_code for r in answers} == {200}
                seen = _workers_that_answered(access_log, "GET", "/api/users/me", 200)
                if len(seen) == 2:
                    break
            assert len(seen) == 2, "the kernel never spread connections over both workers"

            # 40 guesses at once, spread over both workers: the budget is reserved in
            # the shared database before each hash, so exactly 5 are even tried.
            wrong = {"username": user.email, "password": "not-the-password"}
            failures = _burst(lambda: http.post("/api/users/token", data=wrong), 40)
            assert sorted(r.status_code for r in failures) == [401] * MAX_FAILURES_PER_EMAIL + [
                429
            ] * (40 - MAX_FAILURES_PER_EMAIL)
            for _ in range(10):  # every worker refuses now, even the right password
                locked = _burst(lambda: http.post("/api/users/token", data=form), 16)
                assert {r.status_code for r in locked} == {429}
                if len(_workers_that_answered(access_log, "POST", "/api/users/token", 429)) == 2:
                    break
            assert len(_workers_that_answered(access_log, "POST", "/api/users/token", 429)) == 2

            # Sign-ups spread over both workers: each verification mail goes out once.
            addresses = [f"writer{n}@example.com" for n in range(6)]
            for n, email in enumerate(addresses):
                writer = {"username": f"Writer{n}", "email": email, "password": STRONG_PASSWORD}
                assert http.post("/api/users", json=writer).status_code == 201
        for email in [user.email, *addresses]:
            (mail,) = mailbox.wait_for(email)
            assert mail.link("/verify-email").startswith(f"{base}/verify-email?token=")
        # Both workers gone (their senders done): any second copy would be here by now,
        # and every message has left the outbox.
        server.shut_down()
        assert len(mailbox.received) == 1 + len(addresses)
        assert outbox_rows(server.database_url) == 0
        assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    finally:
        server.stop()
