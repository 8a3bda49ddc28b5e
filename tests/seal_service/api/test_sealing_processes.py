"""Sealing in processes beside the API worker (what ``seal-service serve`` does by default).

The licence is sealed, recorded and audited by a separate process, errors cross the process boundary as the
service's own (problem+json naming the field), and a sealing process that dies costs one 503, not the worker.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from seal_service.api.app import create_app
from seal_service.instance import Instance
from seal_service.storage.models import AuditEntry
from tests.seal_service.api.test_licences_api import _is_problem, _licence_count, _post


@pytest.fixture(scope="module")
def process_api(db_instance):  # type: ignore[no-untyped-def]
    """A client of an app of the same instance whose sealing runs in one spawned process; yields (client, pids)."""
    settings = db_instance.settings.model_copy(update={"signing_processes": 1})
    instance = Instance(settings)
    before = {child.pid for child in multiprocessing.active_children()}
    with TestClient(create_app(instance=instance)) as client:
        yield client, instance, before


def _sealing_pids(before: set[int]) -> set[int]:
    return {child.pid for child in multiprocessing.active_children()} - before  # type: ignore[misc]


def _audit_actor(instance, licence_id: str) -> str | None:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        return session.scalar(select(AuditEntry.actor).where(AuditEntry.licence_id == licence_id))


def test_a_licence_is_sealed_recorded_and_audited_by_a_sealing_process(process_api, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    client, instance, before = process_api
    created = _post(client, keys.city, licence_pdf, level="B-LTA")
    assert created.status_code == 201, created.text
    body = created.json()
    pids = _sealing_pids(before)
    assert pids and os.getpid() not in pids  # the work went to a child process
    pdf = client.get(f"/v1/licences/{body['id']}/pdf", headers=keys.city)
    assert hashlib.sha256(pdf.content).hexdigest() == body["document_sha256"]
    assert _audit_actor(instance, body["id"]) == f"apikey:{keys.city_key_id}"


def test_refusals_from_the_sealing_process_name_the_cause(process_api, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    client, instance, _ = process_api
    count = _licence_count(instance)
    _is_problem(_post(client, keys.city, b"%PDF-1.7\nnot really"), 422, "pdf")
    _is_problem(_post(client, keys.city, licence_pdf, item_code="NO-SUCH-ITEM"), 404, "NO-SUCH-ITEM")
    assert _licence_count(instance) == count


def test_a_dead_sealing_process_costs_one_503_and_a_fresh_one_takes_over(process_api, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    client, instance, before = process_api
    assert _post(client, keys.city, licence_pdf).status_code == 201  # the process is up
    for pid in _sealing_pids(before):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _sealing_pids(before) and time.monotonic() < deadline:
        time.sleep(0.05)
    count = _licence_count(instance)
    _is_problem(_post(client, keys.city, licence_pdf), 503, "retry")
    assert _licence_count(instance) == count
    again = _post(client, keys.city, licence_pdf)
    assert again.status_code == 201, again.text
    assert _licence_count(instance) == count + 1


def test_a_foreign_seal_is_refused_inside_the_sealing_process(process_api, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    client, instance, _ = process_api
    count = _licence_count(instance)
    _is_problem(_post(client, keys.county, licence_pdf, seal_id="jc-bureau-approval"), 403, "seal_id", "another")
    assert _licence_count(instance) == count
