"""Two API nodes over one PostgreSQL, as behind a load balancer: whatever one node did, the other knows at once.

Two real ``seal-service serve`` processes on different ports, each with an instance directory of its own (only the
key store is shared, as a network HSM would be): nothing a request needs may live under one node's ``SEAL_HOME``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
import signal
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from seal_service.instance import PkiRole
from seal_service.services.apikeys import Role, create_api_key
from seal_service.services.registry import list_seals
from tests.conftest import make_instance, make_settings
from tests.seal_service.nodes.test_metrics import value
from tests.support.processes import ServedInstance
from tests.support.server import free_port

pytestmark = pytest.mark.slow

SEAL_ID = "jc-bureau-approval"


METRICS_TOKEN = "metrics-token-of-the-two-node-test"
PASSPHRASE = "test-passphrase-not-secret"  # tests.conftest.make_settings


@pytest.fixture(scope="module")
def servers(
    postgres_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[object, ServedInstance, ServedInstance]]:
    """(instance, node A, node B): one PostgreSQL database of its own, two ``serve`` processes logging at info,
    A as in production (JSON logs), B as in development (readable logs), metrics behind a bearer token."""
    import psycopg

    base, _, name = postgres_database.rpartition("/")
    own = f"{name}_nodes"
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{own}"')
    port_a, port_b = free_port(), free_port()
    # One public URL for the whole service (the load balancer's); here node A stands in for it.
    public = f"http://127.0.0.1:{port_a}"
    settings_a = make_settings(tmp_path_factory.mktemp("node-a"), database_url=f"{base}/{own}", public_url=public)
    instance = make_instance(settings_a)
    settings_b = make_settings(tmp_path_factory.mktemp("node-b"), database_url=f"{base}/{own}", public_url=public)
    shared = {
        "SEAL_KEYS_DIR": str(settings_a.resolved_keys_dir),
        "SEAL_SIGNING_PROCESSES": "1",
        "SEAL_METRICS": "bearer",
        "SEAL_METRICS_TOKEN": METRICS_TOKEN,
    }
    a = ServedInstance(settings_a, port_a, workers=1, extra_env=shared | {"SEAL_ENV": "production"}, log_level="info")
    try:
        b = ServedInstance(settings_b, port_b, workers=1, extra_env=shared, log_level="info")
    except Exception:
        a.stop()
        raise
    try:
        yield instance, a, b
    finally:
        b.stop()
        a.stop()
        instance.engine.dispose()  # type: ignore[attr-defined]
        with psycopg.connect(postgres_database, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{own}" WITH (FORCE)')


@pytest.fixture
def nodes(servers) -> tuple[object, str, str]:  # type: ignore[no-untyped-def]
    """(instance, node A's URL, node B's URL)."""
    instance, a, b = servers
    return instance, a.url, b.url


def _key(instance, role: Role, name: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    authority = "jc-bureau" if role is Role.APPROVAL_SYSTEM else None
    issued = create_api_key(instance, name=name, role=role, authority_code=authority, at=datetime.now(UTC))
    return {"Authorization": f"Bearer {issued.secret}"}


def _seal(url: str, headers: dict[str, str], pdf: bytes, holder: str) -> dict[str, object]:
    """A B-LTA licence (the default level: verifiable offline for its whole life)."""
    response = httpx.post(
        f"{url}/v1/licences",
        headers=headers,
        data={"item_code": "JC-001", "holder_name": holder},
        files={"pdf": ("l.pdf", pdf, "application/pdf")},
        timeout=120,
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def _ocsp_status(url: str, certificate: x509.Certificate, issuer: x509.Certificate) -> ocsp.OCSPCertStatus:
    request = ocsp.OCSPRequestBuilder().add_certificate(certificate, issuer, hashes.SHA1()).build()  # noqa: S303
    response = httpx.post(
        f"{url}/ocsp",
        content=request.public_bytes(serialization.Encoding.DER),
        headers={"Content-Type": "application/ocsp-request"},
        timeout=30,
    )
    assert response.status_code == 200
    answer = ocsp.load_der_ocsp_response(response.content)
    assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    return answer.certificate_status


def _crl(url: str) -> x509.CertificateRevocationList:
    response = httpx.get(f"{url}/crl/seal-ca.crl", timeout=30)
    assert response.status_code == 200
    return x509.load_der_x509_crl(response.content)


def test_a_licence_sealed_on_one_node_is_read_verified_and_revoked_on_the_other(nodes, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    instance, a, b = nodes
    system = _key(instance, Role.APPROVAL_SYSTEM, "approval system")
    sealed = _seal(a, system, licence_pdf, "晋城市示例餐饮有限公司")
    licence_id = sealed["id"]
    # The QR page on B shows it at once (no cache of B can hold a page of a licence B never saw).
    page = httpx.get(f"{b}/v/{licence_id}", timeout=30)
    assert page.status_code == 200 and str(sealed["number"]) in page.text
    record = httpx.get(f"{b}/v1/licences/{licence_id}", headers=system, timeout=30)
    assert record.status_code == 200 and record.json()["identifier"] == sealed["identifier"]
    pdf = httpx.get(f"{b}/v1/licences/{licence_id}/pdf", headers=system, timeout=30).content
    assert hashlib.sha256(pdf).hexdigest() == sealed["document_sha256"]
    report = httpx.post(f"{b}/v1/verify", files={"pdf": ("l.pdf", pdf, "application/pdf")}, timeout=60).json()
    assert report["verdict"] == "valid" and report["licence"]["status"] == "valid", report["messages"]

    # A batch taken by A (a job: more than 20 files) is polled on B until done.
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        for n in range(21):
            zipped.writestr(f"{n:02}.pdf", pdf)
    accepted = httpx.post(f"{a}/v1/verify/batch", files={"files": ("b.zip", archive.getvalue())}, timeout=60)
    assert accepted.status_code == 202, accepted.text
    deadline = time.monotonic() + 120
    while True:
        job = httpx.get(b + accepted.headers["location"], timeout=30)
        assert job.status_code == 200, job.text  # never a 404 because another node took the job
        if job.json()["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert job.json()["status"] == "done" and job.json()["summary"]["valid"] == 21

    # Revoked on B: A's record, public status and verification say so at once.
    revoked = httpx.post(
        f"{b}/v1/licences/{licence_id}/revoke", headers=system, json={"reason": "撤销测试 / test"}, timeout=30
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked", revoked.text
    assert httpx.get(f"{a}/v1/licences/{licence_id}", headers=system, timeout=30).json()["status"] == "revoked"
    assert httpx.get(f"{a}/v1/public/licences/{licence_id}", timeout=30).json()["status"] == "revoked"
    again = httpx.post(f"{a}/v1/verify", files={"pdf": ("l.pdf", pdf, "application/pdf")}, timeout=60).json()
    assert again["verdict"] != "valid" and again["licence"]["status"] == "revoked", again


def test_sealing_on_both_nodes_at_once_gives_unique_serials_and_identifiers(nodes, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    instance, a, b = nodes
    system = _key(instance, Role.APPROVAL_SYSTEM, "burst")

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=180) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"{url}/v1/licences",
                        headers=system,
                        data={"item_code": "JC-001", "holder_name": f"示例企业{n:02}", "level": "B-T"},
                        files={"pdf": ("l.pdf", licence_pdf, "application/pdf")},
                    )
                    for n, url in enumerate([a, b] * 4)
                )
            )

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [201] * 8, [r.text for r in responses if r.status_code != 201]
    bodies = [r.json() for r in responses]
    assert len({body["id"] for body in bodies}) == 8
    assert len({body["identifier"] for body in bodies}) == 8
    assert len({body["number"] for body in bodies}) == 8
    # Each node serves every licence, whichever node sealed it.
    for body in bodies:
        for url in (a, b):
            assert httpx.get(f"{url}/v/{body['id']}", timeout=30).status_code == 200


def _scrape(url: str) -> str:
    response = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.text


def _sealing_pids(server_pid: int) -> set[int]:
    """The sealing processes of a server: its children started by multiprocessing's spawn (not its tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == server_pid and b"spawn_main" in command and b"resource_tracker" not in command:
            found.add(int(entry.name))
    return found


