"""The service's own verification (``POST /v1/verify``, the ``/check`` upload page) runs the issuance-log check
against its own log: a licence in the log passes ``licence-log``; one removed from the log (its leaf deleted, as a
bureau sealing in secret would leave it) is "sealed outside the record", invalid and loud. SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, update

from seal_service.api.app import create_app
from seal_service.services.sealing import LicenceRequest, seal_licence
from seal_service.signing.sealer import PadesLevel
from seal_service.storage.log_models import LogEntryRecord, LogPending
from seal_service.storage.models import Licence
from tests.conftest import POSTGRES_URL, make_instance, make_settings
from verifier.transparency import OUTSIDE_RECORD_EN, OUTSIDE_RECORD_ZH


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[object, TestClient]]:
    home = tmp_path_factory.mktemp("verifylog")
    extra = {"log_sequence_delay_seconds": 0.2, "dispatcher": False}
    name = None
    if request.param == "sqlite":
        instance = make_instance(make_settings(home, **extra))
    else:
        request.getfixturevalue("postgres_database")
        import psycopg

        name = f"seal_test_vlog_{secrets.token_hex(4)}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"{POSTGRES_URL.rsplit('/', 1)[0]}/{name}"
        instance = make_instance(make_settings(home, database_url=url, **extra))
    try:
        with TestClient(create_app(instance=instance)) as test_client:
            yield instance, test_client
    finally:
        instance.engine.dispose()  # type: ignore[attr-defined]
        if name is not None:
            import psycopg

            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _seal(instance, pdf: bytes):  # type: ignore[no-untyped-def]
    request = LicenceRequest(
        item_code="JC-001",
        holder_name="晋城市示例餐饮有限公司",
        seal_id="jc-bureau-approval",
        level=PadesLevel.B_B,
        holder_code="11430000006122244L",
        holder_code_type="001",
    )
    return seal_licence(instance, pdf, request, actor="test", at=datetime.now(UTC))


def _verify(client: TestClient, pdf: bytes) -> dict:  # type: ignore[type-arg]
    response = client.post("/v1/verify", files={"pdf": ("licence.pdf", pdf, "application/pdf")})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _log_check(report: dict) -> dict:  # type: ignore[type-arg]
    [check] = [c for c in report["checks"] if c["name"] == "licence-log"]
    return check  # type: ignore[no-any-return]


def test_a_licence_in_the_log_passes_the_log_check_even_just_sealed(client, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    instance, test_client = client
    sealed = _seal(instance, licence_pdf)
    report = _verify(test_client, sealed.pdf)  # at once: the service sequences a pending entry itself
    assert report["verdict"] == "valid", report["messages"]
    assert _log_check(report)["outcome"] == "passed"
    assert report["licence"]["log"] == "included" and int(report["licence"]["log_index"]) >= 0


def test_a_licence_removed_from_the_log_is_sealed_outside_the_record(client, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    instance, test_client = client
    sealed = _seal(instance, licence_pdf)
    with instance.writer.begin() as session:
        session.execute(delete(LogPending).where(LogPending.licence_id == sealed.licence_id))
        session.execute(delete(LogEntryRecord).where(LogEntryRecord.licence_id == sealed.licence_id))
        session.execute(update(Licence).where(Licence.id == sealed.licence_id).values(log_index=None))
    report = _verify(test_client, sealed.pdf)
    assert (report["verdict"], report["indication"]) == ("invalid", "TOTAL_FAILED")
    assert _log_check(report)["outcome"] == "failed"
    assert report["licence"]["log"] == "outside-record"
    first = str(report["messages"][0])
    assert OUTSIDE_RECORD_ZH in first and OUTSIDE_RECORD_EN in first and sealed.licence_id in first
    # The upload form of the public site says it just as loudly.
    page = test_client.post("/check", files={"pdf": ("licence.pdf", sealed.pdf, "application/pdf")})
    assert page.status_code == 200
    assert 'data-verdict="invalid"' in page.text and OUTSIDE_RECORD_ZH in page.text
