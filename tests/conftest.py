"""Shared fixtures: real instances on SQLite and PostgreSQL, a live HTTP server, sample PDFs.

PostgreSQL tests run whenever a server answers at ``SEAL_TEST_POSTGRES_URL`` (default the local one); CI sets
``SEAL_TEST_REQUIRE_POSTGRES=1`` so that an unreachable server fails the run instead of skipping those tests.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.memo import once_per_process
from tests.support.pdfs import sample_licence_pdf
from tests.support.server import LiveServer, free_port

# Skips of tools `make test` installs: loud at the end of a run, failures in CI (SEAL_TEST_REQUIRE_TOOLS=1).
pytest_plugins = ["tests.support.requirements"]

POSTGRES_URL = os.environ.get("SEAL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("SEAL_TEST_REQUIRE_POSTGRES") == "1"


def _postgres_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except Exception as exc:  # any failure means "not reachable here"
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped afterwards)."""
    problem = _postgres_available()
    if problem is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL required but unreachable at {POSTGRES_URL}: {problem}")
        from tests.support.requirements import require

        require("postgresql", False, f"PostgreSQL not reachable ({problem})")  # a loud skip
    import psycopg

    name = f"seal_test_{secrets.token_hex(4)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(home: Path, *, database_url: str | None = None, public_url: str | None = None, **extra: object):  # type: ignore[no-untyped-def]
    """Settings of a throwaway instance under ``home``.

    ``SEAL_TEST_KEY_BACKEND=pkcs11`` puts new seal keys in a SoftHSM2 token (tests/support/softhsm.py).
    """
    from seal_service.settings import Settings
    from tests.support.softhsm import backend_settings_from_env

    return Settings(
        home=home,
        database_url=database_url,
        public_url=public_url or "http://127.0.0.1:9",
        key_passphrase="test-passphrase-not-secret",
        **{**backend_settings_from_env(), **extra},
    )


def make_instance(settings):  # type: ignore[no-untyped-def]
    """An initialised instance."""
    from seal_service.instance import Instance
    from seal_service.services.bootstrap import initialise

    instance = Instance(settings)
    initialise(instance, at=datetime.now(UTC))
    if settings.key_backend.value == "pkcs11":
        # The HSM run of the suite must really seal with token keys, not silently fall back to files.
        from seal_service.services.registry import list_seals

        assert all(c.key_ref.startswith("pkcs11:") for s in list_seals(instance) for c in s.certificates)
        if settings.log_enabled and settings.resolved_log_key_backend.value == "pkcs11":
            # The log key follows the seal keys into the token (SEAL_LOG_KEY_BACKEND defaults to SEAL_KEY_BACKEND).
            from sqlalchemy import select

            from seal_service.storage.log_models import LogKey

            with instance.sessions() as session:
                refs = session.scalars(select(LogKey.key_ref).where(LogKey.retired_at.is_(None))).all()
            assert refs and all(r.startswith("pkcs11:") for r in refs), refs
    return instance


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database URL per backend; the PostgreSQL one is a fresh database."""

    def make() -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'seal.db'}"
        return str(request.getfixturevalue("postgres_database"))

    return once_per_process(request, ("database_url", request.param), make)


@pytest.fixture(scope="session")
def live_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, LiveServer]]:
    """An initialised SQLite instance whose public URL is a running server (so OCSP/CRL URLs resolve)."""
    port = free_port()
    home = tmp_path_factory.mktemp("live")
    settings = make_settings(home, public_url=f"http://127.0.0.1:{port}")
    instance = make_instance(settings)
    server = LiveServer(instance, port)
    server.start()
    try:
        yield instance, server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def licence_pdf() -> bytes:
    """A one-page A4 licence PDF without signatures."""
    return sample_licence_pdf()


@pytest.fixture(scope="session")
def db_instance(request: pytest.FixtureRequest, database_url: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An initialised instance per database backend (SQLite file, fresh PostgreSQL database)."""

    def make():  # type: ignore[no-untyped-def]
        return make_instance(make_settings(tmp_path_factory.mktemp("instance"), database_url=database_url))

    return once_per_process(request, ("db_instance", database_url), make)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def keys_instance(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """An instance of its own per database backend, for key and audit tests that rotate, revoke or tamper.

    Kept apart from ``db_instance`` so that those changes never reach other tests; the PostgreSQL one gets a
    database of its own, dropped afterwards. Tests create their own seals in it (``create_seal``) where they
    change one.
    """
    if request.param == "sqlite":
        return once_per_process(
            request,
            ("keys_instance", "sqlite"),
            lambda: make_instance(make_settings(tmp_path_factory.mktemp("keys"))),
            lambda instance: instance.engine.dispose(),
        )
    base_database = request.getfixturevalue("postgres_database")
    import psycopg

    base, _, name = str(base_database).rpartition("/")
    own = f"{name}_keys"

    def make():  # type: ignore[no-untyped-def]
        with psycopg.connect(base_database, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{own}"')
        return make_instance(make_settings(tmp_path_factory.mktemp("keys"), database_url=f"{base}/{own}"))

    def finalise(instance) -> None:  # type: ignore[no-untyped-def]
        instance.engine.dispose()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)')

    return once_per_process(request, ("keys_instance", "postgresql"), make, finalise)
