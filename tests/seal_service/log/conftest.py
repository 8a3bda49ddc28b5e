"""An instance of its own per database backend for the issuance-log tests (they count entries and tamper)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from tests.conftest import POSTGRES_URL, make_instance, make_settings


@pytest.fixture(scope="package", params=["sqlite", "postgresql"])
def log_instance(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """An initialised instance with an empty log, on SQLite and on a fresh PostgreSQL database."""
    home = tmp_path_factory.mktemp("log")
    if request.param == "sqlite":
        yield make_instance(make_settings(home, database_url=f"sqlite:///{home / 'seal.db'}"))
        return
    request.getfixturevalue("postgres_database")  # skips (or fails when required) without PostgreSQL
    import psycopg

    name = f"seal_test_log_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    instance = make_instance(make_settings(home, database_url=f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"))
    yield instance
    instance.engine.dispose()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
