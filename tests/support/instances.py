"""Throwaway instances of their own (not the session's shared ``db_instance``), on SQLite or PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def own_database(backend: str, home: Path, postgres_base_url: str | None) -> Iterator[str]:
    """A fresh database URL: a SQLite file under ``home``, or a new PostgreSQL database (dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{home / 'seal.db'}"
        return
    import psycopg

    assert postgres_base_url is not None
    base, _, _ = postgres_base_url.rpartition("/")
    name = f"seal_own_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_env(settings: Any) -> dict[str, str]:
    """The ``SEAL_*`` environment of a process (``serve`` or the CLI) working on the instance of ``settings``."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("SEAL_")}
    env.update(
        {
            "SEAL_HOME": str(settings.resolved_home),
            "SEAL_DATABASE_URL": settings.resolved_database_url,
            "SEAL_PUBLIC_URL": settings.public_url,
            "SEAL_KEY_PASSPHRASE": settings.key_passphrase.get_secret_value(),
        }
    )
    return env
