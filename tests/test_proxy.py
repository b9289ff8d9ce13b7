"""The shipped nginx config (deploy/nginx/inkwell.conf) in front of a live Inkwell:
what the proxy adds that uvicorn alone lacks. Huge headers are refused at once, slow
and silent clients are cut off, the client's real address reaches the login throttle
(and a forged X-Forwarded-For does not), and nginx serves /static itself.

The test changes only deployment-specific values in the shipped file (addresses,
ports, certificate, static root) and wraps it in a minimal main config."""

import os
import re
import select
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from accounts.throttle import MAX_FAILURES_PER_CLIENT
from tests.helpers import sign_up
from tests.live_server import PROJECT_ROOT, LiveServer, access_log_config, free_port
from web.middleware import SECURITY_HEADERS

NGINX = "/usr/sbin/nginx"
SHIPPED_CONFIG = PROJECT_ROOT / "deploy" / "nginx" / "inkwell.conf"
UVICORN_KEEP_ALIVE = 75  # --timeout-keep-alive, as the README's Production section says
_SHIPPED = SHIPPED_CONFIG.read_text()
HEADER_TIMEOUT = int(re.search(r"client_header_timeout (\d+)s;", _SHIPPED)[1])
UPSTREAM_IDLE = int(
    re.search(r"upstream inkwell_app \{[^}]*keepalive_timeout (\d+)s;", _SHIPPED)[1]
)
CUT_OFF_SLACK = 10.0  # seconds allowed past the configured timeout on a busy machine
IMMUTABLE = "public, max-age=31536000, immutable"

# Debian's /etc/nginx/nginx.conf, reduced to what matters: its http-level directives
# stay, so the shipped file must not repeat them.
MAIN_CONFIG = """\
{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
events {{
    worker_connections 256;
}}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {tmp}/access.log;
    gzip on;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/inkwell.conf;
}}
"""


def _needed(path: str | None, hint: str) -> str:
    """The path of a tool the proxy tests need; without it, skip, or fail under CI."""
    if path and Path(path).exists():
        return path
    message = f"proxy tests need {hint}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _site_config(tls_port: int, http_port: int, app_port: int, cert: Path, key: Path) -> str:
    """The shipped file with this machine's addresses, ports, certificate and paths."""
    config = SHIPPED_CONFIG.read_text()
    replacements = {
        "listen 443 ": f"listen 127.0.0.1:{tls_port} ",
        "listen [::]:443 ssl http2 default_server;": "",
        "listen 80 ": f"listen 127.0.0.1:{http_port} ",
        "listen [::]:80 default_server;": "",
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
        "/srv/inkwell/static/": f"{PROJECT_ROOT / 'static'}/",
        "/etc/letsencrypt/live/blog.example.com/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/blog.example.com/privkey.pem": str(key),
        "/var/log/nginx/access.log": str(cert.parent / "nginx-access.log"),
    }
    for shipped, local in replacements.items():
        assert shipped in config, f"the shipped config no longer has {shipped!r}"
        config = config.replace(shipped, local)
    return config


@dataclass
class SlowClient:
    """A socket that holds a connection open without finishing a request; a thread
    watches it and notes when the server closes it."""

    name: str
    port: int
    tls: bool = False
    prefix: bytes = b""  # sent at once (after the TLS handshake)
    trickle: bool = False  # then one more byte every second
    opened: float = field(default_factory=time.monotonic)
    trickled: int = 0
    closed_after: float | None = None
    error: str | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        deadline = self.opened + HEADER_TIMEOUT + CUT_OFF_SLACK
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        except OSError as error:
            self.error = f"could not connect: {error}"
            return
        try:
            if self.tls:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE  # our own throwaway certificate
                sock = context.wrap_socket(sock)
            sock.sendall(self.prefix)
            sock.setblocking(False)
            while not self.stop.is_set() and time.monotonic() < deadline:
                if select.select([sock], [], [], 1.0)[0] and _at_end(sock):
                    break  # the server closed the connection
                if self.trickle:
                    sock.sendall(b"a")
                    self.trickled += 1
            else:
                return  # stopped, or never closed within the deadline
        except OSError:
            pass  # reset, broken pipe, TLS EOF: the server closed the connection
        finally:
            sock.close()
        self.closed_after = time.monotonic() - self.opened


def _at_end(sock: socket.socket) -> bool:
    """Whether a readable non-blocking socket has reached its end (any data is dropped;
    TLS 1.3 session tickets, say, make it readable without application data)."""
    try:
        return not sock.recv(4096)
    except (ssl.SSLWantReadError, BlockingIOError):
        return False


@dataclass
class Proxy:
    url: str  # https, through nginx
    http_url: str  # plain http, through nginx
    access_log: Path  # uvicorn's
    slow_clients: list[SlowClient]
    nginx_log: Path  # the site's access log

    def client(self, local_address: str = "127.0.0.1") -> httpx.Client:
        """An HTTPS client whose connections come from `local_address` (all of
        127.0.0.0/8 is loopback on Linux, so each address is a different client)."""
        transport = httpx.HTTPTransport(local_address=local_address, verify=False)
        return httpx.Client(base_url=self.url, transport=transport, timeout=30)

    def app_saw(self, marker: str) -> bool:
        """Whether a request whose path or query holds `marker` reached uvicorn."""
        return marker in self.access_log.read_text()


