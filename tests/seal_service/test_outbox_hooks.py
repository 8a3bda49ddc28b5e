"""Changes made by one feature area that others must learn of, in the change's own transaction (outbox first):
an archive renewal is a supervision event and an issuance-log entry; a complaint about a licence's holder is an
event on the supervising department's feed. Both databases; a failing outbox write leaves nothing behind."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from seal_service.archive import ArchiveRenewer, commit_renewal, licence_pdf
from seal_service.public.complaints import COMPLAINT_FILED, file_complaint
from seal_service.storage.events_models import SupervisionEvent, SupervisionEventRoute
from seal_service.storage.log_models import LogEntryRecord, LogPending
from seal_service.storage.models import Licence
from tests.support.archive import seal_blta, stored_versions

RENEWED = "cn.gov.approval.licence.renewed"


def _events(instance, licence_id: str, type_: str) -> list[tuple[int, list[str]]]:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        seqs = session.scalars(
            select(SupervisionEvent.seq).where(SupervisionEvent.subject == licence_id, SupervisionEvent.type == type_)
        ).all()
        return [
            (
                seq,
                sorted(
                    session.scalars(
                        select(SupervisionEventRoute.department).where(SupervisionEventRoute.seq == seq)
                    ).all()
                ),
            )
            for seq in seqs
        ]


def _log_kinds(instance, licence_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        pending = session.scalars(select(LogPending.kind).where(LogPending.licence_id == licence_id)).all()
        done = session.scalars(select(LogEntryRecord.kind).where(LogEntryRecord.licence_id == licence_id)).all()
        return sorted([*pending, *done])


def test_a_renewal_is_an_event_and_a_log_entry(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    licence_id = seal_blta(db_instance, licence_pdf)
    newest, _ = licence_pdf_of(db_instance, licence_id)
    renewed = ArchiveRenewer(db_instance).renew_pdf(newest, at=datetime.now(UTC))
    assert _events(db_instance, licence_id, RENEWED) == []
    version = commit_renewal(db_instance, licence_id, base_version=1, renewed=renewed, at=datetime.now(UTC), actor="t")
    assert version == 2
    events = _events(db_instance, licence_id, RENEWED)
    assert len(events) == 1 and events[0][1], events  # routed to at least the item's supervisor
    assert _log_kinds(db_instance, licence_id) == ["renewed", "sealed"]


def test_a_renewal_whose_log_entry_fails_stores_nothing(db_instance, licence_pdf, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import seal_service.archive.renewal as renewal

    licence_id = seal_blta(db_instance, licence_pdf)
    newest, _ = licence_pdf_of(db_instance, licence_id)
    renewed = ArchiveRenewer(db_instance).renew_pdf(newest, at=datetime.now(UTC))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("log write failed")

    monkeypatch.setattr(renewal, "licence_renewed_entry", broken)
    with pytest.raises(RuntimeError, match="log write failed"):
        commit_renewal(db_instance, licence_id, base_version=1, renewed=renewed, at=datetime.now(UTC), actor="t")
    assert [v for v, _, _ in stored_versions(db_instance, licence_id)] == [1]
    assert _events(db_instance, licence_id, RENEWED) == []
    assert _log_kinds(db_instance, licence_id) == ["sealed"]


def test_a_complaint_about_a_holder_reaches_the_supervising_department(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    licence_id = seal_blta(db_instance, licence_pdf)
    with db_instance.sessions() as session:
        number = session.get(Licence, licence_id).number
    filed = file_complaint(
        db_instance,
        category="unlicensed",
        text="持证人超范围经营",
        licence_ref=number,
        contact="13800000000",
        at=datetime.now(UTC),
    )
    assert filed.route.about_holder
    events = _events(db_instance, licence_id, COMPLAINT_FILED)
    assert [departments for _, departments in events] == [[filed.route.authority]]
    with db_instance.sessions() as session:
        envelope = session.scalar(select(SupervisionEvent.envelope).where(SupervisionEvent.seq == events[0][0]))
    assert filed.receipt in envelope and "13800000000" not in envelope  # the contact stays with the bureau


def test_a_service_complaint_is_not_a_supervision_event(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    licence_id = seal_blta(db_instance, licence_pdf)
    with db_instance.sessions() as session:
        number = session.get(Licence, licence_id).number
    filed = file_complaint(
        db_instance, category="service", text="窗口排队太久", licence_ref=number, contact=None, at=datetime.now(UTC)
    )
    assert not filed.route.about_holder
    assert _events(db_instance, licence_id, COMPLAINT_FILED) == []


def licence_pdf_of(instance, licence_id: str) -> tuple[bytes, object]:  # type: ignore[no-untyped-def]
    """The newest version's bytes and its description."""
    return licence_pdf(instance, licence_id)


def test_a_cancellation_is_an_event_and_a_log_entry(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    from seal_service.services.sealing import LicenceAction, change_licence_status

    licence_id = seal_blta(db_instance, licence_pdf)
    change_licence_status(
        db_instance,
        licence_id,
        action=LicenceAction.CANCEL,
        reason="持证人申请注销",
        authority_id=None,
        actor="test",
        at=datetime.now(UTC),
    )
    assert len(_events(db_instance, licence_id, "cn.gov.approval.licence.cancelled")) == 1
    assert _log_kinds(db_instance, licence_id) == ["cancelled", "sealed"]
