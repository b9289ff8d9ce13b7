"""Inkwell's benchmark: one command, run by hand (not in CI).

    uv run python bench/run.py [--quick | --duration S] [--json] [--database-url URL]
                               [--only reset]

Starts Inkwell and a do-nothing FastAPI app (`bench/baseline.py`) side by side, each
under one uvicorn worker, seeds data through the HTTP API, drives load with `wrk`,
and prints one table. Throughput is reported as a ratio to the baseline measured in
the same run, so figures from different machines can be compared roughly.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from pwdlib import PasswordHash

ROOT = Path(__file__).resolve().parents[1]
USERS, POSTS = 20, 1000
PAGE_DEPTH = 50  # the deep page compared with the first (keyset pagination)
LOGIN_SAMPLES = 10
CROWD = 48  # wrk connections for the pool-starvation row: more than the pool holds
CROWD_SECONDS = 40.0  # at least: starved requests show up only after ~10-30 s
LOAD_LOGINS = 8  # concurrent login loops while /me is measured
BURST_LOGINS = 32
MIB = 1024 * 1024
STARTUP_TIMEOUT_S = 30.0
UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Account:
    username: str
    email: str
    password: str
    token: str = ""


@dataclass
class WrkResult:
    requests_per_s: float
    requests: int
    latency_ms: dict[str, float]  # percentile ("50", "75", "90", "99") -> ms
    non_2xx: int
    socket_errors: str


@dataclass
class Row:
    label: str
    value: str
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    data: dict[str, object] = field(default_factory=dict)


# --- processes -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(
    name: str, app: str, env: dict[str, str], probe: str, logs: Path, workers: int = 1
) -> Iterator[Server]:
    """Run `app` under uvicorn until the block ends, however it ends."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    if app.startswith("baseline"):
        command += ["--app-dir", str(ROOT / "bench")]
    log = logs / f"{name}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log_file, stderr=log_file)
    server = Server(name, f"http://127.0.0.1:{port}", process, log)
    try:
        wait_until_up(server, probe)
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_until_up(server: Server, probe: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{server.name} exited at start-up:\n{tail}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(server.url + probe, timeout=2).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer {probe} within {STARTUP_TIMEOUT_S:.0f} s")


def tree_rss_bytes(pid: int) -> int:
    """VmRSS of `pid` plus all its descendants (0 for processes that are gone)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
            for children in Path(f"/proc/{current}/task").glob("*/children"):
                pending += [int(child) for child in children.read_text().split()]
    return total


# --- wrk -------------------------------------------------------------------------


# Every request asks for a URL never asked before (`bust=<thread>-<n>` added to the
# query), so each one misses the page cache and is rendered: what a page costs the
# first time after a write.
BUST_CACHE_LUA = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  local separator = string.find(wrk.path, "?", 1, true) and "&" or "?"
  return wrk.format(nil, wrk.path .. separator .. "bust=" .. tid .. "-" .. n)
end
"""


def run_wrk(
    url: str,
    seconds: float,
    tmp: Path,
    *,
    token: str = "",
    threads: int = 2,
    connections: int = 32,
    headers: dict[str, str] | None = None,
    bust_cache: bool = False,
) -> WrkResult:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    command += ["--timeout", "10s"]  # wrk's default of 2 s drops slow pages from the percentiles
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    lua = "".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n" for k, v in headers.items())
    lua += BUST_CACHE_LUA if bust_cache else ""
    if lua:
        script = tmp / f"wrk-{secrets.token_hex(4)}.lua"
        script.write_text(lua)
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(output)


def parse_wrk(output: str) -> WrkResult:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    count = re.search(r"(\d+) requests in", output)
    if rate is None or count is None:
        raise RuntimeError(f"could not parse wrk output:\n{output}")
    latency = {
        pct: float(number) * UNITS_MS[unit]
        for pct, number, unit in re.findall(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    }
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: (.*)", output)
    return WrkResult(
        requests_per_s=float(rate[1]),
        requests=int(count[1]),
        latency_ms=latency,
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors=errors[1].strip() if errors else "",
    )


def measure(
    url: str,
    seconds: float,
    tmp: Path,
    token: str = "",
    connections: int = 32,
    *,
    expect_304: bool = False,
    **options: object,
) -> WrkResult:
    """A 1 s warm-up, then the measurement; warns about errors wrk counted. wrk counts
    a 304 as a success, so where one is expected, one request made here checks it."""
    run_wrk(url, 1, tmp, token=token, connections=connections, **options)  # type: ignore[arg-type]
    result = run_wrk(url, seconds, tmp, token=token, connections=connections, **options)  # type: ignore[arg-type]
    if expect_304:
        headers = options.get("headers") or {}
        answer = httpx.get(url, headers=headers, timeout=30)  # type: ignore[arg-type]
        if answer.status_code != 304 or answer.content:
            print(f"  warning: {url}: answered {answer.status_code}, not an empty 304")
    if result.non_2xx or result.socket_errors:
        print(f"  warning: {url}: {result.non_2xx} non-2xx, socket errors: {result.socket_errors}")
    return result


# --- the app's API ---------------------------------------------------------------


def login(client: httpx.Client, account: Account) -> str:
    form = {"username": account.email, "password": account.password}
    response = client.post("/api/users/token", data=form)
    response.raise_for_status()
    return str(response.json()["access_token"])


def timed_login(client: httpx.Client, account: Account) -> float:
    start = time.perf_counter()
    login(client, account)
    return time.perf_counter() - start


def seed(base_url: str) -> list[Account]:
    """USERS accounts, each signed in, and POSTS posts spread over them."""
    tag = secrets.token_hex(3)  # fresh names, so a reused PostgreSQL database works too
    accounts = [
        Account(
            f"bench_{tag}_{n:02d}", f"bench_{tag}_{n:02d}@example.com", f"bench-Password-{n}-xyz!"
        )
        for n in range(USERS)
    ]

    def register(account: Account) -> None:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            body = {"username": account.username, "email": account.email}
            response = client.post("/api/users", json=body | {"password": account.password})
            if response.status_code != 201:
                raise RuntimeError(f"sign-up failed: {response.status_code} {response.text}")
            account.token = login(client, account)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(register, accounts))

    def write(numbers: range) -> None:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            for n in numbers:
                author = accounts[n % USERS]
                content = f"Paragraph {n}. " + "Lorem ipsum " * 40
                body = {"title": f"Bench post {n}", "content": content}
                headers = {"Authorization": f"Bearer {author.token}"}
                client.post("/api/posts", json=body, headers=headers).raise_for_status()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, [range(k, POSTS, 4) for k in range(4)]))
    return accounts


