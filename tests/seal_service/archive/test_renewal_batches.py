"""Renewals committed in batches (one transaction, a savepoint per licence), on SQLite and PostgreSQL: a licence
that fails inside a batch is rolled back alone (no version, audit entry, event or log entry of it) while the others
commit whole; a licence renewed meanwhile is refused inside a batch; two overlapping batches at once (in opposite
orders) make exactly one new version per licence, without a deadlock; a round renews in batches and reports each
licence."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

import seal_service.archive.renewal as renewal
from seal_service.archive import (
    AlreadyRenewed,
    ArchiveRenewer,
    PendingRenewal,
    RenewalOutcomeKind,
    commit_renewals,
    licence_pdf,
    renew_archive,
)
from seal_service.archive.tsa_rotation import rotate_tsa
from seal_service.errors import NotFound
from seal_service.services.audit import verify_log
from seal_service.storage.events_models import SupervisionEvent
from seal_service.storage.log_models import LogPending
from seal_service.storage.models import AuditEntry
from tests.support.archive import clone_licences, seal_blta, stored_versions

RENEWED = "cn.gov.approval.licence.renewed"


def _licences(instance, pdf: bytes, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    first = seal_blta(instance, pdf)
    return [first, *clone_licences(instance, first, count - 1)]


def _pending(instance, ids: list[str], at: datetime) -> list[PendingRenewal]:  # type: ignore[no-untyped-def]
    renewer = ArchiveRenewer(instance)
    return [PendingRenewal(i, 1, renewer.renew_pdf(licence_pdf(instance, i, 1)[0], at=at)) for i in ids]


def _traces(instance, licence_id: str) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """(renewal audit entries, renewal events, renewal log entries) of one licence."""
    with instance.sessions() as session:
        audits = session.scalars(
            select(AuditEntry.id).where(AuditEntry.licence_id == licence_id, AuditEntry.action == "licence.renew")
        ).all()
        events = session.scalars(
            select(SupervisionEvent.seq).where(SupervisionEvent.subject == licence_id, SupervisionEvent.type == RENEWED)
        ).all()
        logs = session.scalars(
            select(LogPending.id).where(LogPending.licence_id == licence_id, LogPending.kind == "renewed")
        ).all()
    return len(audits), len(events), len(logs)


def test_a_failing_licence_in_a_batch_is_rolled_back_alone(db_instance, licence_pdf, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ids = _licences(db_instance, licence_pdf, 5)
    at = datetime.now(UTC)
    pending = _pending(db_instance, ids, at)
    # The fourth licence was renewed meanwhile (its batch entry is stale); the second one's log write fails after
    # its version, audit entry and event were written in its savepoint.
    stale = pending[3]
    (done,) = commit_renewals(db_instance, [stale], at=at, actor="t")
    assert done == 2
    original = renewal.licence_renewed_entry

    def flaky(settings, *, licence_id, **kwargs):  # type: ignore[no-untyped-def]
        if licence_id == ids[1]:
            raise RuntimeError("log store unavailable")
        return original(settings, licence_id=licence_id, **kwargs)

    monkeypatch.setattr(renewal, "licence_renewed_entry", flaky)
    results = commit_renewals(db_instance, pending, at=at, actor="t")
    assert results[0] == 2 and results[2] == 2 and results[4] == 2, results
    assert isinstance(results[1], RuntimeError)
    assert isinstance(results[3], AlreadyRenewed)
    # The failing licence: nothing of its renewal is stored, its version 1 is still current and whole.
    assert [v for v, _, _ in stored_versions(db_instance, ids[1])] == [1]
    assert _traces(db_instance, ids[1]) == (0, 0, 0)
    # The others: each a whole renewal (version, audit entry, event, log entry), the stale one not twice.
    for index in (0, 2, 4):
        versions = stored_versions(db_instance, ids[index])
        assert [v for v, _, _ in versions] == [1, 2]
        assert versions[1][1] == pending[index].renewed.pdf
        assert _traces(db_instance, ids[index]) == (1, 1, 1)
    assert [v for v, _, _ in stored_versions(db_instance, ids[3])] == [1, 2]
    assert _traces(db_instance, ids[3]) == (1, 1, 1)
    verify_log(db_instance)  # the audit hash chain has no hole where the rolled-back entry was


def test_two_overlapping_batches_at_once_make_one_version_per_licence(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    ids = _licences(db_instance, licence_pdf, 6)
    at = datetime.now(UTC)
    # Batch one: licences 0-3; batch two: licences 5-2, in the opposite order (a naive lock order would deadlock).
    first = _pending(db_instance, ids[:4], at)
    second = _pending(db_instance, list(reversed(ids[2:])), at)
    barrier = threading.Barrier(2)
    results: dict[int, object] = {}

    def commit(index: int, batch: list[PendingRenewal]) -> None:
        barrier.wait()
        try:
            results[index] = commit_renewals(db_instance, batch, at=at, actor=f"batch-{index}")
        except Exception as exc:  # a deadlock or lock timeout would show here
            results[index] = exc

    threads = [threading.Thread(target=commit, args=(n, b)) for n, b in ((1, first), (2, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(isinstance(results.get(n), tuple) for n in (1, 2)), results
    one, two = results[1], results[2]
    assert isinstance(one, tuple) and isinstance(two, tuple)
    by_licence: dict[str, list[object]] = {}
    for batch, outcome in ((first, one), (second, two)):
        for item, result in zip(batch, outcome, strict=True):
            by_licence.setdefault(item.licence_id, []).append(result)
    for licence_id in ids:
        versions = stored_versions(db_instance, licence_id)
        assert [v for v, _, _ in versions] == [1, 2], licence_id
        assert _traces(db_instance, licence_id) == (1, 1, 1)
        outcomes = by_licence[licence_id]
        assert sum(r == 2 for r in outcomes) == 1 and all(r == 2 or isinstance(r, AlreadyRenewed) for r in outcomes)
    verify_log(db_instance)


def test_a_round_renews_in_batches_and_reports_every_licence(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    ids = _licences(db_instance, licence_pdf, 7)
    rotate_tsa(db_instance, at=datetime.now(UTC), actor="test")
    seen: list[str] = []
    done = renew_archive(
        db_instance,
        at=datetime.now(UTC),
        horizon=timedelta(days=2000),
        batch_size=3,
        progress=lambda o: seen.append(o.licence_id),
    )
    mine = [o for o in done.outcomes if o.licence_id in ids]
    assert sorted(o.licence_id for o in mine) == sorted(ids)
    assert all(o.kind is RenewalOutcomeKind.RENEWED and o.version >= 2 for o in mine), mine
    assert set(ids) <= set(seen)
    for licence_id in ids:
        assert len(stored_versions(db_instance, licence_id)) >= 2
    verify_log(db_instance)


def test_the_first_licence_of_a_batch_failing_leaves_the_audit_chain_whole(
    db_instance, licence_pdf, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The batch's audit entries go through Core (AuditBatch); the first licence reads and locks the chain head
    inside its savepoint, so when that savepoint is rolled back the next licence must read the head again."""
    ids = _licences(db_instance, licence_pdf, 3)
    at = datetime.now(UTC)
    pending = _pending(db_instance, ids, at)
    original = renewal.licence_renewed_entry

    def flaky(settings, *, licence_id, **kwargs):  # type: ignore[no-untyped-def]
        if licence_id == ids[0]:
            raise RuntimeError("log store unavailable")
        return original(settings, licence_id=licence_id, **kwargs)

    monkeypatch.setattr(renewal, "licence_renewed_entry", flaky)
    ordered = sorted(pending, key=lambda p: p.licence_id != ids[0])  # the failing one first
    results = commit_renewals(db_instance, ordered, at=at, actor="t")
    assert isinstance(results[0], RuntimeError) and results[1:] == (2, 2), results
    assert _traces(db_instance, ids[0]) == (0, 0, 0)
    # An entry through the ORM afterwards (a sealing) follows the batch's entries in the same chain.
    seal_blta(db_instance, licence_pdf)
    report = verify_log(db_instance)
    with db_instance.sessions() as session:
        renew_seqs = session.scalars(
            select(AuditEntry.seq).where(AuditEntry.action == "licence.renew", AuditEntry.licence_id.in_(ids))
        ).all()
    assert len(renew_seqs) == 2 and max(renew_seqs) < report.last_seq


