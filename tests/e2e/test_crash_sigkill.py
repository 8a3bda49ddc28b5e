"""SIGKILL of the whole server while fifty sealing requests with Idempotency-Keys are in flight.

``seal-service serve`` (two API workers, two sealing processes) is killed at once, process group and all, once a
few licences have been answered; then restarted on the same instance. Every request answered 201 has its licence,
PDF and audit entry; no licence is half recorded; the audit chain verifies; and each of the fifty requests retried
with its key gets its licence (the one it was answered, or one sealed now): exactly fifty licences, no 409 that
lasts, no double licence.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from seal_service.services.apikeys import Role, create_api_key
from seal_service.services.audit import verify_log
from seal_service.storage.access_models import IdempotencyRecord
from seal_service.storage.models import AuditEntry, Licence, LicenceDocument
from tests.conftest import POSTGRES_URL, make_instance, make_settings
from tests.support.instances import own_database
from tests.support.processes import ServedInstance
from tests.support.server import free_port

pytestmark = pytest.mark.slow

REQUESTS = 50
KILL_AFTER_ANSWERS = 5


@pytest.fixture(params=["sqlite", "postgresql"])
def crash_instance(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """An instance of its own per backend, served by real ``serve`` processes in the test."""
    base = request.getfixturevalue("postgres_database") if request.param == "postgresql" else None
    home = tmp_path_factory.mktemp(f"crash-{request.param}")
    with own_database(request.param, home, base or POSTGRES_URL) as url:
        port = free_port()
        instance = make_instance(make_settings(home, database_url=url, public_url=f"http://127.0.0.1:{port}"))
        instance.test_port = port  # type: ignore[attr-defined]
        yield instance
        instance.engine.dispose()


def _serve(instance) -> ServedInstance:  # type: ignore[no-untyped-def]
    return ServedInstance(instance.settings, instance.test_port, workers=2, extra_env={"SEAL_SIGNING_PROCESSES": "2"})


def _post(client: httpx.Client, token: str, pdf: bytes, i: int) -> httpx.Response:
    return client.post(
        "/v1/licences",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"crash-case-{i:03d}"},
        data={"item_code": "JC-001", "holder_name": f"示例企业{i:03d}", "level": "B-B"},
        files={"pdf": ("l.pdf", pdf, "application/pdf")},
    )


def _fire(url: str, token: str, pdf: bytes, answers: dict[int, httpx.Response | Exception], enough: threading.Event):
    """Send the fifty requests at once, each on its own connection; set ``enough`` after a few 201s."""

    def one(i: int) -> None:
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                answers[i] = _post(client, token, pdf, i)
        except httpx.HTTPError as exc:
            answers[i] = exc
        if sum(1 for a in list(answers.values()) if isinstance(a, httpx.Response) and a.status_code == 201) >= (
            KILL_AFTER_ANSWERS
        ):
            enough.set()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(REQUESTS)]
    for thread in threads:
        thread.start()
    return threads


def _retry_until_sealed(client: httpx.Client, token: str, pdf: bytes, i: int) -> httpx.Response:
    """Retry request ``i`` with its key; a 409 is followed for at most 30 s (it must not last)."""
    deadline = time.monotonic() + 30
    while True:
        response = _post(client, token, pdf, i)
        if response.status_code != 409 or time.monotonic() > deadline:
            return response
        time.sleep(float(response.headers.get("retry-after", "1")))


def _retry_all(url: str, token: str, pdf: bytes) -> dict[int, httpx.Response]:
    """Retry all fifty requests, eight at a time (as clients would, each on its own)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i: int) -> httpx.Response:
        with httpx.Client(base_url=url, timeout=60) as client:
            return _retry_until_sealed(client, token, pdf, i)

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(range(REQUESTS), pool.map(one, range(REQUESTS)), strict=True))


def test_sigkill_of_the_whole_server_loses_nothing_and_seals_nothing_twice(crash_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    instance = crash_instance
    token = create_api_key(
        instance, name="审批系统", role=Role.APPROVAL_SYSTEM, authority_code="jc-bureau", at=datetime.now(UTC)
    ).secret
    server = _serve(instance)
    answers: dict[int, httpx.Response | Exception] = {}
    enough = threading.Event()
    threads = _fire(server.url, token, licence_pdf, answers, enough)
    assert enough.wait(timeout=120), {i: getattr(a, "status_code", a) for i, a in answers.items()}
    server.kill()
    for thread in threads:
        thread.join(timeout=60)
    answered = {i: a.json() for i, a in answers.items() if isinstance(a, httpx.Response) and a.status_code == 201}
    in_flight = REQUESTS - len(answered)
    assert len(answered) >= KILL_AFTER_ANSWERS and in_flight > 0, "the kill came after every request was answered"

    server = _serve(instance)
    try:
        # (1) Whatever the server answered 201 is there whole: record, PDF with the stated hash, audit entry.
        with instance.sessions() as session:
            for body in answered.values():
                licence = session.get(Licence, body["id"])
                assert licence is not None and licence.document_sha256 == body["document_sha256"]
                document = session.get(LicenceDocument, body["id"])
                assert document is not None
                assert hashlib.sha256(document.pdf).hexdigest() == body["document_sha256"]
            # (2) No licence is half recorded: each has its PDF, its audit entry and its completed claim.
            ids = session.scalars(select(Licence.id)).all()
            documents = set(session.scalars(select(LicenceDocument.licence_id)).all())
            audited = set(session.scalars(select(AuditEntry.licence_id).where(AuditEntry.action == "seal.use")).all())
            claimed = set(
                session.scalars(select(IdempotencyRecord.licence_id).where(IdempotencyRecord.licence_id.is_not(None)))
            )
            assert set(ids) <= documents and set(ids) <= audited and set(ids) == claimed
        verify_log(instance)

        # (3) Every request retried with its key: the licence it was answered, or one sealed now, once.
        with httpx.Client(base_url=server.url, timeout=60) as client:
            retried = _retry_all(server.url, token, licence_pdf)
            assert {i: r.status_code for i, r in retried.items() if r.status_code not in (200, 201)} == {}
            for i, body in answered.items():
                assert retried[i].status_code == 200 and retried[i].json()["id"] == body["id"]
            again = {i: _post(client, token, licence_pdf, i) for i in range(0, REQUESTS, 7)}
            assert all(again[i].status_code == 200 and again[i].json()["id"] == retried[i].json()["id"] for i in again)
            first = retried[0].json()["id"]
            pdf = client.get(f"/v1/licences/{first}/pdf", headers={"Authorization": f"Bearer {token}"})
            assert hashlib.sha256(pdf.content).hexdigest() == retried[0].json()["document_sha256"]
        ids = {r.json()["id"] for r in retried.values()}
        assert len(ids) == REQUESTS
        with instance.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Licence)) == REQUESTS
            serials = session.scalars(select(Licence.serial)).all()
            assert len(set(serials)) == REQUESTS
        verify_log(instance)
    finally:
        server.stop()
