"""`create_app(settings)`: an app is built from a settings object, nothing is built
from settings at import, and what the lifespan makes (Argon2's threads and
parameters) follows the app's own settings."""

import subprocess
import sys

from fastapi.testclient import TestClient
from sqlalchemy import select

import auth
from config import BASE_DIR, Settings, get_settings
from main import create_app
from models import User
from tests.databases import fresh_database
from tests.helpers import STRONG_PASSWORD, register


def settings_for(database_url: str, **changes: object) -> Settings:
    """The suite's current settings (its mail server, fast Argon2) on another database."""
    base = get_settings().model_copy(update={"database_url": database_url, "auto_migrate": False})
    return base.model_copy(update=changes)


def test_importing_the_app_builds_nothing_from_settings():
    """No Argon2 thread, no dummy hash, no hashing object until an app starts."""
    probe = (
        "import threading, auth, main; "
        "print(threading.active_count(), main.app.title, auth.current_hashing().pool._threads)"
    )
    result = subprocess.run(  # noqa: S603 (our own interpreter, a fixed script)
        [sys.executable, "-c", probe], cwd=BASE_DIR, capture_output=True, text=True, check=True
    )
    # One thread (the main one); a hashing object made only when asked, with no thread.
    assert result.stdout.split() == ["1", "Inkwell", "set()"]


def test_an_app_serves_with_the_settings_it_was_built_from(tmp_path):
    with fresh_database(tmp_path, migrated=True) as database_url:
        app = create_app(settings_for(database_url, page_size=2))
        with TestClient(app, base_url="https://testserver") as client:
            account = register(client, "Pat", "pat@example.com").json()
            token = client.post(
                "/api/users/token",
                data={"username": "pat@example.com", "password": STRONG_PASSWORD},
            ).json()["access_token"]
            for n in range(3):
                client.post(
                    "/api/posts",
                    json={"title": f"t{n}", "content": "c"},
                    headers={"Authorization": f"Bearer {token}"},
                )
            home = client.get("/")
            assert home.text.count('class="card post-card"') == 2
            assert account["username"] == "Pat"


def test_argon2_follows_the_app_settings(tmp_path):
    """The lifespan makes the hashing from the settings: a hash made by the app has
    the app's parameters, and the app's threads are gone once it stops."""
    with fresh_database(tmp_path, migrated=True) as database_url:
        settings = settings_for(
            database_url, argon2_time_cost=2, argon2_memory_kib=2048, argon2_parallelism=1
        )
        app = create_app(settings)
        with TestClient(app, base_url="https://testserver") as client:
            assert register(client, "Kim", "kim@example.com").status_code == 201
            hashing = auth.current_hashing()

            async def stored_hash() -> str:
                async with client.app_state["sessionmaker"]() as session:
                    return await session.scalar(select(User.password_hash))

            assert client.portal.call(stored_hash).startswith("$argon2id$v=19$m=2048,t=2,p=1$")
        # Stopped with the app: the next user of hashing gets a new one.
        assert auth.current_hashing() is not hashing
