"""Fixtures of the supervision tests: an instance of their own per database backend (events, subscriptions and
findings never reach other tests; the supervision modules share it and read only past their own cursors), API keys
of each role, and a quick way to write events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import POSTGRES_URL, make_instance, make_settings
from tests.support.memo import once_per_process


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def sup_instance(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> object:
    """An initialised instance (SQLite file or a fresh PostgreSQL database) with no dispatcher running."""
    extra = {"publication_interval_seconds": 0, "dispatcher": False}
    if request.param == "sqlite":
        return once_per_process(
            request,
            ("sup_instance", "sqlite"),
            lambda: make_instance(make_settings(tmp_path_factory.mktemp("supervision"), **extra)),
            lambda instance: instance.engine.dispose(),
        )
    import secrets

    import psycopg

    base_database = request.getfixturevalue("postgres_database")
    base, _, name = str(base_database).rpartition("/")
    own = f"{name}_sup_{secrets.token_hex(3)}"

    def make():  # type: ignore[no-untyped-def]
        with psycopg.connect(base_database, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{own}"')
        home = tmp_path_factory.mktemp("supervision")
        return make_instance(make_settings(home, database_url=f"{base}/{own}", **extra))

    def finalise(instance) -> None:  # type: ignore[no-untyped-def]
        instance.engine.dispose()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)')

    return once_per_process(request, ("sup_instance", "postgresql"), make, finalise)


def bearer(instance, role: str, authority: str | None = None) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Authorization header of a fresh key."""
    from seal_service.services.apikeys import Role, create_api_key

    issued = create_api_key(
        instance, name=f"test {role}", role=Role(role), authority_code=authority, at=datetime.now(UTC)
    )
    return {"Authorization": f"Bearer {issued.secret}"}


def write_events(instance, subjects: list[str], *, departments=("jc-market",)) -> list[str]:  # type: ignore[no-untyped-def]
    """Emit one licence-like event per subject through the real outbox (one transaction each); their ids."""
    from seal_service.events import emit

    ids = []
    for subject in subjects:
        with instance.writer.begin() as session:
            emitted = emit(
                session,
                type="cn.gov.approval.test.event",
                subject=subject,
                data={"licence_id": subject},
                departments=departments,
                at=datetime.now(UTC),
                source="http://test/v1/supervision",
            )
        ids.append(emitted.id)
    return ids