def deep_cursor(base_url: str, depth: int) -> str:
    """The cursor of page `depth` of /api/posts (10 a page), found by walking to it."""
    cursor = ""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for _ in range(depth - 1):
            params = {"limit": 10} | ({"cursor": cursor} if cursor else {})
            cursor = client.get("/api/posts", params=params).json()["next_cursor"]
    return cursor


def etag_of(url: str) -> str:
    return httpx.get(url, timeout=30).headers["etag"]


# --- measurements ----------------------------------------------------------------


def throughput_row(label: str, result: WrkResult, ceiling: float, target: float | None) -> Row:
    ratio = result.requests_per_s / ceiling
    p = result.latency_ms
    return Row(
        label=label,
        value=f"{result.requests_per_s:,.0f} req/s, p50 {p.get('50', 0):.1f} ms, "
        f"p99 {p.get('99', 0):.1f} ms",
        ratio=ratio,
        target=f">= {target:.2f}x" if target is not None else "",
        met=ratio >= target if target is not None else None,
        data=asdict(result),
    )


def depth_row(first: WrkResult, deep: WrkResult, ceiling: float) -> Row:
    """Keyset pagination: page 50 costs what page 1 does (both rendered every time)."""
    ratio = deep.requests_per_s / first.requests_per_s
    return Row(
        label=f"GET /api/posts?limit=10: page {PAGE_DEPTH} / page 1, each rendered",
        value=f"page 1 {first.requests_per_s:,.0f} req/s ({first.requests_per_s / ceiling:.2f}x), "
        f"page {PAGE_DEPTH} {deep.requests_per_s:,.0f} req/s",
        ratio=ratio,
        target=">= 0.90x",
        met=ratio >= 0.9,
        data={"first": asdict(first), "deep": asdict(deep)},
    )


