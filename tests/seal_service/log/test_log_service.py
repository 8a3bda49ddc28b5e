"""The issuance log in the service: entries written with their change, sequenced exactly once, proofs that verify.

Runs on SQLite and PostgreSQL (``log_instance``).
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from seal_service.log import inclusion_for_licence, sequence_all, sequence_once, signing_key
from seal_service.log.leaves import append_entry
from seal_service.services.sealing import LicenceAction, LicenceRequest, change_licence_status, seal_licence
from seal_service.signing.sealer import PadesLevel
from seal_service.storage.log_models import LogEntryRecord, LogPending, LogState
from seal_service.storage.models import Licence, SealCertificate
from verifier.log_entry import EntryKind, LogEntry, decode_entry, format_time
from verifier.tlog import NoteError, leaf_hash, open_checkpoint, root_of, verify_inclusion


def _seal(instance, pdf: bytes):  # type: ignore[no-untyped-def]
    request = LicenceRequest(
        item_code="JC-001",
        holder_name="晋城市示例餐饮有限公司",
        seal_id="jc-bureau-approval",
        level=PadesLevel.B_B,
        holder_code="11430000006122244L",
        holder_code_type="001",
    )
    return seal_licence(instance, pdf, request, actor="test", at=datetime.now(UTC))


def _count(instance, model) -> int:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_sealing_writes_one_entry_that_the_sequencer_puts_in_a_signed_checkpoint(log_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    sequence_all(log_instance)
    sealed = _seal(log_instance, licence_pdf)
    with log_instance.sessions() as session:
        pending = session.scalars(select(LogPending).where(LogPending.licence_id == sealed.licence_id)).all()
        cert_der = session.scalar(
            select(SealCertificate.certificate_der)
            .join(Licence, Licence.certificate_id == SealCertificate.id)
            .where(Licence.id == sealed.licence_id)
        )
        assert session.get(Licence, sealed.licence_id).log_index is None  # not sequenced yet
    assert len(pending) == 1
    entry = decode_entry(pending[0].entry)
    assert entry == LogEntry(
        kind=EntryKind.SEALED,
        licence=sealed.licence_id,
        document_sha256=sealed.document_sha256,
        certificate_sha256=hashlib.sha256(cert_der).hexdigest(),
        item="JC-001",
        authority=entry.authority,
        at=format_time(sealed.sealed_at),
    )
    result = sequence_once(log_instance, at=datetime.now(UTC))
    assert result.appended == 1
    with log_instance.sessions() as session:
        index = session.get(Licence, sealed.licence_id).log_index
        assert _count(log_instance, LogPending) == 0
    proof = inclusion_for_licence(log_instance, sealed.licence_id)
    assert proof.index == index == result.size - 1
    opened = open_checkpoint(proof.checkpoint, log_key=signing_key(log_instance).verifier)
    verify_inclusion(
        index=proof.index,
        size=opened.checkpoint.size,
        leaf=leaf_hash(proof.entry),
        proof=proof.proof,
        root=opened.checkpoint.root,
    )


def test_status_changes_are_entries_too(log_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    sealed = _seal(log_instance, licence_pdf)
    at = datetime.now(UTC)
    change_licence_status(
        log_instance,
        sealed.licence_id,
        action=LicenceAction.SUSPEND,
        reason="检查",
        authority_id=None,
        actor="test",
        at=at,
    )
    change_licence_status(
        log_instance,
        sealed.licence_id,
        action=LicenceAction.REVOKE,
        reason="吊销",
        authority_id=None,
        actor="test",
        at=at,
    )
    sequence_all(log_instance)
    with log_instance.sessions() as session:
        kinds = session.scalars(
            select(LogEntryRecord.kind)
            .where(LogEntryRecord.licence_id == sealed.licence_id)
            .order_by(LogEntryRecord.idx)
        ).all()
    assert kinds == ["sealed", "suspended", "revoked"]


def test_a_rolled_back_change_leaves_no_entry(log_instance) -> None:  # type: ignore[no-untyped-def]
    before = _count(log_instance, LogPending) + _count(log_instance, LogEntryRecord)
    entry = LogEntry(kind=EntryKind.REVOKED, licence="LROLLBACK", authority="X", at=format_time(datetime.now(UTC)))
    with pytest.raises(RuntimeError), log_instance.writer.begin() as session:
        append_entry(session, entry, licence_id="LROLLBACK")
        raise RuntimeError("the change failed after its entry was written")
    assert _count(log_instance, LogPending) + _count(log_instance, LogEntryRecord) == before


def test_concurrent_sequencers_never_lose_or_duplicate(log_instance) -> None:  # type: ignore[no-untyped-def]
    sequence_all(log_instance)
    start = _count(log_instance, LogEntryRecord)
    entries = [
        LogEntry(kind=EntryKind.REVOKED, licence=f"LC{i:05d}", authority="X", at=format_time(datetime.now(UTC)))
        for i in range(600)
    ]
    errors: list[BaseException] = []

    def writer(part: list[LogEntry]) -> None:
        for e in part:
            with log_instance.writer.begin() as session:
                append_entry(session, e, licence_id=e.licence)

    def sequencer() -> None:
        try:
            for _ in range(30):
                sequence_once(log_instance, at=datetime.now(UTC), max_batch=37)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(entries[i::3],)) for i in range(3)]
    threads += [threading.Thread(target=sequencer) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    sequence_all(log_instance)
    with log_instance.sessions() as session:
        rows = session.execute(select(LogEntryRecord.idx, LogEntryRecord.entry).order_by(LogEntryRecord.idx)).all()
        state = session.get(LogState, 1)
    assert [r.idx for r in rows] == list(range(len(rows)))  # no gaps
    mine = [r.entry for r in rows[start:]]
    assert sorted(mine) == sorted(e.encode() for e in entries)  # each exactly once
    assert state.size == len(rows)
    assert state.root == root_of([leaf_hash(r.entry) for r in rows])  # tiles agree with a fresh computation


def test_a_memorandum_that_retires_a_seal_logs_each_of_its_certificates(log_instance) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from seal_service.memoranda import china_day, cut_over_instant
    from seal_service.services.lifecycle import record_memorandum

    now = datetime.now(UTC)
    day = china_day(now) + timedelta(days=5)
    outcome = record_memorandum(
        log_instance, department="jc-market", bureau="jc-bureau", items=["JC-004"], effective_on=day, at=now, actor="t"
    )
    assert outcome.retired_seals == ("jc-market-approval",)
    sequence_all(log_instance)
    with log_instance.sessions() as session:
        entries = [
            decode_entry(e)
            for e in session.scalars(select(LogEntryRecord.entry).where(LogEntryRecord.kind == "seal-retired"))
        ]
        certs = session.scalars(
            select(SealCertificate.certificate_der).where(SealCertificate.seal_id == "jc-market-approval")
        ).all()
    assert {e.certificate_sha256 for e in entries} == {hashlib.sha256(c).hexdigest() for c in certs}
    assert all(e.seal == "jc-market-approval" and e.authority == "jc-market" for e in entries)
    assert {e.at for e in entries} == {format_time(cut_over_instant(day))}


def test_a_rotated_log_key_signs_the_next_checkpoint_and_the_old_one_stays_published(log_instance) -> None:  # type: ignore[no-untyped-def]
    from seal_service.log import log_verifiers, rotate_log_key

    old = signing_key(log_instance).verifier
    rotate_log_key(log_instance, at=datetime.now(UTC))
    new = signing_key(log_instance).verifier
    assert new != old and new.name == old.name
    entry = LogEntry(kind=EntryKind.REVOKED, licence="LROTATE", authority="X", at=format_time(datetime.now(UTC)))
    with log_instance.writer.begin() as session:
        append_entry(session, entry, licence_id="LROTATE")
    sequence_all(log_instance)
    with log_instance.sessions() as session:
        note = session.get(LogState, 1).checkpoint
        published = log_verifiers(session)
    open_checkpoint(note, log_key=new)
    with pytest.raises(NoteError, match="not signed by a known key"):
        open_checkpoint(note, log_key=old)
    assert published[:2] == [new, old]


def test_a_licence_waiting_for_the_sequencer_is_a_conflict_not_an_absence(log_instance) -> None:  # type: ignore[no-untyped-def]
    from seal_service.errors import NotFound, StateConflict

    entry = LogEntry(
        kind=EntryKind.SEALED,
        licence="LWAITING",
        document_sha256="1" * 64,
        certificate_sha256="2" * 64,
        item="JC-001",
        authority="X",
        at=format_time(datetime.now(UTC)),
    )
    with log_instance.writer.begin() as session:
        append_entry(session, entry, licence_id="LWAITING")
    with pytest.raises(StateConflict, match="not in a checkpoint yet"):
        inclusion_for_licence(log_instance, "LWAITING")
    sequence_all(log_instance)
    assert inclusion_for_licence(log_instance, "LWAITING").entry == entry.encode()
    with pytest.raises(NotFound):
        inclusion_for_licence(log_instance, "LNEVER")
