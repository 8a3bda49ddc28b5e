"""Fifty approval-system requests at once: every licence distinct, recorded, and verifiable.

SQLite with one server process (WAL), PostgreSQL with two uvicorn workers. During the burst /healthz keeps
answering (checked by order: its answers arrive while sealing requests are outstanding, not by a latency bound;
speed is measured by bench/), because signing runs off the event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from io import BytesIO

import httpx
import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from sqlalchemy import func, select

from seal_service.instance import PkiRole
from seal_service.services.apikeys import Role, create_api_key
from seal_service.storage.models import AuditEntry, Licence
from tests.conftest import make_instance, make_settings
from tests.support.processes import ServedInstance
from tests.support.server import LiveServer, free_port

REQUESTS = 50


async def _burst(url: str, token: str, pdf: bytes) -> tuple[list[httpx.Response], list[int]]:
    """Fire the sealing requests at once and, while any is outstanding, probe /healthz again and again; the
    number of sealing requests still outstanding when each probe was answered."""
    headers = {"Authorization": f"Bearer {token}"}
    outstanding = REQUESTS
    answered_during: list[int] = []
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:

        async def seal(i: int) -> httpx.Response:
            nonlocal outstanding
            try:
                return await client.post(
                    "/v1/licences",
                    headers=headers,
                    data={"item_code": "JC-001", "holder_name": f"示例企业{i:03d}", "level": "B-T"},
                    files={"pdf": ("l.pdf", pdf, "application/pdf")},
                )
            finally:
                outstanding -= 1

        async def probe() -> None:
            while outstanding > 0:
                response = await client.get("/healthz")
                assert response.status_code == 200
                answered_during.append(outstanding)
                await asyncio.sleep(0)  # let the sealing requests' answers be read between probes

        results = await asyncio.gather(*(seal(i) for i in range(REQUESTS)), probe())
    return [r for r in results if isinstance(r, httpx.Response)], answered_during


def _check(instance, responses: list[httpx.Response], health: list[int]) -> None:  # type: ignore[no-untyped-def]
    assert [r.status_code for r in responses] == [201] * REQUESTS, [r.text for r in responses if r.status_code != 201]
    bodies = [r.json() for r in responses]
    assert len({b["id"] for b in bodies}) == REQUESTS
    assert len({b["identifier"] for b in bodies}) == REQUESTS
    serials = sorted(int(b["identifier"].split(".")[7]) for b in bodies)
    assert len(set(serials)) == REQUESTS
    # Liveness, not latency: /healthz was answered again and again while sealing requests were still outstanding,
    # i.e. the event loop kept serving during the burst (a loop stalled by sealing answers only after it).
    assert sum(1 for waiting in health if waiting > 0) >= 3, health
    assert any(waiting >= REQUESTS // 2 for waiting in health), health
    root = asn1_x509.Certificate.load(instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.DER))
    context = ValidationContext(trust_roots=[root], allow_fetching=False, revocation_mode="soft-fail")
    ids = [b["id"] for b in bodies]
    with instance.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Licence).where(Licence.id.in_(ids))) == REQUESTS
        audited = session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.licence_id.in_(ids), AuditEntry.action == "seal.use")
        )
        assert audited == REQUESTS
    from seal_service.services.sealing import get_licence_pdf

    for body in bodies:
        pdf = get_licence_pdf(instance, body["id"])
        assert hashlib.sha256(pdf).hexdigest() == body["document_sha256"]
        status = validate_pdf_signature(PdfFileReader(BytesIO(pdf)).embedded_signatures[0], context)
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()


def _token(instance) -> str:  # type: ignore[no-untyped-def]
    return create_api_key(
        instance, name="burst", role=Role.APPROVAL_SYSTEM, authority_code="jc-bureau", at=datetime.now(UTC)
    ).secret


def test_fifty_concurrent_requests_on_sqlite(tmp_path, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    instance = make_instance(make_settings(tmp_path, public_url=f"http://127.0.0.1:{port}"))
    server = LiveServer(instance, port)
    server.start()
    try:
        responses, health = asyncio.run(_burst(server.url, _token(instance), licence_pdf))
    finally:
        server.stop()
    _check(instance, responses, health)


def test_fifty_concurrent_requests_on_postgresql_with_two_workers(postgres_database, tmp_path, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    import psycopg

    # A database of its own: the session's PostgreSQL database already holds another instance's PKI.
    base, _, _name = postgres_database.rpartition("/")
    name = f"{_name}_burst"
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        port = free_port()
        settings = make_settings(tmp_path, database_url=f"{base}/{name}", public_url=f"http://127.0.0.1:{port}")
        instance = make_instance(settings)
        served = ServedInstance(settings, port, workers=2)
        try:
            responses, health = asyncio.run(_burst(served.url, _token(instance), licence_pdf))
        finally:
            served.stop()
        _check(instance, responses, health)
        instance.engine.dispose()
    finally:
        with psycopg.connect(postgres_database, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(autouse=True)
def _quiet_pyhanko_logs(caplog):  # type: ignore[no-untyped-def]
    caplog.set_level("ERROR", logger="pyhanko")
