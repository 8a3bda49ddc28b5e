"""Outages under the service: the disk of SEAL_HOME full, the database unreachable, PostgreSQL restarted under load.

Each time requests are refused with 503 problem+json and ``Retry-After`` (no 500, no traceback), nothing is half
written (every licence has its PDF and audit entry; the audit chain verifies), and the same running service
seals again once the outage ends, without a restart.

The database outage and the restart are a TCP proxy in front of the shared PostgreSQL that the test cuts (every
connection reset, new ones refused) and restores: the cluster itself, which other tests use, is not touched. The
disk is a real 24 MiB tmpfs mounted on SEAL_HOME (root only), filled to the last byte.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from seal_service.api.app import create_app
from seal_service.api.sealing_processes import SealingProcesses
from seal_service.instance import Instance
from seal_service.services.apikeys import Role, create_api_key
from seal_service.services.audit import verify_log
from seal_service.storage.models import AuditEntry, Licence, LicenceDocument
from tests.conftest import POSTGRES_URL, make_instance, make_settings
from tests.support.instances import own_database
from tests.support.requirements import missing
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

FIELDS = {"item_code": "JC-001", "holder_name": "晋城市示例餐饮有限公司", "level": "B-B"}
# The behaviour over a 30 s outage is the same (every request fails fast, none hangs); SEAL_TEST_OUTAGE_SECONDS=30
# runs the full length.
OUTAGE_SECONDS = float(os.environ.get("SEAL_TEST_OUTAGE_SECONDS", "4"))


def _seal(client: TestClient | httpx.Client, token: str, pdf: bytes, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} | ({"Idempotency-Key": key} if key else {})
    return client.post("/v1/licences", headers=headers, data=FIELDS, files={"pdf": ("l.pdf", pdf, "application/pdf")})


def _is_unavailable(response: httpx.Response, slug: str | None = None) -> None:
    assert response.status_code == 503, response.text
    assert slug is None or response.json()["type"].endswith("/" + slug), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 503 and body["type"].startswith("https://") and "retry" in body["detail"].lower()
    assert int(response.headers["retry-after"]) >= 1


def _whole(instance) -> int:  # type: ignore[no-untyped-def]
    """Every licence has its PDF and its audit entry, and the audit chain verifies; the number of licences."""
    with instance.sessions() as session:
        ids = set(session.scalars(select(Licence.id)).all())
        assert ids <= set(session.scalars(select(LicenceDocument.licence_id)).all())
        assert ids <= set(session.scalars(select(AuditEntry.licence_id).where(AuditEntry.action == "seal.use")).all())
    verify_log(instance)
    return len(ids)


def _via(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(
        parts._replace(netloc=f"{parts.username}@127.0.0.1:{port}" if parts.username else f"127.0.0.1:{port}")
    )


@pytest.fixture
def proxied(
    postgres_database: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[object, TestClient, TcpProxy, str]]:
    """(direct instance, client of an app whose database and sealing process go through the proxy, proxy, token)."""
    home = tmp_path_factory.mktemp("outage-pg")
    with own_database("postgresql", home, postgres_database or POSTGRES_URL) as url:
        direct = make_instance(make_settings(home, database_url=url))
        token = create_api_key(
            direct, name="审批系统", role=Role.APPROVAL_SYSTEM, authority_code="jc-bureau", at=datetime.now(UTC)
        ).secret
        target = urlsplit(url)
        proxy = TcpProxy((target.hostname or "127.0.0.1", target.port or 5432)).start()
        settings = make_settings(home, database_url=_via(url, proxy.port))
        with SealingProcesses(settings, 1) as processes:
            app = create_app(instance=Instance(settings.model_copy(update={"sealing_socket": processes.socket_path})))
            with TestClient(app) as client:
                yield direct, client, proxy, token
        proxy.close()
        direct.engine.dispose()


def test_database_unreachable_is_a_503_and_the_service_recovers(proxied, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    direct, client, proxy, token = proxied
    before = _seal(client, token, licence_pdf)
    assert before.status_code == 201, before.text
    count = _whole(direct)
    proxy.cut()
    try:
        deadline, attempts = time.monotonic() + OUTAGE_SECONDS, 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            _is_unavailable(_seal(client, token, licence_pdf, key=f"during-outage-{attempts}"), "database-unavailable")
            _is_unavailable(
                client.get(f"/v1/licences/{before.json()['id']}", headers={"Authorization": f"Bearer {token}"})
            )
            assert time.monotonic() - started < 15  # refused, not hung
            # The public QR page answers from its cache or says 503, as does /healthz (it checks the database).
            for path in (f"/v/{before.json()['id']}", "/healthz"):
                answer = client.get(path)
                assert answer.status_code in (200, 503), answer.text
            attempts += 1
        assert attempts >= 1
        assert _whole(direct) == count
    finally:
        proxy.restore()
    # The same service, not restarted: the request tried during the outage goes through with its key.
    after = _seal(client, token, licence_pdf, key="during-outage-0")
    assert after.status_code == 201, after.text
    assert (
        client.get(f"/v1/licences/{before.json()['id']}", headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )
    assert _whole(direct) == count + 1


def test_postgresql_restarted_under_load(proxied, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    direct, client, proxy, token = proxied
    requests, answers = 16, {}
    first = threading.Event()

    def worker(numbers: range) -> None:
        for i in numbers:
            answers[i] = _seal(client, token, licence_pdf, key=f"restart-{i}")
            if answers[i].status_code == 201:
                first.set()

    threads = [threading.Thread(target=worker, args=(range(k, requests, 4),)) for k in range(4)]
    for thread in threads:
        thread.start()
    assert first.wait(timeout=120)
    proxy.cut()  # the server goes down: every connection reset
    time.sleep(1.5)
    proxy.restore()  # and is back
    for thread in threads:
        thread.join(timeout=120)
    statuses = {i: r.status_code for i, r in answers.items()}
    assert set(statuses.values()) <= {201, 503}, {i: answers[i].text for i in statuses if statuses[i] not in (201, 503)}
    for response in answers.values():
        if response.status_code == 503:
            _is_unavailable(response)
    # Each refused request, retried with its key, is sealed once; each answered one returns its licence.
    retried = {i: _seal(client, token, licence_pdf, key=f"restart-{i}") for i in range(requests)}
    assert all(r.status_code in (200, 201) for r in retried.values()), {i: r.text for i, r in retried.items()}
    for i, response in answers.items():
        if response.status_code == 201:
            assert retried[i].json()["id"] == response.json()["id"]
    assert len({r.json()["id"] for r in retried.values()}) == requests
    assert _whole(direct) == requests


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs mounted on a fresh directory (needs root: mount)."""
    # Not a tool `make test` installs: the test needs root to mount; without it, a plain skip.
    reason = missing("tmpfs mount (root)", lambda: os.geteuid() == 0 and shutil.which("mount") is not None)
    if reason:
        pytest.skip(reason)
    mountpoint = tmp_path / "home"
    mountpoint.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mountpoint)], check=True)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def _fill(directory: Path) -> Path:
    """Fill the file system of ``directory`` to the last byte."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue
    finally:
        os.close(fd)
    return filler


def test_disk_full_on_seal_home_is_a_503_and_the_service_recovers(small_disk: Path, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    instance = make_instance(make_settings(small_disk))  # SQLite: the database lives in SEAL_HOME
    token = create_api_key(
        instance, name="审批系统", role=Role.APPROVAL_SYSTEM, authority_code="jc-bureau", at=datetime.now(UTC)
    ).secret
    try:
        with TestClient(create_app(instance=instance)) as client:
            assert _seal(client, token, licence_pdf).status_code == 201
            count = _whole(instance)
            filler = _fill(small_disk)
            for attempt in range(3):
                _is_unavailable(_seal(client, token, licence_pdf, key=f"disk-full-{attempt}"), "storage-full")
            assert shutil.disk_usage(small_disk).free < 64 * 1024
            filler.unlink()
            assert _whole(instance) == count
            # Space is back: the same service seals, and the request refused while the disk was full goes through.
            again = _seal(client, token, licence_pdf, key="disk-full-0")
            assert again.status_code == 201, again.text
            assert _whole(instance) == count + 1
    finally:
        instance.engine.dispose()
