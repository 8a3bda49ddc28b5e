"""Complaints from the public (投诉): filing, routing, status, answers.

Example::

    >>> filed = file_complaint(instance, category="未经许可经营", text="……", licence_ref="140500-20260000001",
    ...                        contact=None, at=now)                                    # doctest: +SKIP
    >>> filed.receipt, filed.route.authority                                           # doctest: +SKIP
    ('TS-7KQ2M-9XD4P', 'jc-market')
    >>> answer_complaint(instance, filed.receipt, answer="已核查……", actor="apikey:k1", at=now)  # doctest: +SKIP

Where a complaint goes is decided in one place, :func:`route_complaint`:

- about a licence's holder (未经许可经营 or 其他, naming a licence) -> the department that supervises the licence's
  item (catalogue ``supervisor``; 审管分离: the bureau approves, the department supervises);
- about the licence record itself (证照信息有误, naming a licence) -> the authority that issued it;
- about the approval service (审批服务问题), or naming no licence -> the bureau (of the licence's jurisdiction, or
  the catalogue's first bureau).

Every step is in the audit log (filing, reading the staff list, answering), never with the complaint's text or the
complainant's contact. The contact is shown only to staff of the authority the complaint is routed to.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from seal_service.catalogue import AuthorityKind, Catalogue
from seal_service.errors import InvalidInput, NotAuthorised, NotFound, StateConflict
from seal_service.events.outbox import TYPE_PREFIX, emit, event_source
from seal_service.instance import Instance
from seal_service.services.audit import record
from seal_service.storage.models import Licence
from seal_service.storage.public_models import ComplaintRecord

MAX_TEXT = 2000
MAX_CONTACT = 200
MAX_ANSWER = 4000
MAX_LICENCE_REF = 120
_RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base 32: no I, L, O, U
_RECEIPT_RE = re.compile(r"^TS-[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Category(StrEnum):
    """What a complaint is about (the four categories of the public form)."""

    WRONG_INFO = "证照信息有误"
    UNLICENSED = "未经许可经营"
    SERVICE = "审批服务问题"
    OTHER = "其他"


#: English names and short codes accepted by the API as well as the Chinese values.
CATEGORY_CODES = {
    "wrong-info": Category.WRONG_INFO,
    "unlicensed": Category.UNLICENSED,
    "service": Category.SERVICE,
    "other": Category.OTHER,
}
CATEGORY_EN = {
    Category.WRONG_INFO: "Wrong licence information",
    Category.UNLICENSED: "Operating without a licence",
    Category.SERVICE: "Approval service problem",
    Category.OTHER: "Other",
}


#: The supervision event of a complaint about a licence's holder (docs/supervision.md).
COMPLAINT_FILED = TYPE_PREFIX + "complaint.filed"


class ComplaintStatus(StrEnum):
    """Where a complaint stands."""

    RECEIVED = "received"
    ANSWERED = "answered"


@dataclass(frozen=True)
class ComplaintRoute:
    """Who handles a complaint, and why."""

    authority: str
    """Authority code (catalogue) that handles it."""
    route: str
    """holder (supervising department), issuer (the licence's issuing authority) or service (the bureau)."""

    @property
    def about_holder(self) -> bool:
        """True for a complaint about a licence's holder: the supervision feed should learn of it."""
        return self.route == "holder"


@dataclass(frozen=True)
class FiledComplaint:
    """A complaint just filed: the receipt code the complainant keeps."""

    receipt: str
    route: ComplaintRoute
    filed_at: datetime


@dataclass(frozen=True)
class ComplaintView:
    """A complaint as its complainant sees it (by receipt) and, with ``contact``, as staff see it."""

    receipt: str
    category: Category
    text: str
    licence_id: str | None
    licence_number: str | None
    filed_at: datetime
    status: ComplaintStatus
    routed_to: str
    routed_to_name: str
    route: str
    answer: str | None
    answered_at: datetime | None
    contact: str | None = None
    """Only in staff views."""

    def to_json(self, *, staff: bool = False) -> dict[str, object]:
        """The complaint as the API returns it (``staff``: with the contact)."""
        body: dict[str, object] = {
            "receipt": self.receipt,
            "category": self.category.value,
            "category_en": CATEGORY_EN[self.category],
            "text": self.text,
            "licence_id": self.licence_id,
            "licence_number": self.licence_number,
            "filed_at": self.filed_at.isoformat(),
            "status": self.status.value,
            "routed_to": self.routed_to,
            "routed_to_name": self.routed_to_name,
            "route": self.route,
            "answer": self.answer,
            "answered_at": self.answered_at.isoformat() if self.answered_at else None,
        }
        if staff:
            body["contact"] = self.contact
        return body


def _bureau_of(catalogue: Catalogue, jurisdiction: str | None) -> str:
    bureaus = [a for a in catalogue.authorities.values() if a.kind is AuthorityKind.BUREAU]
    if not bureaus:
        raise StateConflict("the catalogue names no bureau to take complaints")
    same = [a for a in bureaus if a.jurisdiction == jurisdiction]
    return (same or bureaus)[0].code


def route_complaint(
    category: Category, *, catalogue: Catalogue, item_code: str | None, issuer: str | None, jurisdiction: str | None
) -> ComplaintRoute:
    """Where a complaint goes (the one place routing is decided; rules in the module docstring).

    ``item_code``, ``issuer`` (authority code) and ``jurisdiction`` describe the licence named, all None for none.
    """
    if item_code is not None and category in (Category.UNLICENSED, Category.OTHER):
        item = catalogue.items.get(item_code)
        if item is not None:
            return ComplaintRoute(authority=item.supervisor, route="holder")
    if issuer is not None and category is Category.WRONG_INFO:
        return ComplaintRoute(authority=issuer, route="issuer")
    return ComplaintRoute(authority=_bureau_of(catalogue, jurisdiction), route="service")


def parse_category(value: str | None) -> Category:
    """The category from its Chinese name or its code (wrong-info, unlicensed, service, other)."""
    value = (value or "").strip()
    if value in CATEGORY_CODES:
        return CATEGORY_CODES[value]
    try:
        return Category(value)
    except ValueError:
        names = "、".join(c.value for c in Category)
        raise InvalidInput(
            f"category must be one of {names} (or {', '.join(CATEGORY_CODES)})", field="category"
        ) from None


def _clean(value: str | None, field: str, limit: int, *, required: bool) -> str | None:
    value = (value or "").replace("\r\n", "\n").strip()
    if not value:
        if required:
            raise InvalidInput(f"{field} is required", field=field)
        return None
    if len(value) > limit:
        raise InvalidInput(f"{field} has {len(value)} characters; at most {limit} are allowed", field=field)
    if _CONTROL.search(value):
        raise InvalidInput(f"{field} contains control characters", field=field)
    return value


def _new_receipt() -> str:
    chars = "".join(secrets.choice(_RECEIPT_ALPHABET) for _ in range(10))
    return f"TS-{chars[:5]}-{chars[5:]}"


def _find_licence(session: Session, ref: str) -> Licence | None:
    return session.scalars(
        select(Licence).where(or_(Licence.id == ref, Licence.number == ref, Licence.identifier == ref)).limit(1)
    ).first()


def file_complaint(
    instance: Instance,
    *,
    category: str,
    text: str | None,
    licence_ref: str | None,
    contact: str | None,
    at: datetime,
) -> FiledComplaint:
    """Check, route and store a complaint; nothing is stored when any field is refused."""
    if at.tzinfo is None:
        raise InvalidInput("complaint time must be timezone-aware")
    kind = parse_category(category)
    body = _clean(text, "text", MAX_TEXT, required=True)
    contact_text = _clean(contact, "contact", MAX_CONTACT, required=False)
    ref = _clean(licence_ref, "licence", MAX_LICENCE_REF, required=False)
    catalogue = instance.lifecycle.state().catalogue
    with instance.writer.begin() as session:
        licence = None
        if ref is not None:
            licence = _find_licence(session, ref)
            if licence is None:
                raise InvalidInput(
                    f"no licence with the number, identifier or id {ref!r} is on record", field="licence"
                )
        route = route_complaint(
            kind,
            catalogue=catalogue,
            item_code=licence.item_code if licence else None,
            issuer=licence.authority.code if licence else None,
            jurisdiction=licence.authority.jurisdiction_code if licence else None,
        )
        receipt = _new_receipt()
        complaint = ComplaintRecord(
            receipt=receipt,
            category=kind.value,
            licence_id=licence.id if licence else None,
            text=body,
            contact=contact_text,
            filed_at=at,
            routed_to=route.authority,
            route=route.route,
            status=ComplaintStatus.RECEIVED.value,
        )
        session.add(complaint)
        session.flush()
        record(
            session,
            at=at,
            actor="public",
            action="complaint.file",
            licence_id=licence.id if licence else None,
            details={"receipt": receipt, "category": kind.value, "routed_to": route.authority, "route": route.route},
        )
        if route.about_holder and licence is not None:
            # Outbox: the supervising department learns of a complaint about a holder on its feed, in this
            # transaction (after the audit entry, so locks are taken in the order every writer uses). The
            # complainant's contact stays with the bureau.
            emit(
                session,
                type=COMPLAINT_FILED,
                subject=licence.id,
                data={
                    "receipt": receipt,
                    "category": kind.value,
                    "text": body,
                    "licence_id": licence.id,
                    "licence_number": licence.number,
                    "item_code": licence.item_code,
                    "holder_name": licence.holder_name,
                    "holder_code": licence.holder_code,
                    "routed_to": route.authority,
                },
                departments={route.authority},
                at=at,
                source=event_source(instance),
            )
    return FiledComplaint(receipt=receipt, route=route, filed_at=at)


def _view(session: Session, complaint: ComplaintRecord, catalogue: Catalogue, *, staff: bool) -> ComplaintView:
    number = None
    if complaint.licence_id is not None:
        number = session.scalar(select(Licence.number).where(Licence.id == complaint.licence_id))
    authority = catalogue.authorities.get(complaint.routed_to)
    return ComplaintView(
        receipt=complaint.receipt,
        category=Category(complaint.category),
        text=complaint.text,
        licence_id=complaint.licence_id,
        licence_number=number,
        filed_at=complaint.filed_at,
        status=ComplaintStatus(complaint.status),
        routed_to=complaint.routed_to,
        routed_to_name=authority.name if authority else complaint.routed_to,
        route=complaint.route,
        answer=complaint.answer,
        answered_at=complaint.answered_at,
        contact=complaint.contact if staff else None,
    )


def normalise_receipt(receipt: str) -> str:
    """The receipt code in its canonical form; :class:`NotFound` for anything that cannot be one."""
    value = receipt.strip().upper()
    if not _RECEIPT_RE.match(value):
        raise NotFound("no complaint has this receipt code", field="receipt")
    return value


def complaint_status(instance: Instance, receipt: str) -> ComplaintView:
    """The complaint with ``receipt`` as its complainant sees it (no contact)."""
    receipt = normalise_receipt(receipt)
    catalogue = instance.lifecycle.state().catalogue
    with instance.sessions() as session:
        complaint = session.scalars(select(ComplaintRecord).where(ComplaintRecord.receipt == receipt)).first()
        if complaint is None:
            raise NotFound("no complaint has this receipt code", field="receipt")
        return _view(session, complaint, catalogue, staff=False)


def list_complaints(
    instance: Instance,
    *,
    authority: str | None,
    status: str | None,
    actor: str,
    at: datetime,
    limit: int = 100,
) -> list[ComplaintView]:
    """Complaints routed to ``authority`` (None: all), newest first, with contacts; the reading is audited."""
    if status is not None and status not in {s.value for s in ComplaintStatus}:
        raise InvalidInput("status must be received or answered", field="status")
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000", field="limit")
    catalogue = instance.lifecycle.state().catalogue
    if authority is not None:
        catalogue.authority(authority)
    stmt = select(ComplaintRecord).order_by(ComplaintRecord.filed_at.desc(), ComplaintRecord.id.desc()).limit(limit)
    if authority is not None:
        stmt = stmt.where(ComplaintRecord.routed_to == authority)
    if status is not None:
        stmt = stmt.where(ComplaintRecord.status == status)
    with instance.writer.begin() as session:
        views = [_view(session, c, catalogue, staff=True) for c in session.scalars(stmt)]
        record(
            session,
            at=at,
            actor=actor,
            action="complaint.list",
            details={"authority": authority, "status": status, "count": len(views)},
        )
    return views


def answer_complaint(
    instance: Instance, receipt: str, *, answer: str, actor: str, at: datetime, authority: str | None = None
) -> ComplaintView:
    """Record the answer to a complaint (once). ``authority``: the staff's own authority; a complaint routed
    elsewhere is refused. The answer is public to whoever holds the receipt."""
    text = _clean(answer, "answer", MAX_ANSWER, required=True)
    receipt = normalise_receipt(receipt)
    catalogue = instance.lifecycle.state().catalogue
    with instance.writer.begin() as session:
        complaint = session.scalars(select(ComplaintRecord).where(ComplaintRecord.receipt == receipt)).first()
        if complaint is None:
            raise NotFound("no complaint has this receipt code", field="receipt")
        if authority is not None and complaint.routed_to != authority:
            raise NotAuthorised(
                f"complaint {receipt} is routed to {complaint.routed_to}, not to {authority}", field="receipt"
            )
        if complaint.status == ComplaintStatus.ANSWERED.value:
            raise StateConflict(f"complaint {receipt} has already been answered", field="receipt")
        complaint.status = ComplaintStatus.ANSWERED.value
        complaint.answer = text
        complaint.answered_at = at
        complaint.answered_by = actor
        session.flush()
        view = _view(session, complaint, catalogue, staff=True)
        record(
            session,
            at=at,
            actor=actor,
            action="complaint.answer",
            licence_id=complaint.licence_id,
            details={"receipt": receipt, "routed_to": complaint.routed_to},
        )
    return view
