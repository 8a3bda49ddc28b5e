"""``/healthz`` says the process is alive and checks nothing; ``/readyz`` checks the database, the keys, the sealing
processes and publication freshness, and answers 503 (problem+json, naming the check) when one fails."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import make_instance, make_settings
from tests.support.server import LiveServer, free_port

CHECKS = {"database", "keys", "sealing", "publication"}


@pytest.fixture(scope="module")
def instance(tmp_path_factory):  # type: ignore[no-untyped-def]
    return make_instance(make_settings(tmp_path_factory.mktemp("health"), public_url="http://testserver"))


def _not_ready(response: httpx.Response, *failing: str) -> dict:  # type: ignore[type-arg]
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["status"] == 503 and body["title"] == "Not ready" and all(name in body["detail"] for name in failing)
    assert [name for name, check in body["checks"].items() if not check["ok"]] == list(failing)
    return body  # type: ignore[no-any-return]


def test_a_healthy_node_is_live_and_ready(instance) -> None:  # type: ignore[no-untyped-def]
    from seal_service.api.app import create_app

    with TestClient(create_app(instance=instance)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
        assert set(ready.json()["checks"]) == CHECKS
        assert all(check["ok"] for check in ready.json()["checks"].values())


def test_an_expired_published_crl_makes_the_node_not_ready(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from seal_service.api.app import create_app
    from seal_service.storage.lifecycle_models import PublishedCrl

    instance = make_instance(make_settings(tmp_path, public_url="http://testserver", publication_interval_seconds=0))
    expired = datetime.now(UTC) - timedelta(hours=1)
    with instance.writer.begin() as session:
        session.add(
            PublishedCrl(
                issuer_role="seal-ca",
                number=10**12,
                this_update=expired - timedelta(days=1),
                next_update=expired,
                entries_sha256="0" * 64,
                der=b"\x30\x00",
            )
        )
    with TestClient(create_app(instance=instance)) as client:
        body = _not_ready(client.get("/readyz"), "publication")
        assert "seal-ca CRL expired" in body["checks"]["publication"]["detail"]
        assert client.get("/healthz").status_code == 200


def test_unreachable_sealing_processes_make_the_node_not_ready(instance, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from seal_service.api.app import create_app
    from seal_service.instance import Instance

    settings = instance.settings.model_copy(update={"sealing_socket": tmp_path / "gone.sock"})
    with TestClient(create_app(instance=Instance(settings))) as client:
        _not_ready(client.get("/readyz"), "sealing")


@pytest.fixture
def own_postgres(postgres_database: str) -> Iterator[tuple[str, str]]:
    """(URL of a database of its own, name): dropped by the test or afterwards."""
    import psycopg

    base, _, name = postgres_database.rpartition("/")
    own = f"{name}_readyz"
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{own}"')
    yield f"{base}/{own}", own
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)')


@pytest.mark.slow
def test_readyz_is_503_when_the_database_is_gone_healthz_200(own_postgres, postgres_database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    url, name = own_postgres
    port = free_port()
    instance = make_instance(make_settings(tmp_path, database_url=url, public_url=f"http://127.0.0.1:{port}"))
    server = LiveServer(instance, port)
    server.start()
    try:
        assert httpx.get(f"{server.url}/readyz", timeout=10).status_code == 200
        with psycopg.connect(postgres_database, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        # Publication freshness is read from the database too, so it cannot be confirmed either.
        body = _not_ready(httpx.get(f"{server.url}/readyz", timeout=30), "database", "publication")
        assert "does not exist" in body["checks"]["database"]["detail"]
        assert httpx.get(f"{server.url}/healthz", timeout=10).json() == {"status": "ok"}
    finally:
        server.stop()
        instance.engine.dispose()