def _throwaway_certificate(tmp: Path) -> tuple[Path, Path]:
    openssl = _needed(shutil.which("openssl"), "the openssl command: apt-get install openssl")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(  # noqa: S603 (fixed arguments)
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=localhost"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _other_ports(count: int, taken: set[int]) -> list[int]:
    """Free ports, none of them one already handed out (uvicorn may not hold its own yet)."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in taken:
            taken.add(port)
            ports.append(port)
    return ports


def _wait_for_port(port: int, nginx: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 10
    while True:
        if nginx.poll() is not None:
            pytest.fail(f"nginx exited early:\n{log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                pytest.fail(f"nginx did not listen:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    nginx = _needed(NGINX, f"Debian's nginx at {NGINX}: apt-get install nginx")
    assert UPSTREAM_IDLE < UVICORN_KEEP_ALIVE, "uvicorn must outlast nginx's idle connections"
    tmp = tmp_path_factory.mktemp("proxy")
    cert, key = _throwaway_certificate(tmp)
    access_log = tmp / "uvicorn-access.log"
    # Started first: importing the app takes seconds, nginx and the slow clients don't.
    server = LiveServer(
        tmp,
        args=[
            "--proxy-headers",
            "--forwarded-allow-ips",
            "127.0.0.1",
            "--timeout-keep-alive",
            str(UVICORN_KEEP_ALIVE),
            "--log-config",
            access_log_config(tmp / "log.json", access_log),
        ],
    )
    nginx_process: subprocess.Popen | None = None
    slow_clients: list[SlowClient] = []
    try:
        tls_port, http_port = _other_ports(2, taken={server.port})
        site = _site_config(tls_port, http_port, server.port, cert, key)
        (tmp / "inkwell.conf").write_text(site)
        # As root, nginx's workers would run as nobody, who may not enter pytest's
        # private temporary directories; the shipped file sets no user.
        user = "user root;" if os.geteuid() == 0 else ""
        main_config = tmp / "nginx.conf"
        main_config.write_text(MAIN_CONFIG.format(tmp=tmp, user=user))
        error_log = tmp / "error.log"
        command = [nginx, "-p", str(tmp), "-c", str(main_config), "-e", str(error_log)]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True)  # noqa: S603
        assert checked.returncode == 0, f"nginx -t refused the config:\n{checked.stderr}"
        nginx_process = subprocess.Popen(command, stderr=subprocess.DEVNULL)  # noqa: S603
        _wait_for_port(tls_port, nginx_process, error_log)
        _wait_for_port(http_port, nginx_process, error_log)

        # Opened now and checked by the last test, so their wait overlaps the others.
        request_line = b"POST /api/users/token?probe=stalled-body HTTP/1.1\r\nHost: localhost\r\n"
        slow_clients = [
            SlowClient("silent before TLS", tls_port),
            SlowClient("silent on plain HTTP", http_port),
            SlowClient(
                "trickling headers",
                tls_port,
                tls=True,
                prefix=b"GET /?probe=trickle HTTP/1.1\r\nHost: localhost\r\nX-Slow: ",
                trickle=True,
            ),
            SlowClient(
                "silent after its headers",
                tls_port,
                tls=True,
                prefix=request_line + b"Content-Length: 100\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n\r\n",
            ),
        ]
        for client in slow_clients:
            client.start()

        server.wait_until_ready()
        yield Proxy(
            f"https://127.0.0.1:{tls_port}",
            f"http://127.0.0.1:{http_port}",
            access_log,
            slow_clients,
            tmp / "nginx-access.log",
        )
    finally:
        for client in slow_clients:
            client.stop.set()
        if nginx_process is not None:
            nginx_process.terminate()
            try:
                nginx_process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx_process.kill()
                nginx_process.wait()
        server.stop()


def _concurrently(*calls: Callable[[], httpx.Response]) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def test_a_huge_header_is_refused_at_once_and_others_are_served(proxy: Proxy):
    huge = {"Authorization": "Bearer " + "a" * 1024 * 1024}
    with proxy.client() as big, proxy.client() as normal:
        refused, answered = _concurrently(
            lambda: big.get("/api/users/me?probe=huge-header", headers=huge),
            lambda: normal.get("/api/posts?probe=beside"),
        )
    assert refused.status_code in (400, 431)
    assert answered.status_code == 200
    assert proxy.app_saw("probe=beside")  # the app's access log works...
    assert not proxy.app_saw("probe=huge-header")  # ...and the huge one never reached it


def test_the_client_address_reaches_the_throttle_and_cannot_be_forged(proxy: Proxy):
    with proxy.client() as http:
        account = sign_up(http, "Proxied")

    def failed_login(client: httpx.Client, attempt: int, email: str | None = None) -> int:
        # A new email each time, so only the per-client limit can apply; every other
        # attempt claims to come from somewhere else, as a guesser would.
        form = {"username": email or f"guess{attempt}@example.com", "password": "wrong-password"}
        forged = {"X-Forwarded-For": f"10.9.9.{attempt}"} if attempt % 2 else {}
        return client.post("/api/users/token", data=form, headers=forged).status_code

    with proxy.client("127.0.0.2") as guesser, proxy.client("127.0.0.3") as other:
        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = list(
                pool.map(
                    lambda i: failed_login(guesser, i, account.email if i == 0 else None),
                    range(MAX_FAILURES_PER_CLIENT),
                )
            )
        assert statuses == [401] * MAX_FAILURES_PER_CLIENT
        blocked = guesser.post(
            "/api/users/token",
            data={"username": "one-more@example.com", "password": "wrong-password"},
            headers={"X-Forwarded-For": "10.9.9.9"},
        )
        assert blocked.status_code == 429
        assert int(blocked.headers["Retry-After"]) > 0
        # Another address is its own client, not "the proxy", and is not throttled.
        assert failed_login(other, 0, account.email) == 401
    # The app's access log names the real clients, never a forged one.
    assert proxy.app_saw('127.0.0.2:0 - "POST /api/users/token')
    assert proxy.app_saw('127.0.0.3:0 - "POST /api/users/token')
    assert not proxy.app_saw("10.9.9.")


def test_link_tokens_stay_out_of_both_access_logs(proxy: Proxy):
    secrets_in_links = ["sEcReT-reset-link", "another-SeCrEt"]
    with proxy.client() as http:
        assert http.get(f"/reset-password?token={secrets_in_links[0]}").status_code == 200
        assert http.get(f"/verify-email?from=mail&token={secrets_in_links[1]}").status_code == 200
    deadline = time.monotonic() + 5
    while "from=mail&token=" not in proxy.nginx_log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    nginx_log, app_log = proxy.nginx_log.read_text(), proxy.access_log.read_text()
    assert '"GET /reset-password?token=[redacted] HTTP/1.1" 200' in nginx_log
    assert '"GET /verify-email?from=mail&token=[redacted] HTTP/1.1" 200' in nginx_log
    assert "/reset-password?token=[redacted]" in app_log
    for secret in secrets_in_links:
        assert secret not in nginx_log
        assert secret not in app_log


def test_static_files_come_from_nginx_with_the_apps_headers(proxy: Proxy):
    with proxy.client() as http:
        home = http.get("/")
        assert home.status_code == 200
        versioned = re.search(r'href="(/static/css/main\.css\?v=\w+)"', home.text)
        assert versioned, "the home page links no versioned stylesheet"
        stylesheet = (PROJECT_ROOT / "static" / "css" / "main.css").read_bytes()
        for url, cache in ((versioned[1], IMMUTABLE), ("/static/css/main.css", "no-cache")):
            response = http.get(url)
            assert response.status_code == 200
            assert response.content == stylesheet
            assert response.headers["Content-Type"].startswith("text/css")
            assert response.headers["Cache-Control"] == cache
            for name, value in SECURITY_HEADERS.items():
                assert response.headers.get_list(name) == [value], name
        assert http.get("/static/css/").status_code in (403, 404)  # no directory listing

        # The app's own limit, enforced before the body is even read.
        too_big = http.post(
            "/api/posts?probe=big-body",
            content=b"x" * (1024 * 1024 + 1),
            headers={"Content-Type": "application/json"},
        )
        assert too_big.status_code == 413
        assert too_big.headers["X-Content-Type-Options"] == "nosniff"
        assert (
            too_big.headers["Content-Security-Policy"]
            == SECURITY_HEADERS["Content-Security-Policy"]
        )
    with httpx.Client(timeout=30) as plain:  # plain HTTP only redirects to HTTPS
        redirect = plain.get(f"{proxy.http_url}/static/css/main.css")
        assert redirect.status_code == 301
        assert redirect.headers["Location"].startswith("https://")
    assert proxy.app_saw("GET / ")  # the app's access log works...
    assert not proxy.app_saw("/static/")  # ...and never saw a static file
    assert not proxy.app_saw("big-body")


def test_slow_and_silent_clients_are_cut_off(proxy: Proxy):
    """The sockets opened when the proxy started; by now they should be gone."""
    for client in proxy.slow_clients:
        client.thread.join(timeout=HEADER_TIMEOUT + CUT_OFF_SLACK + 5)
    assert not [(c.name, c.error) for c in proxy.slow_clients if c.error]
    left_open = [c.name for c in proxy.slow_clients if c.closed_after is None]
    assert not left_open, f"still open {HEADER_TIMEOUT + CUT_OFF_SLACK:.0f} s on: {left_open}"
    trickler = next(c for c in proxy.slow_clients if c.trickle)
    assert trickler.trickled >= 3, "the trickling client was cut off before it trickled"
    assert not proxy.app_saw("probe=trickle")
    assert not proxy.app_saw("stalled-body")
