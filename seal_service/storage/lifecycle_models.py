"""Database models of the seal lifecycle: recorded handover memoranda, published CRLs and trust bundles.

Only facts and published artefacts are stored. Everything that follows from them (the effective catalogue, which
seal is retired from when, the cessationOfOperation revocation of a retired seal's certificates) is derived at
the time asked about, by :mod:`seal_service.services.lifecycle`, so a future-dated memorandum takes effect on its
date without anyone acting and nothing can fall out of step.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, Boolean, Date, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from seal_service.storage.models import Base, UtcDateTime


class MemorandumRecord(Base):
    """A handover memorandum (审管衔接备忘录) as recorded: items move from a department to a bureau on a date.

    Append-only: a memorandum is never edited or deleted once recorded.
    """

    __tablename__ = "memoranda"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    department_code: Mapped[str] = mapped_column(String(64), index=True)
    """Authority code (catalogue) of the department whose approval powers move."""
    bureau_code: Mapped[str] = mapped_column(String(64))
    """Authority code of the bureau that takes them over."""
    effective_on: Mapped[date] = mapped_column(Date)
    """Cut-over day: from 00:00 China time (+08:00) of this day the bureau seals the items."""
    item_codes: Mapped[list[str]] = mapped_column(JSON)
    whole_department: Mapped[bool] = mapped_column(Boolean, default=False)
    """True when the memorandum moves every item the department sealed on the cut-over day."""
    reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """Document number of the signed paper memorandum (e.g. 晋审管衔〔2019〕1号)."""
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_by: Mapped[str] = mapped_column(String(120))


class PublishedCrl(Base):
    """A CRL as published at the distribution point; every API node serves the newest one of its issuer."""

    __tablename__ = "published_crls"

    issuer_role: Mapped[str] = mapped_column(String(40), primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    this_update: Mapped[datetime] = mapped_column(UtcDateTime())
    next_update: Mapped[datetime] = mapped_column(UtcDateTime())
    entries_sha256: Mapped[str] = mapped_column(String(64))
    """Digest of the revoked entries listed, to tell whether the registry changed since."""
    der: Mapped[bytes] = mapped_column(LargeBinary)


class TrustBundleRecord(Base):
    """One issued trust bundle; versions increase by one each time the content (or its freshness) changes."""

    __tablename__ = "trust_bundles"

    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime())
    next_update: Mapped[datetime] = mapped_column(UtcDateTime())
    content_sha256: Mapped[str] = mapped_column(String(64))
    """Digest of the payload without version and times: an unchanged registry reuses the bundle while fresh."""
    document: Mapped[bytes] = mapped_column(LargeBinary)
    """The signed bundle exactly as served."""
