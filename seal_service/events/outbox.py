"""The transactional outbox: CloudEvents 1.0 events written in the transaction of the change they report.

Example::

    >>> with instance.writer.begin() as session:
    ...     licence.status = "revoked"                                   # the change
    ...     record(session, at=now, actor="cli", action="licence.revoke", licence_id=licence.id)
    ...     licence_event(session, instance, licence, EventType.LICENCE_REVOKED, at=now)   # doctest: +SKIP

Either both the change and its event commit, or neither does. The sequence number (the consumers' cursor) is taken
by ``UPDATE supervision_event_head SET last_seq = last_seq + 1 ... RETURNING``: the row lock that UPDATE takes is
held until the transaction ends, so the next event's number can only be taken once this one committed or rolled
back. Numbers are therefore gapless and become visible in increasing order, also with many API nodes on one
PostgreSQL: a consumer that has read ``n`` never afterwards finds a committed event below ``n``. (A PostgreSQL
SEQUENCE would not give that: a transaction holding 7 may commit after one holding 8, and a reader that saw 8
would skip 7 for ever.) Writers that emit are already serialised by the audit chain's head row, so this lock adds
no new waiting; emit flushes the session first so that the audit lock is always taken before this one.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Session

from seal_service.errors import InvalidInput, NotFound
from seal_service.storage.commit_wakeups import CommitWakeups
from seal_service.storage.events_models import SupervisionEvent, SupervisionEventHead, SupervisionEventRoute

if TYPE_CHECKING:
    from seal_service.instance import Instance
    from seal_service.storage.models import Licence

TYPE_PREFIX = "cn.gov.approval."


class EventType(StrEnum):
    """The CloudEvents ``type`` of every supervision event (docs/supervision.md has an example of each)."""

    LICENCE_SEALED = TYPE_PREFIX + "licence.sealed"
    LICENCE_REVOKED = TYPE_PREFIX + "licence.revoked"
    LICENCE_SUSPENDED = TYPE_PREFIX + "licence.suspended"
    LICENCE_REINSTATED = TYPE_PREFIX + "licence.reinstated"
    LICENCE_CANCELLED = TYPE_PREFIX + "licence.cancelled"
    LICENCE_RENEWED = TYPE_PREFIX + "licence.renewed"
    SEAL_RETIRED = TYPE_PREFIX + "seal.retired"
    SEAL_REVOKED = TYPE_PREFIX + "seal.revoked"
    MEMORANDUM_RECORDED = TYPE_PREFIX + "memorandum.recorded"
    CATALOGUE_CHANGED = TYPE_PREFIX + "catalogue.changed"
    FINDING_FILED = TYPE_PREFIX + "finding.filed"
    FINDING_RESOLVED = TYPE_PREFIX + "finding.resolved"


@dataclass(frozen=True)
class EmittedEvent:
    """An event as written to the outbox (visible to consumers once its transaction commits)."""

    seq: int
    """The cursor value: strictly increasing in commit order."""
    id: str
    type: str
    departments: tuple[str, ...]
    envelope: str
    """The exact CloudEvents JSON text every channel delivers."""


def rfc3339(at: datetime) -> str:
    """``2026-12-03T14:05:06.123456Z``: the CloudEvents ``time`` format used throughout."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def json_default(value: object) -> object:
    """JSON for times (RFC 3339, UTC) and dates (ISO), as in every event."""
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# Dispatchers of this process wait on this; emitting transactions mark their session, and its commit wakes them
# (cross-process dispatchers poll, see seal_service.events.dispatcher).
EVENTS_COMMITTED = CommitWakeups("supervision_events")
#: Call a function after each commit that wrote events (this process only); returns its unsubscriber.
on_commit_of_events = EVENTS_COMMITTED.subscribe


# Core statements built once (the ORM's per-call statement handling cost more than the database work).
_HEAD = cast(Table, SupervisionEventHead.__table__)
_NEXT_SEQ = update(_HEAD).where(_HEAD.c.id == 1).values(last_seq=_HEAD.c.last_seq + 1).returning(_HEAD.c.last_seq)
_TAKE_SEQS = (
    update(_HEAD)
    .where(_HEAD.c.id == 1)
    .values(last_seq=_HEAD.c.last_seq + bindparam("count"))
    .returning(_HEAD.c.last_seq)
)
_INSERT_EVENT = insert(cast(Table, SupervisionEvent.__table__))
_INSERT_ROUTE = insert(cast(Table, SupervisionEventRoute.__table__))


