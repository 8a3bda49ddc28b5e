"""Receivers of events: webhook subscriptions of departments, and the broker relay.

Example::

    >>> issued = create_subscription(instance, department="jc-market", url="https://jc-market.example/hook",
    ...                              at=now, actor="cli")                       # doctest: +SKIP
    >>> issued.secret                                                           # doctest: +SKIP
    'whsec_...'
    >>> replay(instance, issued.id, after=0, at=now, actor="cli")               # doctest: +SKIP

Every change is audited. A new subscription starts after the newest event (``after`` to start earlier); ``replay``
moves its cursor back so the events after it are delivered again (same ids: receivers dedupe).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seal_service.errors import InvalidInput, NotFound
from seal_service.events.secret_box import SecretBox
from seal_service.events.signing import new_secret
from seal_service.services.audit import record
from seal_service.storage.events_models import (
    DeadLetter,
    EventReceiver,
    SupervisionEvent,
    SupervisionEventHead,
    SupervisionEventRoute,
)
from seal_service.storage.models import Authority

if TYPE_CHECKING:
    from seal_service.instance import Instance

BROKER_ID = "broker"


@dataclass(frozen=True)
class IssuedSubscription:
    """A new webhook subscription; ``secret`` is shown once."""

    id: str
    department: str
    url: str
    secret: str
    cursor: int


@dataclass(frozen=True)
class ReceiverStatus:
    """Where a receiver stands."""

    id: str
    kind: str
    department: str | None
    url: str
    status: str
    status_reason: str | None
    cursor: int
    """Every event up to here was delivered or dead-lettered."""
    backlog: int
    """Events routed to it after the cursor."""
    delivered: int
    attempts: int
    failing_since: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    dead_letters: tuple[int, ...]
    """Sequence numbers given up on (replay them with ``replay``)."""


def _check_url(url: str) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range, which the poster would meet later
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname or len(url) > 2000:
        raise InvalidInput(
            "the URL must be an absolute http(s) URL (valid host and port) of at most 2000 characters", field="url"
        )
    return url


def last_seq(session: Session) -> int:
    """The newest committed sequence number."""
    return int(session.scalar(select(SupervisionEventHead.last_seq).where(SupervisionEventHead.id == 1)) or 0)


def create_subscription(
    instance: Instance, *, department: str, url: str, at: datetime, actor: str, after: int | None = None
) -> IssuedSubscription:
    """Subscribe ``department``'s endpoint ``url``; deliveries start after event ``after`` (default: the newest)."""
    url = _check_url(url)
    if after is not None and after < 0:
        raise InvalidInput("the cursor is a sequence number >= 0", field="after")
    secret = new_secret()
    receiver_id = "wh_" + secrets.token_hex(6)
    # Stored encrypted (a database dump alone does not give it); shown in plain to the caller once.
    sealed = SecretBox(instance.settings.passphrase()).seal(secret, receiver_id=receiver_id)
    with instance.writer.begin() as session:
        if session.scalar(select(Authority.id).where(Authority.code == department)) is None:
            raise NotFound(f"unknown authority {department!r}", field="department")
        newest = last_seq(session)
        if after is not None and after > newest:
            raise InvalidInput(f"there is no event {after} yet (the newest is {newest})", field="after")
        cursor = newest if after is None else after
        session.add(
            EventReceiver(
                id=receiver_id,
                kind="webhook",
                department=department,
                url=url,
                sealed_secret=sealed,
                status="active",
                cursor=cursor,
                attempts=0,
                delivered=0,
                created_at=at,
            )
        )
        record(
            session,
            at=at,
            actor=actor,
            action="subscription.create",
            details={"subscription": receiver_id, "department": department, "url": url, "cursor": cursor},
        )
    return IssuedSubscription(id=receiver_id, department=department, url=url, secret=secret, cursor=cursor)


