"""The migrations and the models describe the same schema."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from models import Base


def test_migrations_match_the_models(client):
    """After `upgrade head` (run at start-up), autogenerate finds nothing to do."""

    def differences(connection) -> list:
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)

    async def compare() -> list:
        async with client.app_state["sessionmaker"]() as session:
            connection = await session.connection()
            return await connection.run_sync(differences)

    assert client.portal.call(compare) == []
