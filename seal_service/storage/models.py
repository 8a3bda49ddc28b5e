"""Database models of the seal registry (SQLAlchemy 2, typed).

Authorities own seals; a seal has several certificates over its life (one current); licences record every
sealed document with the SHA-256 of the exact bytes handed out. The schema is created and changed only by
Alembic migrations (``seal_service/migrations``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC; SQLite (which drops the offset) reads back as UTC too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; times must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable migration names)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SealStatus(StrEnum):
    """Lifecycle of a seal: active, retired at a memorandum cut-over, or revoked (compromise)."""

    ACTIVE = "active"
    RETIRED = "retired"
    REVOKED = "revoked"
    SUSPENDED = "suspended"


class CertificateStatus(StrEnum):
    """Status of one seal certificate."""

    CURRENT = "current"
    SUPERSEDED = "superseded"
    REVOKED = "revoked"


class LicenceStatus(StrEnum):
    """Status of an issued licence, apart from the status of the seal that sealed it."""

    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    CANCELLED = "cancelled"
    """注销: ended by the authority (the holder gave it up, closed down, or it lapsed); not in force, never again."""


class Authority(Base):
    """A bureau or department that owns seals."""

    __tablename__ = "authorities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    jurisdiction_code: Mapped[str] = mapped_column(String(6))
    credit_code: Mapped[str] = mapped_column(String(18), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    seals: Mapped[list[Seal]] = relationship(back_populates="authority")


class Seal(Base):
    """An electronic seal (电子印章) of an authority."""

    __tablename__ = "seals"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    seal_type: Mapped[str] = mapped_column(String(40))
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    status: Mapped[str] = mapped_column(String(20), default=SealStatus.ACTIVE.value)
    status_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    status_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    image_png: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    authority: Mapped[Authority] = relationship(back_populates="seals")
    certificates: Mapped[list[SealCertificate]] = relationship(back_populates="seal", order_by="SealCertificate.id")


class SealCertificate(Base):
    """One certificate of a seal; the key is referenced (``file:...``, ``pkcs11:...``), never stored here."""

    __tablename__ = "seal_certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seal_id: Mapped[str] = mapped_column(ForeignKey("seals.id"))
    serial_number: Mapped[str] = mapped_column(String(64), unique=True)
    """Certificate serial number, lower-case hex."""
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    key_ref: Mapped[str] = mapped_column(String(300))
    not_before: Mapped[datetime] = mapped_column(UtcDateTime())
    not_after: Mapped[datetime] = mapped_column(UtcDateTime())
    status: Mapped[str] = mapped_column(String(20), default=CertificateStatus.CURRENT.value)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    invalidity_date: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    successor_of: Mapped[int | None] = mapped_column(ForeignKey("seal_certificates.id"), nullable=True)
    """The certificate this one replaced at a rotation (None for a seal's first certificate)."""
    superseded_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    """When a rotation made another certificate current; a superseded certificate still validates old seals."""

    seal: Mapped[Seal] = relationship(back_populates="certificates")


class PkiCertificate(Base):
    """A certificate of the service's own PKI: root, seal CA, TSA, OCSP responder."""

    __tablename__ = "pki_certificates"

    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    serial_number: Mapped[str] = mapped_column(String(64), unique=True)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    key_ref: Mapped[str] = mapped_column(String(300))
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revocation_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CrlCounter(Base):
    """The last CRL number issued by each CA (CRL numbers increase monotonically)."""

    __tablename__ = "crl_counters"

    issuer_role: Mapped[str] = mapped_column(String(40), primary_key=True)
    last_number: Mapped[int] = mapped_column(BigInteger, default=0)


class SerialCounter(Base):
    """Licence serial numbers, per authority and year."""

    __tablename__ = "serial_counters"

    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger, default=0)


class Licence(Base):
    """A sealed electronic licence (电子证照)."""

    __tablename__ = "licences"
    __table_args__ = (UniqueConstraint("authority_id", "serial", name="uq_licences_authority_serial"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    """Public, unguessable id; the QR code opens ``{public url}/v/{id}``."""
    identifier: Mapped[str] = mapped_column(String(120), unique=True)
    """GB/T 36904 electronic licence identifier with its check character."""
    serial: Mapped[str] = mapped_column(String(20))
    number: Mapped[str] = mapped_column(String(100))
    """Licence number printed on the licence (证照编号)."""
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    seal_id: Mapped[str] = mapped_column(ForeignKey("seals.id"))
    certificate_id: Mapped[int] = mapped_column(ForeignKey("seal_certificates.id"))
    item_code: Mapped[str] = mapped_column(String(64))
    licence_type: Mapped[str] = mapped_column(String(100))
    licence_type_code: Mapped[str] = mapped_column(String(40))
    holder_name: Mapped[str] = mapped_column(String(200))
    holder_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    holder_code_type: Mapped[str | None] = mapped_column(String(3), nullable=True)
    """111 = resident ID card number, 001 = unified social credit code."""
    issue_date: Mapped[date] = mapped_column(Date)
    valid_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    valid_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    level: Mapped[str] = mapped_column(String(10))
    sealed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    document_sha256: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20), default=LicenceStatus.VALID.value)
    status_reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    status_changed_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    log_index: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """Index of the licence's "sealed" entry in the issuance log, once sequenced (seal_service.log)."""

    seal: Mapped[Seal] = relationship()
    authority: Mapped[Authority] = relationship()


class LicenceDocument(Base):
    """The sealed PDF bytes exactly as handed out (kept apart so licence queries stay light)."""

    __tablename__ = "licence_documents"

    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), primary_key=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)


class AuditEntry(Base):
    """One audited event: who used which seal for what, or changed what. Never a secret."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    seal_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    licence_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    details: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    seq: Mapped[int | None] = mapped_column(BigInteger, unique=True, nullable=True)
    """Position in the hash chain (1, 2, ...); set on insert (seal_service.storage.keys_models)."""
    prev_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    entry_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """SHA-256(prev_hash || canonical JSON of this entry), hex."""


# Supervision events, receivers and findings (seal_service.events).
from seal_service.storage import archive_models as _archive_models  # noqa: E402, F401
from seal_service.storage import events_models as _events_models  # noqa: E402, F401
from seal_service.storage import gm_models as _gm_models  # noqa: E402, F401

# The audit hash chain hooks into AuditEntry inserts; importing it here makes sure it is always registered.
from seal_service.storage import jobs_models as _jobs_models  # noqa: E402, F401
from seal_service.storage import keys_models as _keys_models  # noqa: E402, F401
from seal_service.storage import log_models as _log_models  # noqa: E402, F401
from seal_service.storage import public_models as _public_models  # noqa: E402, F401
