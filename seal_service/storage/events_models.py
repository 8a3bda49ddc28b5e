"""Database models of the supervision link (审管分离): the event outbox, its routes, receivers and findings.

Events are written in the same transaction as the change they report (:mod:`seal_service.events`). Their ``seq``
is taken from the single ``supervision_event_head`` row under a row lock held until commit, so sequence numbers
are gapless and become visible in commit order: a consumer that has read ``seq = n`` never later sees a smaller
one appear (the cursor is safe with several API nodes on one PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from seal_service.storage.models import Base, UtcDateTime


class SupervisionEventHead(Base):
    """The single row holding the last event sequence number; every emit locks it until its commit."""

    __tablename__ = "supervision_event_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


class SupervisionEvent(Base):
    """One CloudEvents 1.0 event as delivered (``envelope`` is the exact JSON text)."""

    __tablename__ = "supervision_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """The cursor: strictly increasing, gapless, in commit order."""
    id: Mapped[str] = mapped_column(String(40), unique=True)
    """CloudEvents ``id`` (also the Standard Webhooks ``webhook-id``); consumers dedupe on it."""
    type: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    """Licence id for licence events, seal id, memorandum or finding id otherwise."""
    time: Mapped[datetime] = mapped_column(UtcDateTime())
    envelope: Mapped[str] = mapped_column(Text)


class SupervisionEventRoute(Base):
    """Which department receives an event (one row per department)."""

    __tablename__ = "supervision_event_routes"

    department: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(ForeignKey("supervision_events.seq"), primary_key=True)


class EventReceiver(Base):
    """A webhook subscription of one department, or the message broker relay (``kind = broker``).

    Each receiver keeps its own cursor: every event up to ``cursor`` was delivered (or dead-lettered). A node
    takes a receiver by a lease (``lease_owner``/``lease_until``, claimed under ``FOR UPDATE SKIP LOCKED`` on
    PostgreSQL), so one node at a time delivers its events, in order.
    """

    __tablename__ = "event_receivers"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    """``webhook`` or ``broker``."""
    department: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    """The subscribing department (None for the broker: it carries every department's events)."""
    url: Mapped[str] = mapped_column(String(2000))
    sealed_secret: Mapped[str | None] = mapped_column(String(300), nullable=True)
    """The Standard Webhooks ``whsec_...`` secret (needed to sign; shown to the department once), encrypted under
    the instance's key passphrase (:mod:`seal_service.events.secret_box`); None for the broker."""
    status: Mapped[str] = mapped_column(String(20), default="active")
    """``active`` or ``disabled``."""
    status_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    """Failed attempts at the event after the cursor."""
    failing_since: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    delivered: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class DeadLetter(Base):
    """An event a receiver could not take within the retry period; replay sends it again."""

    __tablename__ = "event_dead_letters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receiver_id: Mapped[str] = mapped_column(ForeignKey("event_receivers.id"), index=True)
    seq: Mapped[int] = mapped_column(ForeignKey("supervision_events.seq"))
    attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime())


class Finding(Base):
    """A supervision finding (事中事后监管结果) filed by the supervising department about a licence."""

    __tablename__ = "supervision_findings"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), index=True)
    department: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    inspector_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
    filed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    filed_by: Mapped[str] = mapped_column(String(120))
    resolution: Mapped[str | None] = mapped_column(String(20), nullable=True)
    """``suspend``, ``revoke`` or ``none``."""
    resolution_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(120), nullable=True)


class FindingAttachment(Base):
    """A PDF attached to a finding (checked like a sign upload)."""

    __tablename__ = "supervision_finding_attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[str] = mapped_column(ForeignKey("supervision_findings.id"), index=True)
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
