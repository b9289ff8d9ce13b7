"""The migrations and the models describe the same schema."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from database import alembic_config, include_name, sync_url
from models import Base
from tests.databases import TEST_DATABASE_URL, fresh_database
from tests.helpers import make_account


def test_migrations_match_the_models(client):
    """After `upgrade head` (run at start-up), autogenerate finds nothing to do."""

    def differences(connection) -> list:
        # Search's FTS5 table and PostgreSQL column are made outside the ORM (0012).
        context = MigrationContext.configure(connection, opts={"include_name": include_name})
        return compare_metadata(context, Base.metadata)

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


def test_existing_posts_become_published_with_slugs_and_stay_where_they_were(tmp_path, make_app):
    """0010: every post written before drafts existed was on the site: it stays there,
    at its old address (which now redirects), with a slug from its title."""
    with fresh_database(tmp_path) as database_url:
        engine = create_engine(sync_url(database_url))
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0009")
            connection.execute(
                text(
                    "INSERT INTO users (username, email, username_key, email_key, password_hash, "
                    "token_version, account_key, email_verified) "
                    "VALUES ('old', 'old@example.com', 'old', 'old@example.com', 'x', 0, 'k', "
                    "false)"
                )
            )
            for title, words in (("Hello, Old World", 10), ("Привет", 700), ("Code", 0)):
                connection.execute(
                    text(
                        "INSERT INTO posts (title, content, content_html, date_posted, user_id) "
                        "VALUES (:title, :content, :html, CURRENT_TIMESTAMP, "
                        "(SELECT id FROM users))"
                    ),
                    {
                        "title": title,
                        "content": "w " * words or "```python\nimport os\n```",
                        "html": "<p>" + "w " * words,
                    },
                )
        engine.dispose()

        with TestClient(make_app(database_url=database_url, auto_migrate=True)) as client:
            posts = client.get("/api/posts").json()["items"]
            assert {post["title"]: post["status"] for post in posts} == {
                "Hello, Old World": "published",
                "Привет": "published",
                "Code": "published",
            }
            by_title = {post["title"]: post for post in posts}
            assert by_title["Hello, Old World"]["slug"] == "hello-old-world"
            assert by_title["Привет"]["slug"] == "привет"
            assert by_title["Привет"]["reading_minutes"] == 4  # 700 words
            # Rendered again by today's renderer: the old code block is highlighted.
            assert 'class="highlight"' in client.get(by_title["Code"]["url"]).text
            for post in posts:
                assert post["updated_at"] is None
                old_link = client.get(f"/posts/{post['id']}", follow_redirects=False)
                assert (old_link.status_code, old_link.headers["location"]) == (301, post["url"])
                assert client.get(post["url"]).status_code == 200