def crowd_row(result: WrkResult, seconds: float, ceiling: float) -> Row:
    """More clients than pooled connections: every one must still get a quick 200
    (a 500 or a wrk timeout means requests queued for a connection, starved)."""
    p = result.latency_ms
    errors = f", socket errors: {result.socket_errors}" if result.socket_errors else ""
    return Row(
        label=f"GET /api/users/me, {CROWD} clients, {seconds:g} s: non-2xx, p99",
        value=f"{result.non_2xx} non-2xx{errors}; p50 {p.get('50', 0):.1f} ms, "
        f"p99 {p.get('99', 0):.1f} ms, {result.requests_per_s:,.0f} req/s",
        ratio=result.requests_per_s / ceiling,
        target="0 non-2xx, 0 socket errors",
        met=not result.non_2xx and not result.socket_errors,
        data=asdict(result),
    )


def login_vs_argon2(base_url: str, account: Account) -> Row:
    """Logins and bare verifies alternate, so drift in machine speed hits both alike."""
    hasher = PasswordHash.recommended()
    password = "x" * 20
    stored = hasher.hash(password)
    logins: list[float] = []
    verifies: list[float] = []
    with httpx.Client(base_url=base_url, timeout=60) as client:
        login(client, account)  # warm the connection and the route
        for _ in range(LOGIN_SAMPLES):
            logins.append(timed_login(client, account))
            start = time.perf_counter()
            hasher.verify(password, stored)
            verifies.append(time.perf_counter() - start)
    login_s, verify_s = statistics.median(logins), statistics.median(verifies)
    ratio = login_s / verify_s
    return Row(
        label="POST /api/users/token / one Argon2 verify (ratio)",
        value=f"login {login_s * 1000:.0f} ms, verify {verify_s * 1000:.0f} ms (medians)",
        ratio=ratio,
        target="<= 1.10x",
        met=ratio <= 1.1,
        data={"login_ms": [x * 1000 for x in logins], "verify_ms": [x * 1000 for x in verifies]},
    )


def reset_known_vs_unknown(base_url: str, accounts: list[Account]) -> list[Row]:
    """POST /api/users/password-reset for a known and an unknown address, alternating,
    and right after each answer one GET /api/users/me (a session read, never from the
    page cache): what an attacker's next request sees of the work a known address
    causes. The follow-up goes on the reset's own connection for the first two pairs
    of a client, on a new connection for the next two. Each client has its own loopback
    address (Linux routes all of 127/8 to this machine), since the route allows 10 an
    hour per client and 3 per address."""
    answers: dict[str, list[float]] = {"known": [], "unknown": []}
    same: dict[str, list[float]] = {"known": [], "unknown": []}
    fresh: dict[str, list[float]] = {"known": [], "unknown": []}
    me = {"Authorization": f"Bearer {accounts[0].token}"}

    def timed(client: httpx.Client, method: str, path: str, **kwargs: object) -> float:
        start = time.perf_counter()
        response = client.request(method, path, **kwargs)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - start
        if response.status_code >= 300:
            raise RuntimeError(f"{method} {path} answered {response.status_code}")
        return elapsed

    for n, account in enumerate(accounts):
        address = f"127.0.{n // 200 + 1}.{n % 200 + 10}"
        transport = httpx.HTTPTransport(local_address=address)
        with httpx.Client(base_url=base_url, timeout=30, transport=transport) as client:
            client.get("/api/posts")  # the connection, not the route, pays for the handshake
            for follow_ups in (same, fresh):
                emails = {"known": account.email, "unknown": f"nobody-{secrets.token_hex(4)}@x.org"}
                for kind, email in emails.items():
                    body = {"json": {"email": email}}
                    answers[kind].append(timed(client, "POST", "/api/users/password-reset", **body))
                    if follow_ups is same:
                        follow_ups[kind].append(timed(client, "GET", "/api/users/me", headers=me))
                    else:
                        new = httpx.HTTPTransport(local_address=address)
                        with httpx.Client(base_url=base_url, timeout=30, transport=new) as other:
                            follow_ups[kind].append(
                                timed(other, "GET", "/api/users/me", headers=me)
                            )
                    # Let work done right after the answer end before the next pair.
                    time.sleep(0.05)

    def ratio_row(label: str, samples: dict[str, list[float]]) -> Row:
        known_ms = statistics.median(samples["known"]) * 1000
        unknown_ms = statistics.median(samples["unknown"]) * 1000
        ratio = known_ms / unknown_ms
        return Row(
            label=label,
            value=f"known {known_ms:.1f} ms, unknown {unknown_ms:.1f} ms "
            f"({len(samples['known'])} each)",
            ratio=ratio,
            target="0.8x to 1.25x",
            met=0.8 <= ratio <= 1.25,
            data={f"{kind}_ms": [x * 1000 for x in xs] for kind, xs in samples.items()},
        )

    return [
        ratio_row("POST /api/users/password-reset, known / unknown address (medians)", answers),
        ratio_row("  the next GET /api/users/me, same connection, known / unknown", same),
        ratio_row("  the next GET /api/users/me, new connection, known / unknown", fresh),
    ]


