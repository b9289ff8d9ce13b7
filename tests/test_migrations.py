"""The migrations and the models describe the same schema."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from database import alembic_config, sync_url
from models import Base
from tests.databases import TEST_DATABASE_URL, fresh_database
from tests.helpers import make_account


def test_migrations_match_the_models(client):
    """After `upgrade head` (run at start-up), autogenerate finds nothing to do."""

    def differences(connection) -> list:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)

    async def compare() -> list:
        async with client.app_state["sessionmaker"]() as session:
            connection = await session.connection()
            return await connection.run_sync(differences)

    assert client.portal.call(compare) == []


def test_the_suite_runs_on_the_database_it_was_asked_for(client):
    async def backend() -> str:
        async with client.app_state["sessionmaker"]() as session:
            return (await session.connection()).dialect.name

    assert client.portal.call(backend) == ("postgresql" if TEST_DATABASE_URL else "sqlite")


def test_upgrading_keeps_every_row_and_retires_old_ids(tmp_path, make_app):
    """0002 rebuilds users and posts on SQLite (AUTOINCREMENT can only be declared by
    a new table): with foreign keys on, dropping the old users table would have
    cascaded to every post. Rows survive, and from then on deleted ids stay retired."""
    with fresh_database(tmp_path) as database_url:
        engine = create_engine(sync_url(database_url))
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            for n in (1, 2, 3):
                connection.execute(
                    text(
                        "INSERT INTO users (username, email, username_key, email_key, "
                        "password_hash, token_version) VALUES (:n, :e, :n, :e, 'x', 0)"
                    ),
                    {"n": f"user{n}", "e": f"user{n}@example.com"},
                )
            ids = connection.execute(text("SELECT id FROM users ORDER BY id")).scalars().all()
            for user_id in ids:
                connection.execute(
                    text(
                        "INSERT INTO posts (title, content, date_posted, user_id) "
                        "VALUES ('t', 'c', CURRENT_TIMESTAMP, :id)"
                    ),
                    {"id": user_id},
                )
            for statement in (
                "DELETE FROM posts WHERE user_id = :id",
                "DELETE FROM users WHERE id = :id",
            ):
                connection.execute(text(statement), {"id": ids[-1]})
        engine.dispose()

        upgrading = make_app(database_url=database_url, auto_migrate=True)
        with TestClient(upgrading) as client:  # start-up applies 0002
            posts = client.get("/api/posts").json()["items"]
            assert sorted(post["user_id"] for post in posts) == ids[:2]
            # Ids freed before the upgrade are not known to anyone (SQLite kept no record),
            # but every id used from now on stays retired.
            newcomer = make_account(client, "Newcomer")
            assert newcomer.id > ids[1]
            deleted = client.delete(f"/api/users/{newcomer.id}", headers=newcomer.headers)
            assert deleted.status_code == 204
            assert make_account(client, "Latecomer").id > newcomer.id
