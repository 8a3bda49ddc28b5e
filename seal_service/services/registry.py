"""The seal registry as operators see it: list seals and their certificates, revoke a seal.

Example::

    >>> [s.id for s in list_seals(instance)]          # doctest: +SKIP
    ['jc-bureau-approval', 'zz-bureau-approval', 'jc-market-approval', 'jc-housing-approval']
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from seal_service.errors import InvalidInput, NotFound
from seal_service.events.outbox import EventType, seal_event
from seal_service.instance import Instance
from seal_service.services.audit import record
from seal_service.services.lifecycle import Revocation
from seal_service.storage.models import CertificateStatus, Seal, SealStatus

REVOCATION_REASONS = {
    "unspecified": x509.ReasonFlags.unspecified,
    "keyCompromise": x509.ReasonFlags.key_compromise,
    "affiliationChanged": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessationOfOperation": x509.ReasonFlags.cessation_of_operation,
}


@dataclass(frozen=True)
class SealCertificateView:
    """One certificate of a seal, as listed."""

    id: int
    serial_number: str
    not_before: datetime
    not_after: datetime
    status: str
    revoked_at: datetime | None
    revocation_reason: str | None
    key_ref: str


@dataclass(frozen=True)
class SealView:
    """A seal as listed by ``seal-service seals list``."""

    id: str
    name: str
    seal_type: str
    status: str
    authority_code: str
    authority_name: str
    authority_kind: str
    jurisdiction_code: str
    credit_code: str
    certificates: tuple[SealCertificateView, ...]


def _view(seal: Seal, status: str | None = None, revocations: dict[int, Revocation | None] | None = None) -> SealView:
    a = seal.authority
    revocations = revocations or {}
    return SealView(
        id=seal.id,
        name=seal.name,
        seal_type=seal.seal_type,
        status=status or seal.status,
        authority_code=a.code,
        authority_name=a.name,
        authority_kind=a.kind,
        jurisdiction_code=a.jurisdiction_code,
        credit_code=a.credit_code,
        certificates=tuple(
            SealCertificateView(
                id=c.id,
                serial_number=c.serial_number,
                not_before=c.not_before,
                not_after=c.not_after,
                status=CertificateStatus.REVOKED.value if revocations.get(c.id) else c.status,
                revoked_at=(r.revoked_at if (r := revocations.get(c.id)) else c.revoked_at),
                revocation_reason=(r.reason.value if r else c.revocation_reason),
                key_ref=c.key_ref,
            )
            for c in seal.certificates
        ),
    )


def list_seals(instance: Instance, *, at: datetime | None = None) -> list[SealView]:
    """Every seal with its authority and certificates, each status as it is at ``at`` (default now).

    The statuses are the ones sealing obeys (:meth:`Lifecycle.seal_state`: revocations and suspensions from when
    they were recorded, retirements derived from the memoranda), so ``seals list`` and ``seals status`` agree; a
    certificate shows ``revoked`` once its explicit or derived (retirement) revocation has taken effect.
    """
    at = at or datetime.now(UTC)
    lifecycle = instance.lifecycle
    with instance.sessions() as session:
        state = lifecycle.state(session)
        seals = session.scalars(
            select(Seal).options(selectinload(Seal.authority), selectinload(Seal.certificates)).order_by(Seal.id)
        ).all()
        views = []
        for seal in seals:
            revocations = {
                c.id: r
                for c in seal.certificates
                if (r := lifecycle.certificate_revocation(c, seal.authority.code, state)) is not None
                and r.revoked_at <= at
            }
            status = lifecycle.seal_state(seal, at=at, state=state).status.value
            views.append(_view(seal, status, revocations))
        return views


def revoke_seal(
    instance: Instance,
    seal_id: str,
    *,
    reason: str,
    at: datetime,
    invalidity_date: datetime | None = None,
    actor: str = "cli",
) -> SealView:
    """Revoke every unrevoked certificate of a seal and mark the seal revoked.

    Revocation is published at once: the OCSP responder and CRLs read the registry on every request.
    """
    if reason not in REVOCATION_REASONS:
        raise InvalidInput(f"unknown reason {reason!r}; use one of {', '.join(REVOCATION_REASONS)}", field="reason")
    if invalidity_date is not None and (invalidity_date.tzinfo is None or invalidity_date > at):
        raise InvalidInput("the invalidity date must be a timezone-aware time not after now", field="invalidity_date")
    with instance.writer.begin() as session:
        seal = session.get(Seal, seal_id)
        if seal is None:
            raise NotFound(f"unknown seal {seal_id!r}", field="seal_id")
        revoked_serials = []
        compromise = REVOCATION_REASONS["keyCompromise"].value
        for cert in seal.certificates:
            if cert.revoked_at is None:
                cert.revoked_at = at
                cert.revocation_reason = REVOCATION_REASONS[reason].value
                cert.invalidity_date = invalidity_date
                cert.status = CertificateStatus.REVOKED.value
                revoked_serials.append(cert.serial_number)
            elif reason == "keyCompromise" and cert.revocation_reason != compromise:
                # A key found compromised after its certificate was revoked for another reason (superseded at a
                # rotation): RFC 5280 lets the reason become keyCompromise, keeping the earlier revocation date,
                # so verifiers can also judge documents sealed before that date by the invalidity date.
                cert.revocation_reason = compromise
                cert.invalidity_date = invalidity_date or at
                revoked_serials.append(cert.serial_number)
        seal.status = SealStatus.REVOKED.value
        seal.status_changed_at = at
        seal.status_reason = reason
        record(
            session,
            at=at,
            actor=actor,
            action="seal.revoke",
            seal_id=seal_id,
            details={
                "reason": reason,
                "certificates": revoked_serials,
                "invalidity_date": invalidity_date.isoformat() if invalidity_date else None,
            },
        )
        seal_event(
            session,
            instance,
            seal_id=seal_id,
            authority_code=seal.authority.code,
            type=EventType.SEAL_REVOKED,
            at=at,
            data={"reason": reason, "certificates": revoked_serials, "invalidity_date": invalidity_date},
        )
        session.flush()
        view = _view(seal)
    instance.revocation.changed()
    instance.sealer.forget()
    return view