def passkey_vs_password(base_url: str, account: Account) -> Row:
    """A passkey sign-in (options, then the signed answer: two requests, timed together
    by the client) against a password login, alternated. The software authenticator
    of the tests signs, for the development origin (no PUBLIC_URL here)."""
    sys.path.insert(0, str(ROOT))
    from tests.soft_authenticator import SoftAuthenticator

    port = httpx.URL(base_url).port
    device = SoftAuthenticator(origin=f"http://localhost:{port}")
    passkey_ms: list[float] = []
    password_ms: list[float] = []
    with httpx.Client(base_url=base_url, timeout=60) as client:
        headers = {"Authorization": f"Bearer {login(client, account)}"}
        body = {"current_password": account.password}
        options = client.post("/api/users/me/passkeys/options", json=body, headers=headers)
        answer = {"credential": device.create(options.raise_for_status().json())}
        client.post("/api/users/me/passkeys", json=answer, headers=headers).raise_for_status()

        def sign_in() -> float:
            start = time.perf_counter()
            options = client.post("/api/users/token/passkey/options").raise_for_status().json()
            answer = {"credential": device.get(options)}
            client.post("/api/users/token/passkey", json=answer).raise_for_status()
            return time.perf_counter() - start

        sign_in()  # warm the route
        for _ in range(LOGIN_SAMPLES):
            passkey_ms.append(sign_in() * 1000)
            password_ms.append(timed_login(client, account) * 1000)
    passkey, password = statistics.median(passkey_ms), statistics.median(password_ms)
    return Row(
        label="Passkey sign-in (options + answer) / password login (ratio of medians)",
        value=f"passkey {passkey:.1f} ms, password {password:.0f} ms",
        ratio=passkey / password,
        target="informational",
        data={"passkey_ms": passkey_ms, "password_ms": password_ms},
    )