def test_nodes_are_ready_and_each_server_counts_all_its_processes(servers, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    instance, a, b = servers
    for node in (a, b):
        ready = httpx.get(f"{node.url}/readyz", timeout=30)
        assert ready.status_code == 200 and ready.json()["checks"]["sealing"]["detail"] == "ok", ready.text
        assert httpx.get(f"{node.url}/metrics", timeout=30).status_code == 401
    system = _key(instance, Role.APPROVAL_SYSTEM, "metrics")
    before = _scrape(a.url)
    _seal(a.url, system, licence_pdf, "晋城市示例餐饮有限公司")
    after = _scrape(a.url)
    # Sealed in a sealing process, counted by the API worker, scraped from the server's shared metrics files.
    sealed = {"seal": "jc-bureau-approval", "level": "B-LTA"}
    assert (
        value(after, "seal_licences_sealed_total", **sealed)
        == value(before, "seal_licences_sealed_total", **sealed) + 1
    )
    assert value(after, "seal_sealing_processes") == 1
    assert value(after, "seal_sealing_requests_in_flight") == 0

    # A sealing process killed outright is replaced by the supervisor, which counts the restart.
    (victim,) = _sealing_pids(a.pid)
    restarts = value(after, "seal_sealing_process_restarts_total")
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while value(_scrape(a.url), "seal_sealing_process_restarts_total") < restarts + 1:
        assert time.monotonic() < deadline, "the restart was never counted"
        time.sleep(0.5)
    (replacement,) = _sealing_pids(a.pid)
    assert replacement != victim
    assert httpx.get(f"{a.url}/readyz", timeout=30).status_code == 200
    _seal(a.url, system, licence_pdf, "晋城市示例餐饮有限公司")


NATURAL_PERSON = "欧阳明华"
ID_NUMBER = "11010519491231002X"


def test_logs_have_one_line_per_request_with_its_id_and_no_personal_data_or_secret(servers, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    instance, a, b = servers
    system = _key(instance, Role.APPROVAL_SYSTEM, "logs")
    secret = system["Authorization"].removeprefix("Bearer ")
    request_id = "approval-system-req-0001"
    sealed = httpx.post(
        f"{a.url}/v1/licences",
        headers=system | {"X-Request-ID": request_id},
        data={
            "item_code": "JC-001",
            "holder_name": NATURAL_PERSON,
            "holder_code": ID_NUMBER,
            "holder_code_type": "111",
        },
        files={"pdf": ("l.pdf", licence_pdf, "application/pdf")},
        timeout=120,
    )
    assert sealed.status_code == 201, sealed.text
    assert sealed.headers["x-request-id"] == request_id
    licence_id = sealed.json()["id"]
    # Everything else a person's licence goes through, on both nodes, some of it refused.
    made = httpx.get(f"{b.url}/v1/licences/{licence_id}", headers=system, timeout=30)
    assert made.status_code == 200 and len(made.headers["x-request-id"]) == 32  # made by the node: a UUID
    assert NATURAL_PERSON not in httpx.get(f"{b.url}/v/{licence_id}", timeout=30).text  # masked on the page
    pdf = httpx.get(f"{b.url}/v1/licences/{licence_id}/pdf", headers=system, timeout=30).content
    assert httpx.post(f"{b.url}/v1/verify", files={"pdf": ("p.pdf", pdf)}, timeout=60).status_code == 200
    refused = httpx.post(
        f"{a.url}/v1/licences",
        headers=system,
        data={
            "item_code": "NO-SUCH",
            "holder_name": NATURAL_PERSON,
            "holder_code": ID_NUMBER,
            "holder_code_type": "111",
        },
        files={"pdf": ("l.pdf", licence_pdf, "application/pdf")},
        timeout=60,
    )
    assert 400 <= refused.status_code < 500
    wrong_key = f"{secret[:-6]}WRONG1"
    assert (
        httpx.get(f"{b.url}/v1/licences/{licence_id}", headers={"Authorization": f"Bearer {wrong_key}"}).status_code
        == 401
    )
    wrong_token = "not-the-metrics-token-123456"
    assert httpx.get(f"{a.url}/metrics", headers={"Authorization": f"Bearer {wrong_token}"}).status_code == 401
    evil_id = 'x", "status": 200, "y": "' + "z" * 200  # would forge fields or flood the line: replaced
    assert httpx.get(f"{a.url}/healthz", headers={"X-Request-ID": evil_id}).headers["x-request-id"] != evil_id
    time.sleep(1.0)  # let the servers write their lines

    logs = {node: node.log_path.read_text(encoding="utf-8") for node in (a, b)}
    everything = "\n".join(logs.values())
    for forbidden in (
        NATURAL_PERSON,
        ID_NUMBER,
        ID_NUMBER[:17],
        secret,
        wrong_key,
        PASSPHRASE,
        METRICS_TOKEN,
        wrong_token,
    ):
        assert forbidden not in everything, f"{forbidden!r} is in the log"
    # Nor spelled as glyph names (a font subsetter logging the stamped characters would).
    assert not [c for c in NATURAL_PERSON if f"uni{ord(c):04X}" in everything]
    # A (production): JSON lines; the sealing request's line carries the caller's request id.
    lines = [json.loads(line) for line in logs[a].splitlines() if line.startswith("{")]
    (access,) = [
        line for line in lines if line.get("request_id") == request_id and line["logger"] == "seal_service.access"
    ]
    assert (access["method"], access["route"], access["status"]) == ("POST", "/v1/licences", 201)
    assert access["ms"] > 0 and access["level"] == "INFO" and access["time"].endswith("Z")
    # B (development): readable lines, one per request, with the request id in brackets.
    readable = [line for line in logs[b].splitlines() if "seal_service.access" in line]
    assert any(
        f"[{made.headers['x-request-id']}]" in line
        and "route=/v1/licences/{licence_id}" in line
        and "status=200" in line
        for line in readable
    )
    assert any("status=401" in line for line in readable)


def test_crl_ocsp_and_trust_bundle_agree_on_both_nodes_before_and_after_a_seal_revocation(nodes) -> None:  # type: ignore[no-untyped-def]
    instance, a, b = nodes
    issuer = instance.pki.certificate(PkiRole.SEAL_CA)
    (seal,) = [s for s in list_seals(instance) if s.id == SEAL_ID]
    (current,) = [c for c in seal.certificates if c.status == "current"]
    with instance.sessions() as session:
        from seal_service.storage.models import SealCertificate

        certificate = x509.load_der_x509_certificate(session.get(SealCertificate, current.id).certificate_der)

    def agree() -> tuple[ocsp.OCSPCertStatus, set[int], bytes]:
        crls = [_crl(url) for url in (a, b)]
        assert crls[0].public_bytes(serialization.Encoding.DER) == crls[1].public_bytes(serialization.Encoding.DER)
        statuses = {_ocsp_status(url, certificate, issuer) for url in (a, b)}
        assert len(statuses) == 1, statuses
        bundles = [httpx.get(f"{url}/v1/trust-bundle", timeout=30).content for url in (a, b)]
        assert bundles[0] == bundles[1]
        return statuses.pop(), {entry.serial_number for entry in crls[0]}, bundles[0]

    status, revoked, bundle_before = agree()
    assert status is ocsp.OCSPCertStatus.GOOD and certificate.serial_number not in revoked

    # Dual control across nodes: one officer requests on A, another approves on B.
    first = _key(instance, Role.SECURITY_OFFICER, "officer 1")
    second = _key(instance, Role.SECURITY_OFFICER, "officer 2")
    requested = httpx.post(
        f"{a}/v1/admin/requests",
        headers=first,
        json={"action": "revoke", "seal_id": SEAL_ID, "params": {"reason": "keyCompromise"}},
        timeout=30,
    )
    assert requested.status_code == 201, requested.text
    approved = httpx.post(f"{b}/v1/admin/requests/{requested.json()['id']}/approve", headers=second, timeout=60)
    assert approved.status_code == 200 and approved.json()["status"] == "executed", approved.text

    status, revoked, bundle_after = agree()
    assert status is ocsp.OCSPCertStatus.REVOKED and certificate.serial_number in revoked
    assert bundle_after != bundle_before
