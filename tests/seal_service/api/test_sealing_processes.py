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
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from seal_service.api.app import create_app
from seal_service.api.sealing_processes import SealingProcesses
from seal_service.instance import Instance
from seal_service.storage.access_models import IdempotencyRecord
from seal_service.storage.models import AuditEntry, Licence, LicenceDocument
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


def _kill_self_at_commit(when: str) -> None:
    """Run inside a sealing process: SIGKILL it just before or just after it commits a licence."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    def flushed(session, _context) -> None:  # type: ignore[no-untyped-def]
        if any(isinstance(obj, Licence) for obj in session.new):
            session.info["licence"] = True

    def committed(session) -> None:  # type: ignore[no-untyped-def]
        if session.info.get("licence"):
            os.kill(os.getpid(), signal.SIGKILL)

    event.listen(Session, "after_flush", flushed)
    event.listen(Session, "before_commit" if when == "before" else "after_commit", committed)


class _ArmKill:
    """Unpickled in the sealing process, arms :func:`_kill_self_at_commit` there (the process's own code runs on)."""

    def __init__(self, when: str) -> None:
        self.when = when

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_kill_self_at_commit, (self.when,))


def _arm(processes: SealingProcesses, when: str) -> None:
    from seal_service.api.sealing_processes import frame

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(str(processes.socket_path))
        connection.sendall(frame((_ArmKill(when),)))
        connection.recv(1 << 16)  # its answer: an error (the message was no sealing request); the hook stays


def _one_process(processes: SealingProcesses) -> int:
    deadline = time.monotonic() + 30
    while len(processes.pids) != 1 and time.monotonic() < deadline:  # an earlier test may have killed one
        time.sleep(0.05)
    (pid,) = processes.pids
    return pid


@pytest.mark.parametrize("when", ["before", "after"])
def test_a_sealing_process_killed_at_its_database_write(sealing, db_instance, keys, licence_pdf, when: str) -> None:  # type: ignore[no-untyped-def]
    """A real sealing process is SIGKILLed just before or just after it commits the licence: the request is a 503
    with Retry-After; the licence is recorded whole (PDF, audit entry, completed claim) or not at all; the retry
    with the same Idempotency-Key gets that one licence, or seals it once."""
    client, processes = sealing
    key = f"killed-at-commit-{when}-{db_instance.settings.resolved_database_url[-8:]}"
    victim = _one_process(processes)
    _arm(processes, when)
    count = _licence_count(db_instance)
    dead = _post(client, keys.city | {"Idempotency-Key": key}, licence_pdf)
    _is_problem(dead, 503, "retry")
    assert int(dead.headers["retry-after"]) >= 1
    deadline = time.monotonic() + 30
    while victim in processes.pids and time.monotonic() < deadline:
        time.sleep(0.05)
    assert victim not in processes.pids
    with db_instance.sessions() as session:
        recorded = session.scalars(select(IdempotencyRecord.licence_id).where(IdempotencyRecord.key == key)).all()
    if when == "before":
        assert _licence_count(db_instance) == count and recorded in ([], [None])
    else:
        assert _licence_count(db_instance) == count + 1 and len(recorded) == 1 and recorded[0] is not None
        with db_instance.sessions() as session:
            assert session.get(LicenceDocument, recorded[0]) is not None
        assert _audit_actor(db_instance, recorded[0]) == f"apikey:{keys.city_key_id}"
    # The retry (sealed by the replacement process) gets exactly one licence.
    _one_process(processes)
    retry = _post(client, keys.city | {"Idempotency-Key": key}, licence_pdf)
    assert retry.status_code == (201 if when == "before" else 200), retry.text
    if when == "after":
        assert retry.json()["id"] == recorded[0]
    assert _licence_count(db_instance) == count + 1


def test_unreachable_sealing_processes_are_a_503(db_instance, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as directory, _client_for(db_instance, Path(directory) / "gone.sock") as client:
        count = _licence_count(db_instance)
        _is_problem(_post(client, keys.city, licence_pdf), 503, "retry")
        assert _licence_count(db_instance) == count