def token_vs_session(base_url: str, account: Account, seconds: float, tmp: Path) -> Row:
    """GET /api/users/me/posts with a personal access token against the same with a
    session's access token: checking either is one read (web/hot_reads.py), so the token
    should cost about what the access token does."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        session_token = login(client, account)  # signed in just now: may make a token
        made = client.post(
            "/api/users/me/tokens",
            json={"name": "bench", "scopes": ["posts:read"]},
            headers={"Authorization": f"Bearer {session_token}"},
        )
        made.raise_for_status()
    url = base_url + "/api/users/me/posts"
    by_session = measure(url, seconds, tmp, token=session_token)
    by_token = measure(url, seconds, tmp, token=made.json()["token"])
    ratio = by_token.requests_per_s / by_session.requests_per_s
    return Row(
        label="GET /api/users/me/posts, personal access token vs access token",
        value=f"{by_token.requests_per_s:,.0f} vs {by_session.requests_per_s:,.0f} req/s, "
        f"p99 {by_token.latency_ms.get('99', 0):.1f} vs "
        f"{by_session.latency_ms.get('99', 0):.1f} ms",
        ratio=ratio,
        target=">= 0.85x",
        met=ratio >= 0.85,
        data={"token": asdict(by_token), "session": asdict(by_session)},
    )


def me_without_logins(base_url: str, token: str, seconds: float, tmp: Path) -> Row:
    """The control for the next row: the same /me load with no logins running, so the
    difference is what the logins cost (wrk keeps 8 connections busy, so part of any
    latency is /me queueing behind itself)."""
    result = run_wrk(
        base_url + "/api/users/me", seconds, tmp, token=token, threads=1, connections=8
    )
    p50, p99 = result.latency_ms.get("50", 0.0), result.latency_ms.get("99", 0.0)
    return Row(
        label="GET /api/users/me, same load, no logins (wrk -t1 -c8)",
        value=f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, {result.requests_per_s:,.0f} req/s",
        data=asdict(result),
    )


def me_during_logins(base_url: str, accounts: list[Account], seconds: float, tmp: Path) -> Row:
    stop = threading.Event()
    login_times: list[float] = []
    failures: list[str] = []

    def loop(account: Account) -> None:
        with httpx.Client(base_url=base_url, timeout=60) as client:
            while not stop.is_set():
                try:
                    login_times.append(timed_login(client, account))
                except httpx.HTTPError as error:
                    failures.append(repr(error))

    workers = [
        threading.Thread(target=loop, args=(account,), daemon=True)
        for account in accounts[:LOAD_LOGINS]
    ]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1)  # let the login loops reach a steady state
        result = run_wrk(
            base_url + "/api/users/me",
            seconds,
            tmp,
            token=accounts[0].token,
            threads=1,
            connections=8,
        )
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    p50, p99 = result.latency_ms.get("50", 0.0), result.latency_ms.get("99", 0.0)
    logins_per_s = len(login_times) / (seconds + 1)
    return Row(
        label=f"GET /api/users/me while {LOAD_LOGINS} logins loop (wrk -t1 -c8)",
        value=f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, {result.requests_per_s:,.0f} req/s; "
        f"{logins_per_s:.1f} logins/s",
        target="p99 < 50 ms",
        met=p99 < 50 and not failures and not result.non_2xx,
        data=asdict(result)
        | {
            "logins_per_s": logins_per_s,
            "login_failures": failures[:5],
            "login_count": len(login_times),
        },
    )


def rss_during_burst(server: Server, accounts: list[Account]) -> Row:
    samples: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append(tree_rss_bytes(server.process.pid))
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    time.sleep(0.3)
    before = samples[-1]
    barrier = threading.Barrier(BURST_LOGINS)

    def one_login(n: int) -> float:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            barrier.wait()
            return timed_login(client, accounts[n % len(accounts)])

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(BURST_LOGINS) as pool:
            times = list(pool.map(one_login, range(BURST_LOGINS)))
        wall = time.perf_counter() - started
        time.sleep(0.3)
    finally:
        stop.set()
        sampler.join()
    growth = max(samples) - before
    return Row(
        label=f"Server RSS during {BURST_LOGINS} concurrent logins",
        value=f"{before / MIB:.0f} -> peak {max(samples) / MIB:.0f} MiB (+{growth / MIB:.0f}); "
        f"burst {wall:.1f} s, slowest login {max(times):.1f} s",
        target="<= +512 MiB",
        met=growth <= 512 * MIB,
        data={"before_bytes": before, "peak_bytes": max(samples), "burst_s": wall},
    )


SEARCH_POSTS = 10_000
SEARCH_SAMPLES = 200
COMMON_WORD = "river"  # in about half of the posts
RARE_WORD = "zephyrine"  # in 5 of them
SEARCH_BATCH = 1000


def seed_search_posts(database_url: str, user_id: int) -> None:
    """SEARCH_POSTS published posts written straight to the database in bulk (the
    index is the database's own: its triggers or generated column index them as they
    are inserted), each about 120 words from a 3,000-word vocabulary."""
    import random

    import sqlalchemy as sa

    sys.path.insert(0, str(ROOT))
    from database import sync_url

    rng = random.Random(23)
    vocabulary = [
        "".join(rng.choice("bcdfghklmnprstvz") + rng.choice("aeiou") for _ in range(3))
        for _ in range(3000)
    ]
    posts = sa.table(
        "posts",
        *(sa.column(name) for name in ("title", "content", "content_html", "search_text")),
        *(sa.column(name) for name in ("status", "slug", "slug_fixed", "user_id")),
        *(sa.column(name) for name in ("date_posted", "changed_at", "reading_minutes")),
    )
    engine = sa.create_engine(sync_url(database_url))
    start = datetime(2020, 1, 1, tzinfo=UTC)
    with engine.begin() as connection:
        for first in range(0, SEARCH_POSTS, SEARCH_BATCH):
            rows = []
            for n in range(first, first + SEARCH_BATCH):
                words = rng.choices(vocabulary, k=120)
                if n % 2 == 0:
                    words[rng.randrange(120)] = COMMON_WORD
                if n % (SEARCH_POSTS // 5) == 7:
                    words[rng.randrange(120)] = RARE_WORD
                text = " ".join(words)
                date = start + (n * (datetime(2026, 1, 1, tzinfo=UTC) - start)) / SEARCH_POSTS
                rows.append(
                    {
                        "title": " ".join(rng.choices(vocabulary, k=4)).capitalize(),
                        "content": text,
                        "content_html": f"<p>{text}</p>",
                        "search_text": text,
                        "status": "published",
                        "slug": f"search-{n}",
                        "slug_fixed": True,
                        "user_id": user_id,
                        "date_posted": date,
                        "changed_at": date,
                        "reading_minutes": 1,
                    }
                )
            connection.execute(posts.insert(), rows)
    if engine.dialect.name == "postgresql":
        # What autovacuum does a minute after such a load: statistics for the planner,
        # and hint bits and the visibility map set, so the first searches measured do
        # not pay for writing them. (SQLite keeps no such state.)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM ANALYZE posts")
    engine.dispose()


def search_latency(base_url: str, word: str, total: int) -> Row:
    """One client, one search at a time: the answer's latency, median and p99."""
    samples: list[float] = []
    with httpx.Client(base_url=base_url, timeout=60) as client:
        for _ in range(5):  # warm the connection, the route and the database's caches
            client.get("/api/search", params={"q": word}).raise_for_status()
        for _ in range(SEARCH_SAMPLES):
            start = time.perf_counter()
            response = client.get("/api/search", params={"q": word, "limit": 10})
            samples.append((time.perf_counter() - start) * 1000)
            response.raise_for_status()
    median = statistics.median(samples)
    p99 = statistics.quantiles(samples, n=100)[98]
    common = word == COMMON_WORD
    return Row(
        label=f"GET /api/search?q={word} ({'common' if common else 'rare'} word, {total:,} posts)",
        value=f"median {median:.1f} ms, p99 {p99:.1f} ms ({SEARCH_SAMPLES} in a row)",
        target="median <= 20 ms, p99 <= 100 ms" if common else "",
        met=(median <= 20 and p99 <= 100) if common else None,
        data={"ms": samples},
    )


