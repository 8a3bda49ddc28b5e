"""Tables of the public face: licence number counters and changes, complaints (migration 0005_public)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from seal_service.storage.models import Base, UtcDateTime


class LicenceNumberCounter(Base):
    """The last licence number drawn in a jurisdiction and year (numbers are unique across the instance)."""

    __tablename__ = "licence_number_counters"

    jurisdiction_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger)


class LicenceNumberChange(Base):
    """A licence whose printed number duplicated an earlier licence's; it is on record under ``number``."""

    __tablename__ = "licence_number_changes"

    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), primary_key=True)
    printed_number: Mapped[str] = mapped_column(String(100), index=True)
    """The number printed on the sealed PDF (shared with ``kept_by``)."""
    number: Mapped[str] = mapped_column(String(100))
    """The number on record (the printed one with a suffix)."""
    kept_by: Mapped[str] = mapped_column(String(40))
    """The earlier licence that kept the printed number."""
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class ComplaintRecord(Base):
    """A complaint filed by the public (投诉), its routing and its answer."""

    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    receipt: Mapped[str] = mapped_column(String(20), unique=True)
    category: Mapped[str] = mapped_column(String(20))
    licence_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    contact: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """Never shown publicly; only staff of the authority it is routed to see it."""
    filed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    routed_to: Mapped[str] = mapped_column(String(64))
    """Authority code (catalogue) that handles it."""
    route: Mapped[str] = mapped_column(String(20))
    """holder (the licence holder: supervising department), issuer (the licence record), service (the bureau)."""
    status: Mapped[str] = mapped_column(String(20))
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    answered_by: Mapped[str | None] = mapped_column(String(120), nullable=True)


class PublicRateCount(Base):
    """Requests of one client (a pseudonymised address) in one fixed window of one limit (migration
    0006_public_limits); shared by every API process and node, pruned once the window has passed."""

    __tablename__ = "public_rate_counts"

    bucket: Mapped[str] = mapped_column(String(20), primary_key=True)
    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)
