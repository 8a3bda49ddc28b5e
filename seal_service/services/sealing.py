"""Sealing a licence: policy, a reserved serial, the PAdES signature, the record and its audit entry.

Example::

    >>> sealed = seal_licence(instance, pdf, LicenceRequest(item_code="JC-001", holder_name="晋城市某某餐饮有限公司",
    ...                       seal_id="jc-bureau-approval"), actor="cli", at=now)     # doctest: +SKIP
    >>> sealed.verify_url                                                              # doctest: +SKIP

Order matters for "no half-issued licence": everything that can refuse (input, seal status, catalogue, PDF
checks) runs before a serial is taken; the serial is taken in its own short transaction (a failure later leaves
a gap in the numbering, never a duplicate); the licence row, its PDF bytes and the audit entry are committed
together in one transaction after the signature exists.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.orm import Session

from seal_service.appearance.stamp import StampText
from seal_service.catalogue import CatalogueItem
from seal_service.errors import InvalidInput, NotAuthorised, NotFound, SealNotUsable, SealServiceError
from seal_service.events.outbox import EventType, licence_event
from seal_service.gm import gm_licence_row, gm_material_for, gm_seal_pdf
from seal_service.identifiers import HOLDER_CODE_TYPES, check_holder_code, licence_identifier
from seal_service.instance import Instance
from seal_service.log.leaves import log_licence_sealed, log_licence_status
from seal_service.public.numbering import ensure_number_free, licence_number_guard, reserve_licence_number
from seal_service.services.audit import checkpoint_if_due, record
from seal_service.services.idempotency import ClaimToken, complete_in
from seal_service.services.lifecycle import LifecycleState
from seal_service.signing.documents import inspect_pdf
from seal_service.signing.sealer import PadesLevel, SealMaterial
from seal_service.storage.models import (
    Authority,
    CertificateStatus,
    Licence,
    LicenceDocument,
    LicenceStatus,
    Seal,
    SealCertificate,
    SerialCounter,
)

CHINA_TZ = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class LicenceRequest:
    """What an approval system asks to be sealed."""

    item_code: str
    holder_name: str
    seal_id: str
    level: PadesLevel = PadesLevel.B_LTA
    holder_code: str | None = None
    holder_code_type: str | None = None
    number: str | None = None
    issue_date: date | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    gm: bool = True
    """Dual-seal with the national (SM2) seal when the seal has SM2 material (docs/gm-crypto.md)."""


@dataclass(frozen=True)
class SealedLicence:
    """A licence that has been sealed and recorded."""

    licence_id: str
    identifier: str
    number: str
    verify_url: str
    document_sha256: str
    seal_id: str
    level: PadesLevel
    sealed_at: datetime
    pdf: bytes
    seals: tuple[str, ...] = ("pades",)
    """The seals the licence carries: ``("gm", "pades")`` when dual-sealed."""


def _check_request(request: LicenceRequest) -> None:
    if not request.holder_name or not request.holder_name.strip():
        raise InvalidInput("holder name is required", field="holder_name")
    if len(request.holder_name) > 200:
        raise InvalidInput("holder name is longer than 200 characters", field="holder_name")
    if request.holder_code_type is not None and request.holder_code_type not in HOLDER_CODE_TYPES:
        raise InvalidInput(
            "holder code type must be 111 (ID card number) or 001 (unified social credit code)",
            field="holder_code_type",
        )
    if request.holder_code is not None and request.holder_code_type is None:
        raise InvalidInput("holder code needs its type (111 or 001)", field="holder_code_type")
    if request.holder_code is not None and request.holder_code_type is not None:
        check_holder_code(request.holder_code, request.holder_code_type)
    if request.number is not None and not (1 <= len(request.number) <= 100):
        raise InvalidInput("licence number must have 1 to 100 characters", field="number")
    if request.valid_from and request.valid_until and request.valid_until < request.valid_from:
        raise InvalidInput("validity ends before it starts", field="valid_until")


def _usable_certificate(instance: Instance, seal: Seal, at: datetime, lifecycle: LifecycleState) -> SealCertificate:
    # The status is derived at `at`: revoked or suspended from when that was recorded, retired from the cut-over
    # of the memorandum that moved its department's last item ("seal X retired on 2027-01-01 (memorandum 3 ...)").
    state = instance.lifecycle.seal_state(seal, at=at, state=lifecycle)
    if not state.usable:
        raise SealNotUsable(f"{state.describe()}; it cannot seal", field="seal_id")
    for cert in reversed(seal.certificates):
        if cert.status != CertificateStatus.CURRENT.value or (cert.revoked_at is not None and cert.revoked_at <= at):
            continue
        if cert.not_before <= at < cert.not_after:
            return cert
    raise SealNotUsable(f"seal {seal.id} has no current certificate valid at {at.isoformat()}", field="seal_id")


def _check_authorised(item: CatalogueItem, authority: Authority, at: datetime) -> None:
    """Refuse unless the effective catalogue lets ``authority`` seal ``item`` on the China day of ``at``."""
    day = at.astimezone(CHINA_TZ).date()
    sealing_authority = item.sealing_authority(day)
    if sealing_authority == authority.code:
        return
    who = f"by {sealing_authority}" if sealing_authority else "by nobody"
    refusal = f"item {item.code} is sealed {who} on {day.isoformat()}, not by {authority.code}"
    own = [p for p in item.sealed_by if p.authority == authority.code]
    ended = [p for p in own if p.end is not None and p.end <= day]
    upcoming = [p for p in own if p.start > day]
    if ended:
        last = max(ended, key=lambda p: p.start)
        memo = next((p.memorandum for p in item.sealed_by if p.start == last.end and p.memorandum), None)
        source = f" (memorandum {memo})" if memo else ""
        refusal += f": it moved from {authority.code} on {last.end}{source}"
    elif upcoming:
        refusal += f": it moves to {authority.code} on {min(p.start for p in upcoming).isoformat()}"
    elif authority.kind == "bureau":
        refusal += f": it has not been transferred to {authority.code} (jurisdiction {authority.jurisdiction_code})"
    else:
        refusal += f": {authority.code} does not seal it"
    raise NotAuthorised(refusal, field="seal_id")


def _next_serial(session: Session, authority_id: int, year: int) -> int:
    # An atomic UPDATE ... SET last_value = last_value + 1 serialises concurrent issuers on the row lock,
    # on PostgreSQL and SQLite alike, so serials stay unique without an application lock.
    result = session.execute(
        update(SerialCounter)
        .where(SerialCounter.authority_id == authority_id, SerialCounter.year == year)
        .values(last_value=SerialCounter.last_value + 1)
        .returning(SerialCounter.last_value)
    ).scalar_one_or_none()
    if result is not None:
        return int(result)
    session.add(SerialCounter(authority_id=authority_id, year=year, last_value=1))
    session.flush()
    return 1


def reserve_serial(instance: Instance, authority_id: int, year: int) -> int:
    """Take the next licence serial of an authority for a year, in its own transaction."""
    from sqlalchemy.exc import IntegrityError

    for _ in range(5):
        try:
            with instance.writer.begin() as session:
                return _next_serial(session, authority_id, year)
        except IntegrityError:
            # Two first licences of the year raced to create the counter row; the loser retries the UPDATE.
            continue
    raise RuntimeError("could not reserve a licence serial")


def new_licence_id() -> str:
    """An unguessable public licence id (the QR code's URL must not enumerate licences)."""
    return "L" + secrets.token_hex(10).upper()


def load_material(instance: Instance, seal: Seal, cert: SealCertificate) -> SealMaterial:
    """The sealer's cached material for ``cert``."""
    authority = seal.authority
    return instance.sealer.material(
        seal_id=seal.id,
        certificate_id=cert.id,
        certificate_der=cert.certificate_der,
        key_ref=cert.key_ref,
        seal_png=seal.image_png,
        names=authority.name + seal.name,
    )


def seal_licence(
    instance: Instance,
    pdf: bytes,
    request: LicenceRequest,
    *,
    actor: str,
    at: datetime,
    for_authority_id: int | None = None,
    claim: ClaimToken | None = None,
) -> SealedLicence:
    """Seal ``pdf`` as a licence for ``request`` at time ``at``; record and audit it.

    ``for_authority_id``: the authority the caller acts for (an approval system's API key); the seal must be one of
    that authority's own (:class:`NotAuthorised` otherwise), whatever the catalogue would allow.
    ``claim``: the request's Idempotency-Key claim, completed in the licence's own transaction (nothing is recorded
    if a retry has taken it over).
    """
    if at.tzinfo is None:
        raise InvalidInput("sealing time must be timezone-aware")
    _check_request(request)
    # (1) policy: the item exists in the effective catalogue (policy file + recorded memoranda), the seal exists
    # and is active at `at` (not revoked, not retired at a cut-over), and the catalogue lets it seal the item then.
    with instance.sessions() as session:
        lifecycle = instance.lifecycle.state(session)
        item = lifecycle.catalogue.item(request.item_code)
        seal = session.get(Seal, request.seal_id)
        if seal is None:
            raise NotFound(f"unknown seal {request.seal_id!r}", field="seal_id")
        if for_authority_id is not None and seal.authority_id != for_authority_id:
            raise NotAuthorised(
                f"seal {request.seal_id} belongs to another authority; the caller may use only its own seals",
                field="seal_id",
            )
        authority = seal.authority
        cert = _usable_certificate(instance, seal, at, lifecycle)
        _check_authorised(item, authority, at)
        if request.number is not None:
            ensure_number_free(session, request.number)
        material = load_material(instance, seal, cert)
        authority_id, credit_code, jurisdiction = authority.id, authority.credit_code, authority.jurisdiction_code
        authority_code, certificate_der = authority.code, cert.certificate_der
        seal_name = seal.name
        # The national seal's material in the same session (one query less than a session of its own).
        gm_material = gm_material_for(instance, request.seal_id, at=at, session=session) if request.gm else None
    # (2) the document: a real, intact, unsigned PDF without active content.
    inspect_pdf(pdf, max_bytes=instance.settings.max_upload_bytes)
    # (3) a serial and the identifiers.
    local = at.astimezone(CHINA_TZ)
    serial_value = reserve_serial(instance, authority_id, local.year)
    serial = f"{local.year}{serial_value:07d}"
    identifier = licence_identifier(item.licence_type_code, credit_code, serial, 1)
    licence_id = new_licence_id()
    # Numbers are drawn per jurisdiction (seal_service.public.numbering): unique across the instance.
    number = request.number or reserve_licence_number(instance, jurisdiction, local.year)
    verify_url = f"{instance.settings.public_url}/v/{licence_id}"
    # (4) the signatures: the national seal (its own revision) first, so that the PAdES seal covers it.
    if gm_material is not None:
        pdf, gm_sm3 = gm_seal_pdf(instance, pdf, gm_material, at=at, property_info=f"{licence_id}.pdf")
    sealed = instance.sealer.seal_pdf(
        pdf,
        material=material,
        level=request.level,
        text=StampText(licence_number=number, sealed_at=at, verify_url=verify_url),
        at=at,
        # The national seal's time-stamp came from the same TSA: its certificate goes into the DSS (B-LT/B-LTA).
        national_tsa_certificates=(instance.timestamps.certificate_der,) if gm_material is not None else (),
    )
    digest = hashlib.sha256(sealed).hexdigest()
    # (5) record, document and audit entry in one transaction.
    with licence_number_guard(number), instance.writer.begin() as session:
        session.add(
            Licence(
                id=licence_id,
                identifier=identifier,
                serial=serial,
                number=number,
                authority_id=authority_id,
                seal_id=request.seal_id,
                certificate_id=material.certificate_id,
                item_code=item.code,
                licence_type=item.licence_type,
                licence_type_code=item.licence_type_code,
                holder_name=request.holder_name.strip(),
                holder_code=request.holder_code,
                holder_code_type=request.holder_code_type,
                issue_date=request.issue_date or local.date(),
                valid_from=request.valid_from,
                valid_until=request.valid_until,
                level=request.level.value,
                sealed_at=at,
                document_sha256=digest,
            )
        )
        session.flush()
        session.add(LicenceDocument(licence_id=licence_id, pdf=sealed))
        if gm_material is not None:
            session.add(gm_licence_row(licence_id, gm_material, gm_sm3))
        entry = record(
            session,
            at=at,
            actor=actor,
            action="seal.use",
            seal_id=request.seal_id,
            licence_id=licence_id,
            details={
                "seal": seal_name,
                "item": item.code,
                "identifier": identifier,
                "level": request.level.value,
                "document_sha256": digest,
                "certificate_serial": format(material.certificate.serial_number, "x"),
                "seals": "gm+pades" if gm_material is not None else "pades",
            },
        )
        if claim is not None:
            session.flush()
            complete_in(session, claim, licence_id)
        licence_event(session, instance, session.get(Licence, licence_id), EventType.LICENCE_SEALED, at=at)
        log_licence_sealed(
            session,
            instance.settings,
            licence_id=licence_id,
            document_sha256=digest,
            certificate_der=certificate_der,
            item=item.code,
            authority=authority_code,
            at=at,
        )
    checkpoint_if_due(instance, entry.seq, at=at)
    return SealedLicence(
        licence_id=licence_id,
        identifier=identifier,
        number=number,
        verify_url=verify_url,
        document_sha256=digest,
        seal_id=request.seal_id,
        level=request.level,
        sealed_at=at,
        pdf=sealed,
        seals=("gm", "pades") if gm_material is not None else ("pades",),
    )


def get_licence(instance: Instance, licence_id: str) -> Licence:
    """The licence record with ``licence_id``."""
    with instance.sessions() as session:
        licence = session.get(Licence, licence_id)
        if licence is None:
            raise NotFound(f"unknown licence {licence_id!r}")
        return licence


def get_licence_pdf(instance: Instance, licence_id: str) -> bytes:
    """The sealed PDF bytes exactly as hashed in the record."""
    with instance.sessions() as session:
        doc = session.get(LicenceDocument, licence_id)
        if doc is None:
            raise NotFound(f"unknown licence {licence_id!r}")
        return doc.pdf


__all__ = ["LicenceRequest", "SealedLicence", "get_licence", "get_licence_pdf", "seal_licence"]


class LicenceAction(StrEnum):
    """Changes of a licence's own status (apart from its seal's status)."""

    REVOKE = "revoke"
    SUSPEND = "suspend"
    REINSTATE = "reinstate"
    CANCEL = "cancel"
    """注销 (publicity status 注销): the licence ends without being revoked (given up, holder closed)."""


_TRANSITIONS = {
    LicenceAction.REVOKE: ({LicenceStatus.VALID, LicenceStatus.SUSPENDED}, LicenceStatus.REVOKED),
    LicenceAction.SUSPEND: ({LicenceStatus.VALID}, LicenceStatus.SUSPENDED),
    LicenceAction.REINSTATE: ({LicenceStatus.SUSPENDED}, LicenceStatus.VALID),
    LicenceAction.CANCEL: ({LicenceStatus.VALID, LicenceStatus.SUSPENDED}, LicenceStatus.CANCELLED),
}
_DONE = {LicenceAction.CANCEL: "cancelled"}


_STATUS_EVENTS = {
    LicenceAction.REVOKE: EventType.LICENCE_REVOKED,
    LicenceAction.SUSPEND: EventType.LICENCE_SUSPENDED,
    LicenceAction.REINSTATE: EventType.LICENCE_REINSTATED,
    LicenceAction.CANCEL: EventType.LICENCE_CANCELLED,
}


def change_licence_status(
    instance: Instance,
    licence_id: str,
    *,
    action: LicenceAction,
    reason: str,
    authority_id: int | None,
    actor: str,
    at: datetime,
) -> Licence:
    """Revoke, suspend or reinstate a licence; only its issuing authority may (``authority_id``)."""
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise InvalidInput("a reason of 1 to 500 characters is required", field="reason")
    with instance.writer.begin() as session:
        licence = session.get(Licence, licence_id)
        if licence is None:
            raise NotFound(f"unknown licence {licence_id!r}")
        if authority_id is not None and licence.authority_id != authority_id:
            # Same answer as an unknown id: one authority's system cannot probe another's licences.
            raise NotFound(f"unknown licence {licence_id!r}")
        apply_licence_status(session, instance, licence, action=action, reason=reason, actor=actor, at=at)
        return licence


def apply_licence_status(
    session: Session,
    instance: Instance,
    licence: Licence,
    *,
    action: LicenceAction,
    reason: str,
    actor: str,
    at: datetime,
) -> None:
    """The status change of :func:`change_licence_status` inside the caller's transaction: the new status, its
    audit entry, its supervision event and its issuance-log entry (the caller commits them together, with whatever
    else it records, or none of them). ``reason`` is already checked."""
    allowed_from, target = _TRANSITIONS[action]
    if LicenceStatus(licence.status) not in allowed_from:
        done = _DONE.get(action, f"{action.value}d")
        raise InvalidDocumentState(f"a {licence.status} licence cannot be {done}")
    licence.status = target.value
    licence.status_reason = reason
    licence.status_changed_at = at
    record(
        session,
        at=at,
        actor=actor,
        action=f"licence.{action.value}",
        seal_id=licence.seal_id,
        licence_id=licence.id,
        details={"status": target.value},
    )
    licence_event(session, instance, licence, _STATUS_EVENTS[action], at=at, extra={"reason": reason})
    log_licence_status(
        session,
        instance.settings,
        licence_id=licence.id,
        action=action.value,
        authority=licence.authority.code,
        at=at,
    )
    session.flush()


class InvalidDocumentState(SealServiceError):
    """The licence is not in a state that allows the requested change."""

    status = 409
    slug = "licence-state"
    title = "Licence status does not allow this change"
