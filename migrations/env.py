"""Alembic environment: the store's metadata, the URL from the caller or Config."""
from alembic import context

from sync.config import Config
from sync.db import make_engine
from sync.models import Base
# Modules whose tables belong to the same metadata.
import scoring.forecast.call_models  # noqa: F401
import scoring.forecast.snapshot_models  # noqa: F401
import scoring.records.model_overrides  # noqa: F401
import scoring.forecast.quota_models  # noqa: F401
import sync.api_keys  # noqa: F401
import sync.audit  # noqa: F401
import sync.field_mapping  # noqa: F401
import sync.rollup_models  # noqa: F401


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
