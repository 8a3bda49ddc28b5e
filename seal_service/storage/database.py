"""Engine and session factory; migrations applied with Alembic.

SQLite runs in WAL mode with a busy timeout so a single node can take concurrent requests; PostgreSQL is used
through ``SEAL_DATABASE_URL`` (``postgresql+psycopg://...``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://") :]
    return url


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout on every connection."""
    url = normalise_url(url)
    kwargs: dict[str, Any] = {"future": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
        # An unreachable server (cut network, restart) must fail a request within seconds, not hang it.
        kwargs["connect_args"] = {"connect_timeout": 5}
    engine = create_engine(url, **kwargs)
    if url.startswith("sqlite"):

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Let the driver not start implicit transactions; BEGIN IMMEDIATE is issued below so that writers
            # queue on the database lock instead of failing with "database is locked" on upgrade.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Write transactions (the writer engine) take the write lock up front so that concurrent writers
            # queue on the busy timeout instead of failing when a read lock would need upgrading; reads stay
            # deferred so they never wait for writers (WAL).
            if conn.get_execution_options().get("seal_writer"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory for reads that keeps loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def writer_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory for write transactions (``with writer.begin() as session``)."""
    return sessionmaker(bind=engine.execution_options(seal_writer=True), expire_on_commit=False)


def upgrade(url: str, *, passphrase: bytes | None = None) -> None:
    """Bring the database at ``url`` to the newest migration.

    ``passphrase``: the instance's key passphrase, for migrations that encrypt existing values with it (webhook
    secrets, ``0006_webhook_secrets``); one that finds such values without it refuses to run.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.attributes["key_passphrase"] = passphrase
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    # "heads": feature areas add their migrations as branches off a common base; all of them apply.
    command.upgrade(config, "heads")
