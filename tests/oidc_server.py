"""A real OpenID Provider for the tests: panva's oidc-provider (tests/oidc/provider.mjs,
pinned by tests/oidc/package-lock.json) on a loopback port, and the steps a person takes
on its development login screen, done with httpx."""

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from config import OIDCClient
from tests.live_server import free_port

PROVIDER_SCRIPT = Path(__file__).parent / "oidc" / "provider.mjs"
START_TIMEOUT = 10.0
# The provider's client for Inkwell, and where Inkwell (the `client` fixture's base
# URL, provider "test") gets the provider's answer: the provider accepts no other
# redirect_uri (plain HTTP too, for a TestClient of its own).
CLIENT_ID = "inkwell"
CLIENT_SECRET = "inkwell-test-secret"
REDIRECT_URI = "https://testserver/auth/oidc/test/callback"
REDIRECT_URIS = [REDIRECT_URI, "http://testserver/auth/oidc/test/callback"]


@dataclass(frozen=True)
class OIDCProvider:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"


def start_provider(
    port: int, log: IO[bytes], redirect_uris: Sequence[str] = tuple(REDIRECT_URIS)
) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "OIDC_TEST_CLIENT_ID": CLIENT_ID,
        "OIDC_TEST_CLIENT_SECRET": CLIENT_SECRET,
        "OIDC_TEST_REDIRECT_URIS": " ".join(redirect_uris),
    }
    node = shutil.which("node")
    if node is None:
        pytest.fail("the OpenID provider needs Node.js (node) on the PATH")
    return subprocess.Popen(  # noqa: S603 (Node and our own script)
        [node, str(PROVIDER_SCRIPT), str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        # A file, not a pipe: a pipe nobody reads would stop it once full.
        stderr=log,
    )


def wait_for_discovery(process: subprocess.Popen[bytes], url: str, log: IO[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            stderr = log.read().decode(errors="replace")
            pytest.fail(f"the OpenID provider stopped (exit {process.returncode}):\n{stderr}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the OpenID provider did not answer {url} within {START_TIMEOUT:.0f} s")


def stop_provider(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def install_provider() -> None:
    """`npm ci` the pinned provider on first use, so that `uv run pytest` on a fresh clone
    needs no step of its own (.ci/run installs it beforehand). xdist's workers take turns
    through a file lock: one installs, the others find it there."""
    directory = PROVIDER_SCRIPT.parent
    if (directory / "node_modules" / "oidc-provider").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("the OpenID provider needs Node and npm (apt-get install nodejs npm)")
    lock_path = Path(tempfile.gettempdir()) / "inkwell-oidc-install.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (directory / "node_modules" / "oidc-provider").is_dir():
            return
        installed = subprocess.run(  # noqa: S603 (npm, found on PATH, with fixed arguments)
            [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(directory)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if installed.returncode != 0:
            pytest.fail(f"npm ci --prefix tests/oidc failed:\n{installed.stderr}")


@contextmanager
def running_provider(redirect_uris: Sequence[str] = tuple(REDIRECT_URIS)) -> Iterator[OIDCProvider]:
    """A real OpenID provider of its own, whose client for Inkwell accepts
    `redirect_uris` only (a live server's callback, say), until the block ends."""
    install_provider()
    port = free_port()
    provider = OIDCProvider(
        issuer=f"http://127.0.0.1:{port}",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=redirect_uris[0],
    )
    with tempfile.TemporaryFile() as log:
        process = start_provider(port, log, redirect_uris)
        try:
            wait_for_discovery(process, provider.discovery_url, log)
            yield provider
        finally:
            stop_provider(process)


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OIDCProvider]:
    """One real OpenID provider for the whole run (started on first use)."""
    with running_provider() as provider:
        yield provider


FORM = re.compile(r'<form[^>]*\baction="([^"]*)"[^>]*>(.*?)</form>', re.S)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')


def provider_form(page: httpx.Response) -> tuple[str, dict[str, str]]:
    """The first form on a page of the provider: its absolute action and hidden fields."""
    found = FORM.search(page.text)
    assert found, f"no form on {page.url}:\n{page.text[:2000]}"
    action = urljoin(str(page.url), unescape(found.group(1)))
    fields = {name: unescape(value) for name, value in HIDDEN.findall(found.group(2))}
    return action, fields


def follow_provider(browser: httpx.Client, response: httpx.Response) -> httpx.Response:
    """Follows the provider's redirects, stopping at a page or at a redirect that leaves
    the provider (to the client's redirect_uri, which the provider does not serve)."""
    issuer = f"{response.url.scheme}://{response.url.netloc.decode()}"
    while response.is_redirect:
        target = urljoin(str(response.url), response.headers["location"])
        if not target.startswith(issuer + "/"):
            return response
        response = browser.get(target)
    return response


def sign_in_at_provider(
    browser: httpx.Client, authorization_url: str, login: str
) -> httpx.Response:
    """What a person does at the provider: open the authorization URL, sign in on its
    development login form (any login, any password), consent. Returns the provider's
    redirect back to the client (its `location` carries `code` and `state`)."""
    page = follow_provider(browser, browser.get(authorization_url))
    action, fields = provider_form(page)
    assert fields.get("prompt") == "login", page.text[:2000]
    answer = browser.post(action, data=fields | {"login": login, "password": "anything"})
    page = follow_provider(browser, answer)
    if page.is_redirect:  # consent already given in this browser
        return page
    action, fields = provider_form(page)
    assert fields.get("prompt") == "consent", page.text[:2000]
    answer = follow_provider(browser, browser.post(action, data=fields))
    assert answer.is_redirect, f"the provider did not send the browser back:\n{answer.text[:2000]}"
    return answer


def configured(provider: OIDCProvider, name: str = "test", label: str = "") -> OIDCClient:
    """Inkwell's settings for the real provider, as provider `name`."""
    fields = {
        "name": name,
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "client_secret": provider.client_secret,
    }
    if label:
        fields["label"] = label
    return OIDCClient.model_validate(fields)


@pytest.fixture
def oidc_client(make_app, mailbox, oidc_provider: OIDCProvider) -> Iterator[TestClient]:
    """A client of an app with the real provider configured as "test" (label "Test ID")."""
    app = make_app(oidc_clients=[configured(oidc_provider, label="Test ID")])
    with TestClient(app, base_url="https://testserver") as test_client:
        yield test_client


def provider_redirect(
    client: TestClient, login: str, *, next_path: str | None = None
) -> httpx.Response:
    """Start a sign-in at Inkwell and sign in at the provider as `login` (in a browser
    of its own, with no earlier consent): the provider's redirect back to Inkwell."""
    params = {"next": next_path} if next_path is not None else {}
    started = client.get("/auth/oidc/test/start", params=params, follow_redirects=False)
    assert started.status_code == 303, started.text
    with httpx.Client() as browser:
        return sign_in_at_provider(browser, started.headers["location"], login)


def callback_query(redirect: httpx.Response) -> dict[str, str]:
    """The `code`, `state` (or `error`) the provider's redirect carries."""
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    return {key: values[0] for key, values in query.items()}


def sign_in_with_provider(
    client: TestClient, login: str, *, next_path: str | None = None
) -> httpx.Response:
    """The whole way: Inkwell's start, the provider's login, Inkwell's callback (its
    answer, not followed)."""
    redirect = provider_redirect(client, login, next_path=next_path)
    return client.get(redirect.headers["location"], follow_redirects=False)