def test_a_write_failing_in_the_batch_falls_back_to_one_licence_at_a_time(db_instance, licence_pdf, caplog) -> None:  # type: ignore[no-untyped-def]
    """The batch is first written with one statement per table; a licence whose version row the database refuses
    (no TSA serial: NOT NULL) makes that statement fail, and the batch is written again one licence at a time: the
    bad licence fails alone, the others commit whole, with consecutive event numbers and an intact audit chain."""
    ids = _licences(db_instance, licence_pdf, 4)
    at = datetime.now(UTC)
    pending = _pending(db_instance, ids, at)
    bad = pending[2]
    pending[2] = dataclasses.replace(bad, renewed=dataclasses.replace(bad.renewed, tsa_serial=None))
    with db_instance.sessions() as session:
        before = session.scalar(select(func.max(SupervisionEvent.seq))) or 0
    with caplog.at_level(logging.INFO, logger=renewal.__name__):
        results = commit_renewals(db_instance, pending, at=at, actor="t")
    assert any("not stored together" in r.getMessage() for r in caplog.records)
    assert results[0] == 2 and results[1] == 2 and results[3] == 2, results
    assert isinstance(results[2], IntegrityError)
    assert [v for v, _, _ in stored_versions(db_instance, ids[2])] == [1]
    assert _traces(db_instance, ids[2]) == (0, 0, 0)
    for index in (0, 1, 3):
        assert [v for v, _, _ in stored_versions(db_instance, ids[index])] == [1, 2]
        assert _traces(db_instance, ids[index]) == (1, 1, 1)
    with db_instance.sessions() as session:
        seqs = session.scalars(
            select(SupervisionEvent.seq).where(SupervisionEvent.seq > before).order_by(SupervisionEvent.seq)
        ).all()
        subjects = session.scalars(
            select(SupervisionEvent.subject).where(SupervisionEvent.seq > before).order_by(SupervisionEvent.seq)
        ).all()
    # No number was lost to the rolled-back batch: the three events follow the ones before, in batch order.
    assert seqs == [before + 1, before + 2, before + 3]
    assert subjects == [ids[0], ids[1], ids[3]]
    verify_log(db_instance)


