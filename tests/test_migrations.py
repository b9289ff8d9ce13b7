"""The migrations and the models describe the same schema."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from models import Base
from tests.databases import TEST_DATABASE_URL


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