def search_rows(base_url: str, database_url: str, account: Account) -> list[Row]:
    with httpx.Client(base_url=base_url, timeout=60) as client:
        me = client.get("/api/users/me", headers={"Authorization": f"Bearer {account.token}"})
        user_id = me.raise_for_status().json()["id"]
    seed_search_posts(database_url, user_id)
    total = POSTS + SEARCH_POSTS
    return [search_latency(base_url, word, total) for word in (COMMON_WORD, RARE_WORD)]


def static_caching(base_url: str) -> Row:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        html = client.get("/").text
        urls = sorted(set(re.findall(r'(/static/[^"\']+\.(?:css|js)\?v=[^"\']+)', html)))
        controls = {url: client.get(url).headers.get("cache-control", "") for url in urls}
    ok = bool(urls) and all("max-age=31536000" in c and "immutable" in c for c in controls.values())
    return Row(
        label="Versioned CSS/JS: Cache-Control max-age=31536000, immutable",
        value=f"{len(urls)} assets checked" if urls else "no versioned CSS/JS found on /",
        target="all pass",
        met=ok,
        data={"cache_control": controls},
    )


# --- report ----------------------------------------------------------------------


def machine_facts() -> dict[str, str]:
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": str(len(os.sched_getaffinity(0))),
        "load average": " ".join(f"{load:.2f}" for load in os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit + (" (with uncommitted changes)" if dirty else ""),
    }


