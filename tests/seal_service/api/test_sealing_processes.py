"""Sealing in the server's sealing processes (what ``seal-service serve`` does by default).

The licence is sealed, recorded and audited by a separate process; refusals cross the process boundary as the
service's own problems (naming the field); a process that dies is replaced, and a request whose process died or
cannot be reached is a 503 that records nothing.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from seal_service.api.app import create_app
from seal_service.api.sealing_processes import SealingProcesses
from seal_service.instance import Instance
from seal_service.storage.models import AuditEntry
from tests.seal_service.api.test_licences_api import _is_problem, _licence_count, _post


def _client_for(db_instance, socket_path: Path) -> TestClient:  # type: ignore[no-untyped-def]
    settings = db_instance.settings.model_copy(update={"sealing_socket": socket_path})
    return TestClient(create_app(instance=Instance(settings)))


@pytest.fixture(scope="module")
def sealing(db_instance):  # type: ignore[no-untyped-def]
    """(client, sealing processes): an app whose sealing goes to one sealing process of the same instance."""
    with (
        SealingProcesses(db_instance.settings, 1) as processes,
        _client_for(db_instance, processes.socket_path) as client,
    ):
        yield client, processes


def _audit_actor(instance, licence_id: str) -> str | None:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        return session.scalar(select(AuditEntry.actor).where(AuditEntry.licence_id == licence_id))


def test_a_licence_is_sealed_recorded_and_audited_by_a_sealing_process(sealing, db_instance, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    client, processes = sealing
    assert processes.pids and os.getpid() not in processes.pids
    created = _post(client, keys.city, licence_pdf, level="B-LTA")
    assert created.status_code == 201, created.text
    body = created.json()
    pdf = client.get(f"/v1/licences/{body['id']}/pdf", headers=keys.city)
    assert hashlib.sha256(pdf.content).hexdigest() == body["document_sha256"]
    assert _audit_actor(db_instance, body["id"]) == f"apikey:{keys.city_key_id}"


def test_refusals_from_the_sealing_process_name_the_cause(sealing, db_instance, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    client, _ = sealing
    count = _licence_count(db_instance)
    _is_problem(_post(client, keys.city, b"%PDF-1.7\nnot really"), 422, "pdf")
    _is_problem(_post(client, keys.city, licence_pdf, item_code="NO-SUCH-ITEM"), 404, "NO-SUCH-ITEM")
    _is_problem(_post(client, keys.county, licence_pdf, seal_id="jc-bureau-approval"), 403, "seal_id", "another")
    assert _licence_count(db_instance) == count


def test_a_killed_sealing_process_is_replaced(sealing, db_instance, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    client, processes = sealing
    (victim,) = processes.pids
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while (not processes.pids or processes.pids == [victim]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes.pids and victim not in processes.pids
    count = _licence_count(db_instance)
    created = _post(client, keys.city, licence_pdf)
    assert created.status_code == 201, created.text
    assert _licence_count(db_instance) == count + 1


def _dying_sealer(path: Path) -> threading.Thread:
    """A stand-in sealing process that reads a request and dies without answering."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        connection, _ = listener.accept()
        connection.recv(1 << 16)
        connection.close()
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_a_process_dying_mid_request_is_a_503_that_records_nothing(db_instance, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "sealing.sock"
        dying = _dying_sealer(path)
        count = _licence_count(db_instance)
        with _client_for(db_instance, path) as client:
            _is_problem(_post(client, keys.city, licence_pdf), 503, "retry")
        dying.join(timeout=10)
        assert _licence_count(db_instance) == count


def test_unreachable_sealing_processes_are_a_503(db_instance, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as directory, _client_for(db_instance, Path(directory) / "gone.sock") as client:
        count = _licence_count(db_instance)
        _is_problem(_post(client, keys.city, licence_pdf), 503, "retry")
        assert _licence_count(db_instance) == count
