"""Database models of archive renewal: the renewed versions of a licence's PDF and the TSA certificates retired by
rotation.

A licence's **version 1** is the document as issued: its bytes stay in ``licence_documents`` and its SHA-256 in
``licences.document_sha256``, untouched for ever. Every archive renewal (a DSS update plus a new document
time-stamp, appended as an incremental update) adds one row here, version 2, 3, ... with the whole new PDF, its
SHA-256 and the time. Keeping version 1 where it always was means no licence's bytes are stored twice and nothing
about sealing changes; the newest row (or version 1 when there is none) is what ``GET /v1/licences/{id}/pdf``
serves.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from seal_service.storage.models import Base, UtcDateTime


class LicenceVersion(Base):
    """One renewed version of a licence's PDF (version >= 2); version 1 is the issued document."""

    __tablename__ = "licence_versions"

    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    """2, 3, ...: the primary key makes a second "version 2" of the same licence impossible."""
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of ``pdf``, hex."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    """When the renewal's document time-stamp was made."""
    verifiable_until: Mapped[datetime] = mapped_column(UtcDateTime())
    """Expiry of the new document time-stamp's TSA certificate: when this version needs renewing."""
    tsa_serial: Mapped[str] = mapped_column(String(64))
    """Serial (hex) of the TSA certificate that made the new document time-stamp."""


class RetiredTsaCertificate(Base):
    """A TSA certificate replaced by ``seal-service tsa rotate``; still published so old time-stamps verify."""

    __tablename__ = "retired_tsa_certificates"

    serial_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    key_ref: Mapped[str] = mapped_column(String(300))
    """Reference of the retired key (kept for the record; it no longer signs)."""
    not_after: Mapped[datetime] = mapped_column(UtcDateTime())
    retired_at: Mapped[datetime] = mapped_column(UtcDateTime())
    successor_serial: Mapped[str] = mapped_column(String(64))
