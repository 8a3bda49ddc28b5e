"""Batch verification jobs live in the database: another instance over the same database (another node) reads
them, a job whose node stopped is reported failed, and expired or unknown jobs are 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from seal_service.errors import NotFound
from seal_service.instance import Instance
from seal_service.services.verification import JOB_RETENTION, JOB_STALE_AFTER, BatchFile, JobStore

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _files(count: int) -> list[BatchFile]:
    return [BatchFile(f"{n:03}.pdf", b"%PDF-1.7 not a real one " + str(n).encode()) for n in range(count)]


RESULT = {"file": "a.pdf", "verdict": "valid", "indication": "TOTAL_PASSED"}


@pytest.fixture
def two_nodes(db_instance, tmp_path):  # type: ignore[no-untyped-def]
    """(node A, node B): job stores of two instances over the same database, with different instance directories."""
    from tests.conftest import make_settings

    other = Instance(make_settings(tmp_path / "node-b", database_url=db_instance.settings.resolved_database_url))
    return JobStore(db_instance), JobStore(other)


def test_a_job_created_on_one_node_is_polled_on_another(two_nodes) -> None:  # type: ignore[no-untyped-def]
    a, b = two_nodes
    job_id = a.create(_files(2), at=AT)
    running = b.read(job_id, at=AT + timedelta(seconds=1))
    assert (running["status"], running["files"], running["verified"]) == ("running", 2, 0)
    a.progress(job_id, 1, at=AT + timedelta(seconds=2))
    assert b.read(job_id, at=AT + timedelta(seconds=3))["verified"] == 1
    a.finish(job_id, [RESULT, RESULT | {"file": "b.pdf", "verdict": "invalid"}], at=AT + timedelta(seconds=4))
    done = b.read(job_id, at=AT + timedelta(seconds=5))
    assert done["status"] == "done" and done["verified"] == 2
    assert done["summary"] == {"valid": 1, "invalid": 1, "indeterminate": 0, "modified": 0}
    assert [r["file"] for r in done["results"]] == ["a.pdf", "b.pdf"]  # type: ignore[union-attr]


def test_a_failed_job_says_why_on_every_node(two_nodes) -> None:  # type: ignore[no-untyped-def]
    a, b = two_nodes
    job_id = a.create(_files(30), at=AT)
    a.fail(job_id, "RuntimeError: out of memory", at=AT + timedelta(seconds=1))
    failed = b.read(job_id, at=AT + timedelta(seconds=2))
    assert failed["status"] == "failed" and "out of memory" in str(failed["error"])
    assert "results" not in failed


def test_a_job_whose_node_stopped_is_reported_failed_not_running_forever(two_nodes) -> None:  # type: ignore[no-untyped-def]
    a, b = two_nodes
    job_id = a.create(_files(30), at=AT)
    a.progress(job_id, 20, at=AT + timedelta(minutes=1))
    assert b.read(job_id, at=AT + timedelta(minutes=1) + JOB_STALE_AFTER - timedelta(seconds=1))["status"] == "running"
    stale = b.read(job_id, at=AT + timedelta(minutes=1) + JOB_STALE_AFTER + timedelta(seconds=1))
    assert stale["status"] == "failed" and "submit the batch again" in str(stale["error"])


def test_unknown_malformed_and_expired_jobs_are_not_found(two_nodes) -> None:  # type: ignore[no-untyped-def]
    a, b = two_nodes
    for job_id in ("JNOSUCHJOB", "../../etc/passwd", "J" + "A" * 60):
        with pytest.raises(NotFound):
            b.read(job_id, at=AT)
    job_id = a.create(_files(21), at=AT)
    with pytest.raises(NotFound):
        b.read(job_id, at=AT + JOB_RETENTION + timedelta(seconds=1))
    # Creating a job later sweeps the expired one from the table.
    a.create(_files(21), at=AT + JOB_RETENTION + timedelta(seconds=1))
    with pytest.raises(NotFound):
        b.read(job_id, at=AT)


def test_a_job_whose_node_stopped_is_taken_over_once_with_its_documents(two_nodes) -> None:  # type: ignore[no-untyped-def]
    a, b = two_nodes
    documents = _files(25)
    job_id = a.create(documents, at=AT)
    a.progress(job_id, 20, at=AT + timedelta(minutes=1))
    stale = AT + timedelta(minutes=1) + JOB_STALE_AFTER + timedelta(seconds=1)
    assert b.take_over(job_id, at=stale - timedelta(seconds=2)) is None  # not stale yet: A still owns it
    assert b.take_over(job_id, at=stale) == documents  # in order, bytes as submitted
    assert a.take_over(job_id, at=stale) is None  # taken: nobody else may run it too
    assert b.read(job_id, at=stale)["status"] == "running"
    b.finish(job_id, [RESULT] * 25, at=stale + timedelta(seconds=5))
    assert a.read(job_id, at=stale + timedelta(seconds=6))["status"] == "done"
    assert b.take_over(job_id, at=stale + JOB_STALE_AFTER * 2) is None  # done jobs are never taken over

    from sqlalchemy import func, select

    from seal_service.storage.jobs_models import VerificationJobFile

    with a.instance.sessions() as session:  # the documents are dropped when the job ends
        assert session.scalar(select(func.count()).where(VerificationJobFile.job_id == job_id)) == 0


def test_polling_a_stalled_job_over_http_takes_it_over_and_finishes_it(db_instance) -> None:  # type: ignore[no-untyped-def]
    import time

    from fastapi.testclient import TestClient

    from seal_service.api.app import create_app

    store = JobStore(db_instance)
    job_id = store.create(_files(21), at=datetime.now(UTC) - JOB_STALE_AFTER - timedelta(minutes=1))
    with TestClient(create_app(instance=db_instance)) as client:
        deadline = time.monotonic() + 60
        while True:
            job = client.get(f"/v1/verify/jobs/{job_id}")
            assert job.status_code == 200, job.text
            if job.json()["status"] != "running" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    body = job.json()
    assert body["status"] == "done", body
    assert [r["file"] for r in body["results"]] == [f"{n:03}.pdf" for n in range(21)]
    assert body["summary"]["invalid"] == 21  # none of them is a real PDF
