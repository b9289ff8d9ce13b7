"""The SMTP settings against real servers: STARTTLS and implicit TLS with a certificate
the client must verify, and AUTH with the configured credentials; and the settings
that must not be left out."""

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr, ValidationError

from config import Settings
from models import OutboxMessage
from tests.helpers import settings_changed
from tests.live_server import free_port
from tests.mail_server import Mailbox
from tests.test_outbox import count, message, queue, run, senders, until

# aiosmtpd's warning about auth_require_tls=False, which the TLS server below sets.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, which the test then trusts."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command: apt-get install openssl")
    tmp = tmp_path_factory.mktemp("smtp-tls")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(  # noqa: S603 (fixed arguments)
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class Credentials:
    """Accepts one username and password, and notes every attempt."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, str]] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any):
        assert isinstance(data, LoginPassword)
        login, password = data.login.decode(), data.password.decode()
        self.attempts.append((login, password))
        return AuthResult(success=(login, password) == ("blog", "s3cret-smtp"))


@pytest.fixture(params=["starttls", "tls"])
def secure_server(request, certificate, monkeypatch) -> Iterator[tuple[Mailbox, Credentials]]:
    """A server that insists on encryption (and on AUTH, only once encrypted), with the
    app's settings pointed at it."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox, credentials, port = Mailbox(), Credentials(), free_port()
    options: dict[str, Any] = {"authenticator": credentials, "auth_required": True}
    if request.param == "starttls":
        options |= {"tls_context": context, "require_starttls": True}
    else:
        # aiosmtpd offers AUTH only after its own STARTTLS unless told this connection,
        # TLS from its first byte, is secure enough.
        options |= {"ssl_context": context, "auth_require_tls": False}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trusted by the default context
    with settings_changed(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security=request.param,
        smtp_username="blog",
        smtp_password=SecretStr("s3cret-smtp"),
    ):
        yield mailbox, credentials
    controller.stop()


def deliver(database_url: str) -> None:
    """Queue a message and wait until the sender has either sent it or failed once."""

    async def scenario() -> None:
        async with senders(database_url) as (sessionmaker, _):
            await queue(sessionmaker, message(1))
            settled = (OutboxMessage.last_error.is_(None),)
            await until(lambda: count(sessionmaker, *settled), at_most=0)

    run(scenario())


def test_mail_goes_encrypted_and_authenticated(secure_server, database_url):
    mailbox, credentials = secure_server
    deliver(database_url)
    assert len(mailbox.wait_for("reader@example.com")) == 1
    assert credentials.attempts[-1] == ("blog", "s3cret-smtp")


@pytest.mark.settings(smtp_security="starttls")
def test_starttls_is_required_when_asked_for(database_url, mailbox, caplog):
    """The test server offers no STARTTLS: nothing is sent in the clear."""
    deliver(database_url)
    assert mailbox.received == []
    assert "not sent" in caplog.text


def test_an_smtp_host_needs_a_public_url():
    with pytest.raises(ValidationError, match="PUBLIC_URL"):
        Settings(smtp_host="smtp.example.com", public_url=None)
    configured = Settings(smtp_host="smtp.example.com", public_url="https://blog.example.com")
    assert configured.mail_sender.addr_spec == "noreply@blog.example.com"
    assert configured.site_url == "https://blog.example.com"


@pytest.mark.parametrize("mail_from", ["not an address", "Inkwell <>"])
def test_mail_from_must_be_an_address(mail_from):
    with pytest.raises(ValidationError, match="MAIL_FROM"):
        Settings(mail_from=mail_from)


def test_mail_from_is_used_as_given():
    configured = Settings(mail_from="Inkwell Blog <blog@example.com>")
    assert str(configured.mail_sender) == "Inkwell Blog <blog@example.com>"
