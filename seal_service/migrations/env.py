"""Alembic environment: runs migrations against the URL set by ``seal_service.storage.database.upgrade``."""

from __future__ import annotations

from alembic import context

from seal_service.storage import (
    access_models,  # noqa: F401 - registers tables on Base.metadata
    jobs_models,  # noqa: F401 - registers tables on Base.metadata
    keys_models,  # noqa: F401 - registers tables on Base.metadata
    lifecycle_models,  # noqa: F401 - registers tables on Base.metadata
)
from seal_service.storage.database import make_engine
from seal_service.storage.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Run migrations on a live connection."""
    url = config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