def emit(
    session: Session,
    *,
    type: str,
    subject: str | None,
    data: Mapping[str, Any],
    departments: Iterable[str],
    at: datetime,
    source: str,
) -> EmittedEvent:
    """Write one event into the outbox, in ``session``'s transaction (the caller commits or rolls back).

    ``departments``: the authority codes that receive it (pull feed, their webhooks, routing keys on the broker).
    ``type`` must start with ``cn.gov.approval.``; other areas (complaints) add their own types that way.
    """
    (event,) = emit_many(
        session, [EventDraft(type=type, subject=subject, data=data, departments=departments, at=at, source=source)]
    )
    return event


@dataclass(frozen=True)
class EventDraft:
    """One event for :func:`emit_many`: :func:`emit`'s keyword arguments."""

    type: str
    subject: str | None
    data: Mapping[str, Any]
    departments: Iterable[str]
    at: datetime
    source: str


def emit_many(session: Session, drafts: Sequence[EventDraft]) -> list[EmittedEvent]:
    """:func:`emit` for several events, in order: their block of sequence numbers taken by one ``UPDATE ... SET
    last_seq = last_seq + n RETURNING`` (the same head row lock, held until the transaction ends), the events and
    their routes written by one statement each (executemany). Consecutive numbers, in the order of ``drafts``."""
    for draft in drafts:
        if draft.at.tzinfo is None:
            raise InvalidInput("event time must be timezone-aware")
        if not draft.type.startswith(TYPE_PREFIX):
            raise InvalidInput(f"event types start with {TYPE_PREFIX!r}", field="type")
    if not drafts:
        return []
    # The pending change (and its audit entry, which locks the audit chain head) goes to the database first, so
    # every emitting transaction takes the audit lock before the event head lock: no lock-order deadlock.
    session.flush()
    connection = session.connection()
    if len(drafts) == 1:
        last = connection.execute(_NEXT_SEQ).scalar_one()
    else:
        last = connection.execute(_TAKE_SEQS, {"count": len(drafts)}).scalar_one()
    events: list[EmittedEvent] = []
    rows: list[dict[str, Any]] = []
    route_rows: list[dict[str, Any]] = []
    for seq, draft in enumerate(drafts, start=int(last) - len(drafts) + 1):
        routes = sorted({d for d in draft.departments if d})
        event_id = str(uuid.uuid4())
        envelope = {
            "specversion": "1.0",
            "id": event_id,
            "source": draft.source,
            "type": draft.type,
            "subject": draft.subject,
            "time": rfc3339(draft.at),
            "datacontenttype": "application/json",
            "sequence": str(seq),
            "departments": routes,
            "data": draft.data,
        }
        if draft.subject is None:
            del envelope["subject"]
        text = json.dumps(envelope, ensure_ascii=False, separators=(",", ":"), default=json_default)
        rows.append(
            {
                "seq": seq,
                "id": event_id,
                "type": draft.type,
                "subject": draft.subject,
                "time": draft.at,
                "envelope": text,
            }
        )
        route_rows += ({"department": d, "seq": seq} for d in routes)
        events.append(EmittedEvent(seq=seq, id=event_id, type=draft.type, departments=tuple(routes), envelope=text))
    connection.execute(_INSERT_EVENT, rows[0] if len(rows) == 1 else rows)
    if route_rows:
        connection.execute(_INSERT_ROUTE, route_rows)
    EVENTS_COMMITTED.mark(session)
    return events


def event_source(instance: Instance) -> str:
    """The CloudEvents ``source`` of this service's events."""
    return f"{instance.settings.public_url}/v1/supervision"


def licence_data(instance: Instance, licence: Licence, item_name: str | None) -> dict[str, Any]:
    """What a supervisor needs to know about a licence (holder unmasked: supervisors are entitled to it)."""
    base = instance.settings.public_url
    authority = licence.authority
    return {
        "licence_id": licence.id,
        "licence_number": licence.number,
        "identifier": licence.identifier,
        "status": licence.status,
        "item": {"code": licence.item_code, "name": item_name, "licence_type": licence.licence_type},
        "holder": {"name": licence.holder_name, "code": licence.holder_code, "code_type": licence.holder_code_type},
        "validity": {
            "issue_date": licence.issue_date,
            "valid_from": licence.valid_from,
            "valid_until": licence.valid_until,
        },
        "issuing_authority": {"code": authority.code, "name": authority.name, "credit_code": authority.credit_code},
        "seal_id": licence.seal_id,
        "level": licence.level,
        "sealed_at": licence.sealed_at,
        "document_sha256": licence.document_sha256,
        "links": {
            "record": f"{base}/v1/supervision/licences/{licence.id}",
            "pdf": f"{base}/v1/supervision/licences/{licence.id}/pdf",
            "verify": f"{base}/v/{licence.id}",
        },
    }