def ensure_broker_receiver(instance: Instance, *, at: datetime) -> None:
    """Create the broker relay's row (cursor at the newest event) the first time a broker URL is configured."""
    url = instance.settings.broker_url
    if not url:
        return
    with instance.writer.begin() as session:
        row = session.get(EventReceiver, BROKER_ID)
        parts = urlsplit(url)
        host = f"{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
        shown = parts._replace(netloc=host).geturl()  # never store the credentials
        if row is None:
            session.add(
                EventReceiver(
                    id=BROKER_ID,
                    kind="broker",
                    department=None,
                    url=shown,
                    status="active",
                    cursor=last_seq(session),
                    attempts=0,
                    delivered=0,
                    created_at=at,
                )
            )
            record(
                session, at=at, actor="dispatcher", action="subscription.create", details={"subscription": BROKER_ID}
            )


def _backlog(session: Session, row: EventReceiver) -> int:
    if row.kind == "broker":
        query = select(func.count()).select_from(SupervisionEvent).where(SupervisionEvent.seq > row.cursor)
    else:
        query = (
            select(func.count())
            .select_from(SupervisionEventRoute)
            .where(SupervisionEventRoute.department == row.department, SupervisionEventRoute.seq > row.cursor)
        )
    return int(session.scalar(query) or 0)


def _status(session: Session, row: EventReceiver) -> ReceiverStatus:
    dead = session.scalars(
        select(DeadLetter.seq).where(DeadLetter.receiver_id == row.id).order_by(DeadLetter.seq)
    ).all()
    return ReceiverStatus(
        id=row.id,
        kind=row.kind,
        department=row.department,
        url=row.url,
        status=row.status,
        status_reason=row.status_reason,
        cursor=row.cursor,
        backlog=_backlog(session, row),
        delivered=row.delivered,
        attempts=row.attempts,
        failing_since=row.failing_since,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        dead_letters=tuple(int(s) for s in dead),
    )


def receiver_status(instance: Instance, receiver_id: str | None = None) -> list[ReceiverStatus]:
    """Status of one receiver, or of all (oldest first)."""
    with instance.sessions() as session:
        query = select(EventReceiver).order_by(EventReceiver.created_at, EventReceiver.id)
        if receiver_id is not None:
            query = query.where(EventReceiver.id == receiver_id)
        rows = session.scalars(query).all()
        if receiver_id is not None and not rows:
            raise NotFound(f"unknown subscription {receiver_id!r}", field="subscription")
        return [_status(session, r) for r in rows]


def _change(instance: Instance, receiver_id: str, *, at: datetime, actor: str, action: str, **values: object) -> None:
    with instance.writer.begin() as session:
        row = session.get(EventReceiver, receiver_id)
        if row is None:
            raise NotFound(f"unknown subscription {receiver_id!r}", field="subscription")
        for name, value in values.items():
            setattr(row, name, value)
        record(
            session,
            at=at,
            actor=actor,
            action=action,
            details={"subscription": receiver_id, **{k: v for k, v in values.items() if k in ("cursor", "status")}},
        )


def replay(instance: Instance, receiver_id: str, *, after: int, at: datetime, actor: str) -> None:
    """Deliver every event after ``after`` again (dead letters included), in order."""
    if after < 0:
        raise InvalidInput("the cursor is a sequence number >= 0", field="after")
    with instance.sessions() as session:
        if after > last_seq(session):
            raise InvalidInput(f"there is no event {after} yet", field="after")
    _change(
        instance,
        receiver_id,
        at=at,
        actor=actor,
        action="subscription.replay",
        cursor=after,
        attempts=0,
        failing_since=None,
        next_attempt_at=None,
    )


def disable(instance: Instance, receiver_id: str, *, reason: str, at: datetime, actor: str) -> None:
    """Stop delivering to a receiver (its cursor stays; ``enable`` resumes from it)."""
    _change(
        instance,
        receiver_id,
        at=at,
        actor=actor,
        action="subscription.disable",
        status="disabled",
        status_reason=reason,
    )


def enable(instance: Instance, receiver_id: str, *, at: datetime, actor: str) -> None:
    """Resume deliveries from the cursor, with the retry state cleared."""
    _change(
        instance,
        receiver_id,
        at=at,
        actor=actor,
        action="subscription.enable",
        status="active",
        status_reason=None,
        attempts=0,
        failing_since=None,
        next_attempt_at=None,
    )
