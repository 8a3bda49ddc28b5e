"""Database models of the national-cryptography (国密) seal: the SM2 PKI, each seal's SM2 material and seal
data (SES_Seal), and which licences carry an SES_Signature."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from seal_service.storage.models import Base, UtcDateTime


class GmPkiCertificate(Base):
    """An SM2 service certificate: ``sm2-root`` or ``sm2-seal-ca`` (the seal maker)."""

    __tablename__ = "gm_pki_certificates"

    role: Mapped[str] = mapped_column(String(40), primary_key=True)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    key_ref: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class GmSealMaterial(Base):
    """One generation of a seal's SM2 material: key reference, SM2 seal certificate and the seal data."""

    __tablename__ = "gm_seal_materials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seal_id: Mapped[str] = mapped_column(ForeignKey("seals.id"), index=True)
    generation: Mapped[int] = mapped_column(Integer)
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    key_ref: Mapped[str] = mapped_column(String(300))
    ses_seal_der: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(20), default="current")
    """``current`` or ``superseded`` (a rotation made a newer generation current)."""
    not_before: Mapped[datetime] = mapped_column(UtcDateTime())
    not_after: Mapped[datetime] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class GmLicenceSeal(Base):
    """A licence that carries the national seal (an SES_Signature) besides its PAdES seal."""

    __tablename__ = "gm_licence_seals"

    licence_id: Mapped[str] = mapped_column(ForeignKey("licences.id"), primary_key=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("gm_seal_materials.id"))
    ses_signature_sm3: Mapped[str] = mapped_column(String(64))
    """SM3 of the DER SES_Signature embedded in the licence, hex."""
