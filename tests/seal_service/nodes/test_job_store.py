"""Batch verification jobs live in the database: another instance over the same database (another node) reads
them, a job whose node stopped is reported failed, and expired or unknown jobs are 404."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from seal_service.errors import NotFound
from seal_service.instance import Instance
from seal_service.services.verification import JOB_RETENTION, JOB_STALE_AFTER, JobStore

AT = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
RESULT = {"file": "a.pdf", "verdict": "valid", "indication": "TOTAL_PASSED"}


@pytest.fixture
def two_nodes(db_instance, tmp_path):  # type: ignore[no-untyped-def]
    """(node A, node B): two instances over the same database, with different instance directories."""
    from tests.conftest import make_settings

    other = Instance(make_settings(tmp_path / "node-b", database_url=db_instance.settings.resolved_database_url))
    return JobStore(db_instance), JobStore(other)


def test_a_job_created_on_one_node_is_polled_on_another(two_nodes) -> None:  # type: ignore[no-untyped-def]
    a, b = two_nodes
    job_id = a.create(2, at=AT)
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
    job_id = a.create(30, at=AT)
    a.fail(job_id, "RuntimeError: out of memory", at=AT + timedelta(seconds=1))
    failed = b.read(job_id, at=AT + timedelta(seconds=2))
    assert failed["status"] == "failed" and "out of memory" in str(failed["error"])
    assert "results" not in failed


def test_a_job_whose_node_stopped_is_reported_failed_not_running_forever(two_nodes) -> None:  # type: ignore[no-untyped-def]
    a, b = two_nodes
    job_id = a.create(30, at=AT)
    a.progress(job_id, 20, at=AT + timedelta(minutes=1))
    assert b.read(job_id, at=AT + timedelta(minutes=1) + JOB_STALE_AFTER - timedelta(seconds=1))["status"] == "running"
    stale = b.read(job_id, at=AT + timedelta(minutes=1) + JOB_STALE_AFTER + timedelta(seconds=1))
    assert stale["status"] == "failed" and "submit the batch again" in str(stale["error"])


def test_unknown_malformed_and_expired_jobs_are_not_found(two_nodes) -> None:  # type: ignore[no-untyped-def]
    a, b = two_nodes
    for job_id in ("JNOSUCHJOB", "../../etc/passwd", "J" + "A" * 60):
        with pytest.raises(NotFound):
            b.read(job_id, at=AT)
    job_id = a.create(21, at=AT)
    with pytest.raises(NotFound):
        b.read(job_id, at=AT + JOB_RETENTION + timedelta(seconds=1))
    # Creating a job later sweeps the expired one from the table.
    a.create(21, at=AT + JOB_RETENTION + timedelta(seconds=1))
    with pytest.raises(NotFound):
        b.read(job_id, at=AT)
