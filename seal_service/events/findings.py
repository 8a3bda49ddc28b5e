"""Findings back (事中事后监管结果): the supervising department files, the bureau resolves; both are events.

Example::

    >>> finding = file_finding(instance, department="jc-market", licence_id="L...",
    ...                        kind=FindingKind.VIOLATION_FOUND, text="现场检查发现...",
    ...                        at=now, actor="k1")                                        # doctest: +SKIP
    >>> resolve_finding(instance, finding.id, action=Resolution.SUSPEND, reason="责令停业整改",
    ...                 at=now, actor="cli")                                                     # doctest: +SKIP

Only the department that supervises the licence's item (effective catalogue, now) may file about it. A resolution
that suspends or revokes goes through the licence-status path every other status change takes
(:func:`seal_service.services.sealing.apply_licence_status`: audited, with its own event and log entry), in the
same transaction as the resolution itself, its audit entry and the ``finding.resolved`` event back to the
department: all of them commit, or none does.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from seal_service.errors import InvalidInput, NotAuthorised, NotFound, StateConflict
from seal_service.events.outbox import EventType, emit, event_source
from seal_service.services.audit import record
from seal_service.signing.documents import inspect_pdf
from seal_service.storage.events_models import Finding, FindingAttachment
from seal_service.storage.models import Licence, LicenceStatus

if TYPE_CHECKING:
    from seal_service.instance import Instance

MAX_ATTACHMENTS = 5
MAX_TEXT = 5000


class FindingKind(StrEnum):
    """What the inspection found."""

    INSPECTION_PASSED = "inspection-passed"
    RECTIFICATION_ORDERED = "rectification-ordered"
    VIOLATION_FOUND = "violation-found"
    SUSPENSION_RECOMMENDED = "suspension-recommended"
    REVOCATION_RECOMMENDED = "revocation-recommended"


class Resolution(StrEnum):
    """What the bureau did about a finding."""

    SUSPEND = "suspend"
    REVOKE = "revoke"
    NONE = "none"


@dataclass(frozen=True)
class Attachment:
    """A PDF handed in with a finding."""

    filename: str
    pdf: bytes


@dataclass(frozen=True)
class AttachmentView:
    """An attachment as listed."""

    filename: str
    sha256: str
    size: int


@dataclass(frozen=True)
class FindingView:
    """A finding and, once resolved, its resolution."""

    id: str
    licence_id: str
    licence_number: str
    department: str
    kind: str
    text: str
    inspector_reference: str | None
    status: str
    filed_at: datetime
    filed_by: str
    attachments: tuple[AttachmentView, ...]
    resolution: str | None
    resolution_reason: str | None
    resolved_at: datetime | None
    resolved_by: str | None


def _view(session: Session, row: Finding) -> FindingView:
    licence = session.get(Licence, row.licence_id)
    attachments = session.execute(
        select(FindingAttachment.filename, FindingAttachment.sha256, FindingAttachment.pdf)
        .where(FindingAttachment.finding_id == row.id)
        .order_by(FindingAttachment.id)
    ).all()
    return FindingView(
        id=row.id,
        licence_id=row.licence_id,
        licence_number=licence.number if licence else "",
        department=row.department,
        kind=row.kind,
        text=row.text,
        inspector_reference=row.inspector_reference,
        status=row.status,
        filed_at=row.filed_at,
        filed_by=row.filed_by,
        attachments=tuple(AttachmentView(a.filename, a.sha256, len(a.pdf)) for a in attachments),
        resolution=row.resolution,
        resolution_reason=row.resolution_reason,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
    )


def _finding_data(view: FindingView) -> dict[str, object]:
    return {
        "finding_id": view.id,
        "licence_id": view.licence_id,
        "licence_number": view.licence_number,
        "department": view.department,
        "kind": view.kind,
        "text": view.text,
        "inspector_reference": view.inspector_reference,
        "attachments": [{"filename": a.filename, "sha256": a.sha256, "size": a.size} for a in view.attachments],
        "status": view.status,
        "filed_at": view.filed_at,
        "resolution": view.resolution,
        "resolution_reason": view.resolution_reason,
        "resolved_at": view.resolved_at,
    }


def _check_filing(
    instance: Instance, kind: str, text: str, reference: str | None, attachments: Sequence[Attachment]
) -> FindingKind:
    try:
        parsed = FindingKind(kind)
    except ValueError:
        kinds = ", ".join(k.value for k in FindingKind)
        raise InvalidInput(f"kind must be one of {kinds}", field="kind") from None
    if not text.strip() or len(text) > MAX_TEXT:
        raise InvalidInput(f"the finding needs a text of 1 to {MAX_TEXT} characters", field="text")
    if reference is not None and len(reference) > 200:
        raise InvalidInput("the inspector's reference is longer than 200 characters", field="inspector_reference")
    if len(attachments) > MAX_ATTACHMENTS:
        raise InvalidInput(f"at most {MAX_ATTACHMENTS} attachments", field="attachments")
    for a in attachments:
        if not a.filename or len(a.filename) > 200:
            raise InvalidInput("each attachment needs a file name of at most 200 characters", field="attachments")
        try:
            inspect_pdf(a.pdf, max_bytes=instance.settings.finding_attachment_max_bytes)
        except InvalidInput as exc:
            raise InvalidInput(f"attachment {a.filename!r}: {exc.detail}", field="attachments") from None
    return parsed


def file_finding(
    instance: Instance,
    *,
    department: str,
    licence_id: str,
    kind: str,
    text: str,
    at: datetime,
    actor: str,
    inspector_reference: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> FindingView:
    """Record a finding of ``department`` about a licence of an item it supervises; audited, and an event."""
    parsed = _check_filing(instance, kind, text, inspector_reference, attachments)
    with instance.writer.begin() as session:
        licence = session.get(Licence, licence_id)
        if licence is None:
            raise NotFound(f"unknown licence {licence_id!r}", field="licence_id")
        supervisor = instance.lifecycle.state(session).catalogue.items.get(licence.item_code)
        if supervisor is None or supervisor.supervisor != department:
            raise NotAuthorised(
                f"{department} does not supervise item {licence.item_code} of licence {licence_id}", field="licence_id"
            )
        row = Finding(
            id="F" + secrets.token_hex(8).upper(),
            licence_id=licence_id,
            department=department,
            kind=parsed.value,
            text=text.strip(),
            inspector_reference=inspector_reference,
            status="open",
            filed_at=at,
            filed_by=actor,
        )
        session.add(row)
        session.flush()
        for a in attachments:
            session.add(
                FindingAttachment(
                    finding_id=row.id, filename=a.filename, sha256=hashlib.sha256(a.pdf).hexdigest(), pdf=a.pdf
                )
            )
        session.flush()
        view = _view(session, row)
        record(
            session,
            at=at,
            actor=actor,
            action="finding.file",
            seal_id=licence.seal_id,
            licence_id=licence_id,
            details={
                "finding": row.id,
                "department": department,
                "kind": parsed.value,
                "attachments": len(attachments),
            },
        )
        emit(
            session,
            type=EventType.FINDING_FILED,
            subject=licence_id,
            data=_finding_data(view),
            departments={department, licence.authority.code},
            at=at,
            source=event_source(instance),
        )
    return view


def list_findings(instance: Instance, *, status: str | None = None) -> list[FindingView]:
    """Findings, oldest first; ``status`` ``open`` or ``resolved`` filters."""
    if status not in (None, "open", "resolved"):
        raise InvalidInput("status must be open or resolved", field="status")
    with instance.sessions() as session:
        query = select(Finding).order_by(Finding.filed_at, Finding.id)
        if status is not None:
            query = query.where(Finding.status == status)
        return [_view(session, r) for r in session.scalars(query)]


_TARGET = {Resolution.SUSPEND: LicenceStatus.SUSPENDED, Resolution.REVOKE: LicenceStatus.REVOKED}


def resolve_finding(
    instance: Instance, finding_id: str, *, action: str, reason: str, at: datetime, actor: str
) -> FindingView:
    """Resolve an open finding: suspend or revoke the licence (the usual status path), or no action with a reason."""
    from seal_service.services.sealing import LicenceAction, apply_licence_status

    try:
        resolution = Resolution(action)
    except ValueError:
        raise InvalidInput("action must be suspend, revoke or none", field="action") from None
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise InvalidInput("a reason of 1 to 500 characters is required", field="reason")
    with instance.writer.begin() as session:
        row = session.scalars(select(Finding).where(Finding.id == finding_id).with_for_update()).first()
        if row is None:
            raise NotFound(f"unknown finding {finding_id!r}", field="finding")
        if row.status != "open":
            raise StateConflict(f"finding {finding_id} is already resolved ({row.resolution})")
        licence = session.get(Licence, row.licence_id)
        assert licence is not None
        target = _TARGET.get(resolution)
        # A licence already in the target state (suspended by another path meanwhile) is not changed twice.
        if target is not None and LicenceStatus(licence.status) is not target:
            apply_licence_status(
                session,
                instance,
                licence,
                action=LicenceAction(resolution.value),
                reason=f"finding {finding_id}: {reason}",
                actor=actor,
                at=at,
            )
        row.status, row.resolution, row.resolution_reason = "resolved", resolution.value, reason
        row.resolved_at, row.resolved_by = at, actor
        session.flush()
        view = _view(session, row)
        record(
            session,
            at=at,
            actor=actor,
            action="finding.resolve",
            seal_id=licence.seal_id,
            licence_id=licence.id,
            details={"finding": finding_id, "resolution": resolution.value},
        )
        emit(
            session,
            type=EventType.FINDING_RESOLVED,
            subject=licence.id,
            data=_finding_data(view),
            departments={row.department, licence.authority.code},
            at=at,
            source=event_source(instance),
        )
    return view
