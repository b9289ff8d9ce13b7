"""Alembic's entry point, shared by `uv run alembic ...` and Inkwell's own start-up."""

from alembic import context
from sqlalchemy import text

from config import get_settings
from database import create_sync_engine, include_name, sync_url
from models import Base

# Any constant will do: concurrent upgrades on PostgreSQL (several workers or
# machines starting at once) wait for each other on this advisory lock.
MIGRATION_LOCK_ID = 7_140_513

target_metadata = Base.metadata


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        include_name=include_name,
    )
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        # SQLite changes a table by rebuilding it, and dropping the old copy of a table
        # with foreign keys on would cascade to the rows that refer to it. Off while
        # migrating (it can only change outside a transaction), checked, then on again.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        if connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
            raise RuntimeError("foreign keys could not be turned off: a transaction is open")
    try:
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID}
                )
            context.run_migrations()
            if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                raise RuntimeError("a migration left rows whose foreign keys point nowhere")
    finally:
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def run_migrations_online() -> None:
    # Start-up passes its own connection; the command line makes one from the settings.
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    engine = create_sync_engine(get_settings().database_url)
    with engine.connect() as connection:
        run_migrations(connection)
    engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=sync_url(get_settings().database_url),
        target_metadata=target_metadata,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
