"""Certificate status from the registry, served as OCSP responses and CRLs.

The seal CA's CRL lists revoked seal certificates (and a revoked OCSP responder certificate); the root's CRL
lists revoked CA and TSA certificates. CRLs are cached until half their validity has passed or the registry
changes; OCSP answers come from :class:`seal_service.protocols.ocsp.OCSPResponder`, which caches pre-produced
responses.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from sqlalchemy import select

from seal_service.errors import NotFound
from seal_service.protocols.crl import RevokedEntry, build_crl
from seal_service.protocols.ocsp import CertificateStatus, OCSPResponder
from seal_service.storage.models import CrlCounter, PkiCertificate, SealCertificate

if TYPE_CHECKING:
    from seal_service.instance import Instance

CRL_VALIDITY = timedelta(days=7)
OCSP_VALIDITY = timedelta(hours=12)


def _reason(value: str | None) -> x509.ReasonFlags | None:
    if not value:
        return None
    for flag in x509.ReasonFlags:
        if flag.value == value or flag.name.replace("_", "").lower() == value.replace("_", "").lower():
            return flag
    return x509.ReasonFlags.unspecified


class RevocationService:
    """Status of every certificate the instance issued, as OCSP and CRL."""

    def __init__(self, instance: Instance) -> None:
        from seal_service.instance import PkiRole

        self._instance = instance
        self._lock = threading.Lock()
        self._crls: dict[str, tuple[datetime, list[RevokedEntry], bytes]] = {}
        pki = instance.pki
        self.ocsp = OCSPResponder(
            issuer=pki.certificate(PkiRole.SEAL_CA),
            responder_certificate=pki.certificate(PkiRole.OCSP),
            responder_key=pki.key(PkiRole.OCSP),
            status_of=self.status_of,
            validity=OCSP_VALIDITY,
        )

    def status_of(self, serial_number: int) -> CertificateStatus | None:
        """What the registry knows of a certificate issued by the seal CA (None = not ours)."""
        serial = format(serial_number, "x")
        with self._instance.sessions() as session:
            row = session.scalar(select(SealCertificate).where(SealCertificate.serial_number == serial))
            if row is not None:
                return CertificateStatus(
                    serial_number=serial_number,
                    revoked_at=row.revoked_at,
                    reason=_reason(row.revocation_reason),
                )
            pki_row = session.scalar(select(PkiCertificate).where(PkiCertificate.serial_number == serial))
            if pki_row is not None and pki_row.role == "ocsp":
                return CertificateStatus(
                    serial_number=serial_number,
                    revoked_at=pki_row.revoked_at,
                    reason=_reason(pki_row.revocation_reason),
                )
        return None

    def _revoked_entries(self, issuer_role: str) -> list[RevokedEntry]:
        with self._instance.sessions() as session:
            if issuer_role == "seal-ca":
                seal_rows = session.scalars(select(SealCertificate).where(SealCertificate.revoked_at.is_not(None)))
                entries = [
                    RevokedEntry(
                        serial_number=int(r.serial_number, 16),
                        revoked_at=r.revoked_at,  # type: ignore[arg-type]
                        reason=_reason(r.revocation_reason),
                        invalidity_date=r.invalidity_date,
                    )
                    for r in seal_rows
                ]
                roles = ["ocsp"]
            else:
                entries = []
                roles = ["seal-ca", "tsa"]
            pki_rows = session.scalars(
                select(PkiCertificate).where(PkiCertificate.revoked_at.is_not(None), PkiCertificate.role.in_(roles))
            )
            entries += [
                RevokedEntry(
                    serial_number=int(r.serial_number, 16),
                    revoked_at=r.revoked_at,  # type: ignore[arg-type]
                    reason=_reason(r.revocation_reason),
                )
                for r in pki_rows
            ]
        return entries

    def crl(self, issuer_role: str, *, at: datetime) -> bytes:
        """The current DER CRL of ``root`` or ``seal-ca``; a new one (with the next number) when stale."""
        from seal_service.instance import PkiRole

        if issuer_role not in ("root", "seal-ca"):
            raise NotFound(f"no CRL for {issuer_role!r}; there are root and seal-ca")
        # The registry is read on every call (one indexed query) so that a revocation made by another process
        # (the CLI, another API worker) shows at once; only the signed CRL itself is cached.
        entries = self._revoked_entries(issuer_role)
        with self._lock:
            cached = self._crls.get(issuer_role)
            if cached is not None and at < cached[0] and cached[1] == entries:
                return cached[2]
            role = PkiRole(issuer_role)
            with self._instance.writer.begin() as session:
                counter = session.get(CrlCounter, issuer_role)
                if counter is None:
                    counter = CrlCounter(issuer_role=issuer_role, last_number=0)
                    session.add(counter)
                counter.last_number += 1
                number = counter.last_number
            der = build_crl(
                issuer=self._instance.pki.certificate(role),
                issuer_key=self._instance.pki.key(role),
                revoked=entries,
                number=number,
                this_update=at,
                next_update=at + CRL_VALIDITY,
            )
            self._crls[issuer_role] = (at + CRL_VALIDITY / 2, entries, der)
            return der

    def changed(self, serial_number: int | None = None) -> None:
        """Forget cached CRLs and OCSP responses after a status change."""
        with self._lock:
            self._crls.clear()
        self.ocsp.invalidate(serial_number)