def print_table(rows: list[Row]) -> None:
    header = ["#", "Measurement", "Result", "Ratio", "Target", "Status"]
    cells = [
        [
            str(n),
            row.label,
            row.value,
            f"{row.ratio:.2f}x" if row.ratio is not None else "",
            row.target,
            "" if row.met is None else ("met" if row.met else "NOT MET"),
        ]
        for n, row in enumerate(rows, 1)
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    for line in [header, ["-" * w for w in widths], *cells]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--quick", action="store_true", help="3 s per wrk run")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    parser.add_argument(
        "--database-url",
        help="e.g. a PostgreSQL URL, already migrated (`uv run alembic upgrade head`) or with "
        "AUTO_MIGRATE=1 set; default: a fresh SQLite file in a temporary directory",
    )
    parser.add_argument(
        "--postgres-url",
        help="also measure /api/users/me on this PostgreSQL database (migrated at start-up)",
    )
    parser.add_argument(
        "--only",
        choices=["reset", "search", "tokens"],
        help="seed, then measure only these rows: `reset` (password-reset requests, known "
        "against unknown addresses, and the request that follows each), `search` (a common "
        "and a rare word over 10,000 more posts), `tokens` (a personal access token against an "
        "access token)",
    )
    args = parser.parse_args()
    # `kill` as well as Ctrl-C unwinds the stack, so the servers are always stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    seconds = 3.0 if args.quick else args.duration
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk", file=sys.stderr)
        return 2

    facts = machine_facts()
    print("Inkwell benchmark  " + "  ".join(f"{k}: {v}" for k, v in facts.items()))
    print(
        f"One run on a possibly noisy machine; throughput is a ratio to a bare FastAPI app "
        f"measured in the same run. wrk -t2 -c32, {seconds:g} s per measurement.\n"
    )
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="inkwell-bench-")))
        env = os.environ | {"SECRET_KEY": secrets.token_urlsafe(48)}
        env["DATABASE_URL"] = args.database_url or f"sqlite:///{tmp / 'bench.db'}"
        # The seed signs USERS accounts up from one client address.
        env["SIGNUPS_PER_HOUR"] = str(max(USERS + 5, 100))
        # ... and each writes POSTS / USERS posts within the hour.
        env["POSTS_PER_HOUR"] = str(POSTS)
        baseline = stack.enter_context(serve("baseline", "baseline:app", env, "/ping", tmp))
        app = stack.enter_context(serve("inkwell", "main:app", env, "/api/posts", tmp))

        print(f"Seeding {USERS} users and {POSTS} posts ...", flush=True)
        accounts = seed(app.url)
        token = accounts[0].token
        # The post's canonical address (/posts/{id} alone answers 301 there).
        middle = httpx.get(f"{app.url}/api/posts/{POSTS // 2}", timeout=30).json()
        post_url = f"{app.url}{middle['url']}"
        if args.only == "reset":
            print("Measuring password-reset requests ...", flush=True)
            rows = reset_known_vs_unknown(app.url, accounts)
            print_table(rows)
            if args.json:
                print(json.dumps({"machine": facts, "rows": [asdict(r) for r in rows]}))
            return 0 if all(row.met is not False for row in rows) else 1
        if args.only == "tokens":
            print("Measuring a personal access token ...", flush=True)
            rows = [token_vs_session(app.url, accounts[0], seconds, tmp)]
            print_table(rows)
            if args.json:
                print(json.dumps({"machine": facts, "rows": [asdict(r) for r in rows]}))
            return 0 if all(row.met is not False for row in rows) else 1
        if args.only == "search":
            print(f"Writing {SEARCH_POSTS:,} more posts, measuring search ...", flush=True)
            rows = search_rows(app.url, env["DATABASE_URL"], accounts[0])
            print_table(rows)
            if args.json:
                print(json.dumps({"machine": facts, "rows": [asdict(r) for r in rows]}))
            return 0 if all(row.met is not False for row in rows) else 1
        cursor = deep_cursor(app.url, PAGE_DEPTH)

        print("Measuring throughput ...", flush=True)
        ping_start = measure(baseline.url + "/ping", seconds, tmp)
        me = measure(app.url + "/api/users/me", seconds, tmp, token=token)
        home = measure(app.url + "/", seconds, tmp)
        home_rendered = measure(app.url + "/", seconds, tmp, bust_cache=True)
        post = measure(post_url, seconds, tmp)
        posts = measure(app.url + "/api/posts?limit=10", seconds, tmp)
        not_modified = measure(
            app.url + "/",
            seconds,
            tmp,
            headers={"If-None-Match": etag_of(app.url + "/")},
            expect_304=True,
        )
        first_page = measure(app.url + "/api/posts?limit=10", seconds, tmp, bust_cache=True)
        deep_page = measure(
            f"{app.url}/api/posts?limit=10&cursor={cursor}", seconds, tmp, bust_cache=True
        )
        crowd_seconds = max(seconds, CROWD_SECONDS)
        crowd = measure(app.url + "/api/users/me", crowd_seconds, tmp, token, CROWD)
        ping_end = measure(baseline.url + "/ping", seconds, tmp)
        ceiling = (ping_start.requests_per_s + ping_end.requests_per_s) / 2

        print("Measuring logins ...", flush=True)
        rows = [
            Row(
                label="Baseline GET /ping (bare FastAPI)",
                value=f"{ceiling:,.0f} req/s (start {ping_start.requests_per_s:,.0f}, "
                f"end {ping_end.requests_per_s:,.0f})",
                ratio=1.0,
                data={"start": asdict(ping_start), "end": asdict(ping_end)},
            ),
            throughput_row("GET /api/users/me (bearer token)", me, ceiling, 0.35),
            throughput_row(f"GET / (10 newest of {POSTS} posts)", home, ceiling, 0.40),
            throughput_row("GET / rendered every time (new URLs)", home_rendered, ceiling, None),
            throughput_row("GET /posts/{id}/{slug}", post, ceiling, 0.40),
            throughput_row("GET /api/posts?limit=10", posts, ceiling, 0.30),
            throughput_row("GET / answered 304 (If-None-Match)", not_modified, ceiling, 0.60),
            depth_row(first_page, deep_page, ceiling),
            login_vs_argon2(app.url, accounts[0]),
            token_vs_session(app.url, accounts[1], seconds, tmp),
            me_without_logins(app.url, accounts[0].token, seconds, tmp),
            me_during_logins(app.url, accounts, seconds, tmp),
            rss_during_burst(app, accounts),
            static_caching(app.url),
            crowd_row(crowd, crowd_seconds, ceiling),
        ]

        # Last of the single-worker rows: the 10,000 more posts change no row above.
        print(f"Writing {SEARCH_POSTS:,} more posts, measuring search ...", flush=True)
        rows += search_rows(app.url, env["DATABASE_URL"], accounts[0])

        print("Measuring /api/users/me with two workers ...", flush=True)
        baseline2 = stack.enter_context(
            serve("baseline-2", "baseline:app", env, "/ping", tmp, workers=2)
        )
        app2 = stack.enter_context(serve("inkwell-2", "main:app", env, "/api/posts", tmp, 2))
        ping2 = measure(baseline2.url + "/ping", seconds, tmp)
        me2 = measure(app2.url + "/api/users/me", seconds, tmp, token=token)
        rows.append(
            throughput_row(
                "GET /api/users/me, 2 workers (ratio to the baseline on 2 workers)",
                me2,
                ping2.requests_per_s,
                None,
            )
        )
        if args.postgres_url:
            print("Measuring /api/users/me on PostgreSQL ...", flush=True)
            pg_env = env | {"DATABASE_URL": args.postgres_url, "AUTO_MIGRATE": "1"}
            app_pg = stack.enter_context(serve("inkwell-pg", "main:app", pg_env, "/api/posts", tmp))
            pg_account = Account("bench_pg_" + secrets.token_hex(3), "", "bench-Password-pg-xyz!")
            pg_account.email = f"{pg_account.username}@example.com"
            with httpx.Client(base_url=app_pg.url, timeout=60) as client:
                body = {"username": pg_account.username, "email": pg_account.email}
                client.post("/api/users", json=body | {"password": pg_account.password})
                pg_token = login(client, pg_account)
            me_pg = measure(app_pg.url + "/api/users/me", seconds, tmp, token=pg_token)
            rows.append(
                throughput_row("GET /api/users/me on PostgreSQL (one worker)", me_pg, ceiling, None)
            )
        print("Measuring password-reset requests ...", flush=True)
        rows.extend(reset_known_vs_unknown(app.url, accounts))
        print("Measuring passkey sign-ins ...", flush=True)
        rows.append(passkey_vs_password(app.url, accounts[1]))
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nLoad average at the end: {load} (other work on the machine skews every figure)\n")
    print_table(rows)
    if args.json:
        facts["load average at end"] = load
        print(json.dumps({"machine": facts, "seconds": seconds, "rows": [asdict(r) for r in rows]}))
    return 0 if all(row.met is not False for row in rows) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\nInterrupted; both servers were stopped.", file=sys.stderr)
        sys.exit(130)
