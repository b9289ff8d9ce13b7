"""A live Inkwell in a subprocess, on its own port, database and secret key."""

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.databases import fresh_database
from tests.helpers import FAST_ARGON2

PROJECT_ROOT = Path(__file__).parents[1]
SERVER_START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def access_log_config(path: Path, access_log: Path) -> str:
    """A uvicorn `--log-config` file that writes the access log to `access_log`, each
    line prefixed with the worker's process id: what reached the app, and which worker."""
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"pid": {"format": "%(process)d %(message)s"}},
        "handlers": {
            "access": {
                "class": "logging.FileHandler",
                "filename": str(access_log),
                "formatter": "pid",
            },
        },
        "loggers": {
            "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False}
        },
    }
    path.write_text(json.dumps(config))
    return str(path)


class LiveServer:
    """`uvicorn main:app` in a subprocess, on its own port, database and secret key."""

    def __init__(
        self,
        tmp: Path,
        *,
        workers: int = 1,
        env: dict[str, str | None] | None = None,
        args: Sequence[str] = (),
        smtp_port: int | None = None,
        name: str = "127.0.0.1",
        migrated: bool = True,
        port: int | None = None,
    ) -> None:
        """`name` is what the server is called in its URL (and PUBLIC_URL): it listens
        on 127.0.0.1 either way, but passkeys need `localhost`, never an IP address.
        Its database is a copy of the migrated template (start-up then only finds the
        schema current), or empty when not `migrated`: start-up migrates it. `port`: one
        chosen beforehand (its address registered somewhere first, say), else a free one."""
        self.port = port if port is not None else free_port()
        self.base_url = f"http://{name}:{self.port}"
        self.log = tmp / "server.log"
        self.cleanup = ExitStack()
        # `env` adds to or overrides these; a None value removes the variable.
        self.database_url = self.cleanup.enter_context(fresh_database(tmp, migrated=migrated))
        wanted = {
            "DATABASE_URL": self.database_url,
            "AUTO_MIGRATE": "true",
            "SECRET_KEY": secrets.token_hex(32),
            # Cheap hashing, as in-process apps have (conftest.fast_argon2): a live
            # server's sign-ups and logins are not what its tests measure.
            **{name.upper(): str(value) for name, value in FAST_ARGON2.items()},
        }
        if smtp_port is not None:  # mail to the test's SMTP server, links to this server
            wanted |= {
                "SMTP_HOST": "127.0.0.1",
                "SMTP_PORT": str(smtp_port),
                "SMTP_SECURITY": "none",
                "PUBLIC_URL": self.base_url,
            }
        wanted |= env or {}
        environment = {
            name: value for name, value in (os.environ | wanted).items() if value is not None
        }
        command = [sys.executable, "-m", "uvicorn", "main:app", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", str(workers), *args]
        if "--log-config" not in args:
            command.append("--no-access-log")
        with self.log.open("wb") as stderr:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and app)
                command, cwd=PROJECT_ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=stderr
            )
        self.deadline = time.monotonic() + SERVER_START_TIMEOUT

    def wait_until_ready(self) -> str:
        # Counted from the start, but a server started ahead (the browser tests' spare,
        # long since up) still gets a few tries: one slow answer under load is no failure.
        deadline = max(self.deadline, time.monotonic() + 10)
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"server exited early:\n{self.log.read_text(errors='replace')}")
            try:
                # A first answer takes long on a busy machine (imports, FastAPI building
                # its routes); giving up on it after a second only queued more of them.
                if httpx.get(f"{self.base_url}/api/posts", timeout=10).status_code == 200:
                    return self.base_url
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"server did not start:\n{self.log.read_text(errors='replace')}")
            time.sleep(0.05)

    def shut_down(self) -> None:
        """SIGTERM, as a service manager sends it, and wait for the process to end: the
        lifespan's shutdown (the outbox sender finishing its sends) has run by then,
        so nothing this server does can still arrive anywhere. Its database stays."""
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        self.shut_down()
        self.cleanup.close()