def licence_routes(instance: Instance, session: Session, licence: Licence) -> tuple[set[str], str | None]:
    """The departments of a licence's event: its item's supervisor in the effective catalogue now, and the
    department owning the seal that sealed it; plus the item's name."""
    catalogue = instance.lifecycle.state(session).catalogue
    departments = {licence.seal.authority.code}
    try:
        item = catalogue.item(licence.item_code)
    except NotFound:
        return departments, None
    departments.add(item.supervisor)
    return departments, item.name


def licence_event(
    session: Session,
    instance: Instance,
    licence: Licence,
    type: EventType | str,
    *,
    at: datetime,
    extra: Mapping[str, Any] | None = None,
    departments: Iterable[str] = (),
) -> EmittedEvent:
    """Emit a licence event (sealed, revoked, suspended, reinstated, renewed, ...) with the licence's data.

    ``extra`` adds keys to ``data`` (a status reason, the previous version of a renewed licence);
    ``departments`` adds receivers to the routed ones.
    """
    routes, item_name = licence_routes(instance, session, licence)
    data = licence_data(instance, licence, item_name)
    if extra:
        data.update(extra)
    return emit(
        session,
        type=str(type),
        subject=licence.id,
        data=data,
        departments=routes | set(departments),
        at=at,
        source=event_source(instance),
    )


def seal_event(
    session: Session,
    instance: Instance,
    *,
    seal_id: str,
    authority_code: str,
    type: EventType,
    at: datetime,
    data: Mapping[str, Any],
) -> EmittedEvent:
    """Emit a seal event to the seal's own department and the supervisors of every item it sealed or seals."""
    catalogue = instance.lifecycle.state(session).catalogue
    routes = {authority_code}
    routes.update(
        i.supervisor for i in catalogue.items.values() if any(p.authority == authority_code for p in i.sealed_by)
    )
    return emit(
        session,
        type=type,
        subject=seal_id,
        data={"seal_id": seal_id, "authority": authority_code, **data},
        departments=routes,
        at=at,
        source=event_source(instance),
    )


def memorandum_recorded(
    session: Session,
    instance: Instance,
    *,
    memorandum: Any,
    retired_seals: Iterable[str],
    retires_on: date | None,
    cut_over_at: datetime,
    at: datetime,
) -> list[EmittedEvent]:
    """Emit the events of a recorded memorandum: ``memorandum.recorded``, ``catalogue.changed`` and one
    ``seal.retired`` per seal it retires. ``memorandum`` is the recorded row (``MemorandumRecord``)."""
    catalogue = instance.lifecycle.state(session).catalogue
    codes = list(memorandum.item_codes)
    supervisors = {catalogue.items[c].supervisor for c in codes if c in catalogue.items}
    parties = {memorandum.department_code, memorandum.bureau_code, *supervisors}
    source = event_source(instance)
    subject = f"memorandum-{memorandum.id}"
    retired = sorted(retired_seals)
    common = {
        "memorandum": memorandum.id,
        "department": memorandum.department_code,
        "bureau": memorandum.bureau_code,
        "effective_on": memorandum.effective_on,
        "cut_over_at": cut_over_at,
    }
    events = [
        emit(
            session,
            type=EventType.MEMORANDUM_RECORDED,
            subject=subject,
            data={
                **common,
                "items": codes,
                "whole_department": memorandum.whole_department,
                "reference": memorandum.reference,
                "retires_seals": retired,
                "retires_on": retires_on,
            },
            departments=parties,
            at=at,
            source=source,
        ),
        emit(
            session,
            type=EventType.CATALOGUE_CHANGED,
            subject=subject,
            data={
                **common,
                "items": [
                    {
                        "code": item.code,
                        "name": item.name,
                        "supervisor": item.supervisor,
                        "sealed_by": [
                            {"authority": p.authority, "from": p.start, "until": p.end, "memorandum": p.memorandum}
                            for p in item.sealed_by
                        ],
                    }
                    for item in (catalogue.items[c] for c in codes if c in catalogue.items)
                ],
            },
            departments=parties,
            at=at,
            source=source,
        ),
    ]
    for seal_id in retired:
        events.append(
            seal_event(
                session,
                instance,
                seal_id=seal_id,
                authority_code=memorandum.department_code,
                type=EventType.SEAL_RETIRED,
                at=at,
                data={**common, "retires_on": retires_on, "successor": memorandum.bureau_code},
            )
        )
    return events