def test_a_batch_is_written_together_with_consecutive_events_and_a_whole_audit_chain(
    db_instance, licence_pdf, caplog
) -> None:  # type: ignore[no-untyped-def]
    """The optimistic path: a duplicate and an unknown licence in the batch are refused, the others stored with
    their audit entries in batch order (each chained to the one before) and a block of event numbers."""
    ids = _licences(db_instance, licence_pdf, 3)
    at = datetime.now(UTC)
    pending = _pending(db_instance, ids, at)
    duplicate = pending[0]
    unknown = PendingRenewal("no-such-licence", 1, duplicate.renewed)
    with db_instance.sessions() as session:
        before = session.scalar(select(func.max(SupervisionEvent.seq))) or 0
    with caplog.at_level(logging.INFO, logger=renewal.__name__):
        results = commit_renewals(db_instance, [*pending, duplicate, unknown], at=at, actor="t")
    assert not any("not stored together" in r.getMessage() for r in caplog.records)  # no fallback
    assert results[:3] == (2, 2, 2)
    assert isinstance(results[3], AlreadyRenewed)
    assert isinstance(results[4], NotFound)
    for licence_id in ids:
        assert _traces(db_instance, licence_id) == (1, 1, 1)
    with db_instance.sessions() as session:
        events = session.execute(
            select(SupervisionEvent.seq, SupervisionEvent.subject, SupervisionEvent.envelope)
            .where(SupervisionEvent.seq > before)
            .order_by(SupervisionEvent.seq)
        ).all()
        audit = session.execute(
            select(AuditEntry.licence_id, AuditEntry.seq)
            .where(AuditEntry.action == "licence.renew", AuditEntry.licence_id.in_(ids))
            .order_by(AuditEntry.seq)
        ).all()
    assert [e.seq for e in events] == [before + 1, before + 2, before + 3]
    assert [e.subject for e in events] == ids
    assert all(json.loads(e.envelope)["sequence"] == str(e.seq) for e in events)
    assert [a.licence_id for a in audit] == ids
    assert [a.seq for a in audit] == list(range(audit[0].seq, audit[0].seq + 3))
    verify_log(db_instance)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # a storage setting SQLite does not have
def test_renewed_pdfs_are_stored_uncompressed_out_of_line_on_postgresql(db_instance) -> None:  # type: ignore[no-untyped-def]
    """Migration 0006_renew_storage: no pglz attempt on already compressed PDF bytes (PostgreSQL only)."""
    assert db_instance.engine.dialect.name == "postgresql"
    with db_instance.engine.connect() as connection:
        storage = connection.scalar(
            text(
                "SELECT attstorage FROM pg_attribute WHERE attrelid = 'licence_versions'::regclass AND attname = 'pdf'"
            )
        )
    assert storage == "e"
