"""Alembic environment: the store's metadata, the URL from the caller or Config."""
from alembic import context

from sync.runtime.config import Config
from sync.store import Base  # importing the package registers every table
from sync.store.db import make_engine

target_metadata = Base.metadata


def run_migrations() -> None:
    url = context.config.attributes.get("database_url") or Config().DATABASE_URL
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
