"""Database models of callers: API keys (stored as hashes only) and idempotency records of the sign API."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from seal_service.storage.models import Base, UtcDateTime


class ApiKey(Base):
    """An API key of one caller: an approval system bound to an authority, or a staff role."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    """Public key id (``k_...``); the secret part is never stored, only its SHA-256."""
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    authority_id: Mapped[int | None] = mapped_column(ForeignKey("authorities.id"), nullable=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class IdempotencyRecord(Base):
    """The outcome of a sign request under an ``Idempotency-Key``, per caller."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("api_key_id", "key", name="uq_idempotency_records_caller_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    api_key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"))
    key: Mapped[str] = mapped_column(String(200))
    request_sha256: Mapped[str] = mapped_column(String(64))
    """Hash over the request fields and the PDF bytes: the same key with another body is refused."""
    licence_id: Mapped[str | None] = mapped_column(ForeignKey("licences.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    response_json: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    holder: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """The process sealing under this claim (``host:pid:start``); see :mod:`seal_service.services.idempotency`."""
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    """Until when the holder may keep the claim without completing it; after that a retry may take it over."""
