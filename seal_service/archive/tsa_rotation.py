"""TSA key rotation: a new key and certificate for the time-stamp authority; the old certificate stays published.

Example::

    >>> rotation = rotate_tsa(instance, at=now, actor="officer:alice", request_id="REQ-…")   # doctest: +SKIP
    >>> rotation.new_serial, rotation.not_after                                             # doctest: +SKIP

Executed only through dual control (``seal-service tsa rotate`` files a request; a second security officer
approves it with ``seal-service requests approve``), like seal key rotation. The retired certificate keeps being
served (``/pki/tsa-{serial}.cer``, the trust bundle's ``pki`` section as ``tsa-{serial}``) because every
time-stamp it made must stay verifiable; its key simply signs no more. Archive renewal
(:mod:`seal_service.archive.renewal`) uses the new key from its next licence on.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from seal_service.errors import ConfigurationError
from seal_service.pki.certificates import build_tsa_certificate
from seal_service.services.audit import record
from seal_service.storage.archive_models import RetiredTsaCertificate
from seal_service.storage.models import PkiCertificate

if TYPE_CHECKING:
    from seal_service.instance import Instance


#: What a dual-control request for a TSA rotation names in place of a seal id.
TSA_TARGET = "tsa"


@dataclass(frozen=True)
class TsaRotation:
    """The outcome of one TSA rotation."""

    old_serial: str
    new_serial: str
    not_after: datetime
    """Expiry of the new TSA certificate."""
    key_ref: str

    def as_result(self) -> dict[str, str]:
        """JSON for the dual-control request's result."""
        return {
            "old_serial": self.old_serial,
            "new_serial": self.new_serial,
            "not_after": self.not_after.isoformat(),
            "key_ref": self.key_ref,
        }


def retired_tsa_certificates(instance: Instance) -> list[x509.Certificate]:
    """Every TSA certificate retired by rotation, oldest first."""
    with instance.sessions() as session:
        ders = session.scalars(select(RetiredTsaCertificate.certificate_der).order_by(RetiredTsaCertificate.retired_at))
        return [x509.load_der_x509_certificate(der) for der in ders]


def rotate_tsa(instance: Instance, *, at: datetime, actor: str, request_id: str | None = None) -> TsaRotation:
    """Issue a new TSA key and certificate (lifetime ``SEAL_TSA_CERTIFICATE_DAYS``) and make it current."""
    from seal_service.instance import PkiRole
    from seal_service.services.bootstrap import _new_key

    settings = instance.settings
    root = instance.pki.certificate(PkiRole.ROOT)
    root_key = instance.pki.key(PkiRole.ROOT)
    ref, key = _new_key(instance, f"pki-tsa-{at:%Y%m%d%H%M%S}-{secrets.token_hex(3)}", settings.key_algorithm)
    cert = build_tsa_certificate(
        key=key,
        issuer=root,
        issuer_key=root_key,
        at=at,
        urls=instance.urls,
        validity=timedelta(days=settings.tsa_certificate_days),
    )
    new_serial = format(cert.serial_number, "x")
    with instance.writer.begin() as session:
        row = session.scalars(
            select(PkiCertificate).where(PkiCertificate.role == PkiRole.TSA.value).with_for_update()
        ).one_or_none()
        if row is None:
            raise ConfigurationError("the instance has no TSA certificate; run `seal-service init` first")
        old = x509.load_der_x509_certificate(row.certificate_der)
        session.add(
            RetiredTsaCertificate(
                serial_number=row.serial_number,
                certificate_der=row.certificate_der,
                key_ref=row.key_ref,
                not_after=old.not_valid_after_utc,
                retired_at=at,
                successor_serial=new_serial,
            )
        )
        old_serial = row.serial_number
        row.serial_number = new_serial
        row.certificate_der = cert.public_bytes(serialization.Encoding.DER)
        row.key_ref = ref
        row.created_at = at
        session.flush()
        record(
            session,
            at=at,
            actor=actor,
            action="tsa.rotate",
            details={
                "request": request_id,
                "old_serial": old_serial,
                "new_serial": new_serial,
                "not_after": cert.not_valid_after_utc.isoformat(),
                "key_ref": ref,
            },
        )
    instance.reset_caches()
    return TsaRotation(old_serial=old_serial, new_serial=new_serial, not_after=cert.not_valid_after_utc, key_ref=ref)
