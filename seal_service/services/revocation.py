"""Certificate status from the registry, served as OCSP responses and CRLs.

The seal CA's CRL lists revoked seal certificates (and a revoked OCSP responder certificate); the root's CRL
lists revoked CA and TSA certificates. CRLs are cached until half their validity has passed or the registry
changes; OCSP answers come from :class:`seal_service.protocols.ocsp.OCSPResponder`, which caches pre-produced
responses.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from seal_service.errors import NotFound
from seal_service.protocols.crl import RevokedEntry, build_crl
from seal_service.protocols.ocsp import CertificateStatus, OCSPResponder
from seal_service.storage.lifecycle_models import PublishedCrl
from seal_service.storage.models import Authority, CrlCounter, PkiCertificate, Seal, SealCertificate

if TYPE_CHECKING:
    from seal_service.instance import Instance

CRL_VALIDITY = timedelta(days=7)
OCSP_VALIDITY = timedelta(hours=12)


def _reason(value: str | None) -> x509.ReasonFlags | None:
    if not value:
        return None
    # The registry stores ReasonFlags values ("keyCompromise", "cessationOfOperation", ...).
    try:
        return x509.ReasonFlags(value)
    except ValueError:
        return x509.ReasonFlags.unspecified


def _entries_digest(entries: list[RevokedEntry]) -> str:
    text = "\n".join(
        f"{e.serial_number:x} {e.revoked_at.timestamp():.0f} {e.reason.value if e.reason else '-'} "
        f"{e.invalidity_date.timestamp() if e.invalidity_date else '-'}"
        for e in entries
    )
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class _CachedCrl:
    number: int
    this_update: datetime
    next_update: datetime
    fingerprint: str
    der: bytes

    @classmethod
    def of(cls, row: PublishedCrl) -> _CachedCrl:
        return cls(row.number, row.this_update, row.next_update, row.entries_sha256, row.der)

    def serves(self, at: datetime, fingerprint: str) -> bool:
        """Whether this CRL may be handed out at ``at``: it lists what the registry says and is fresh."""
        # Whole seconds: CRL times are truncated, and a CRL issued "now" must serve a request in the same second.
        start = self.this_update
        refresh_at = start + (self.next_update - start) / 2
        return fingerprint == self.fingerprint and start <= at.replace(microsecond=0) and at < refresh_at


class RevocationService:
    """Status of every certificate the instance issued, as OCSP and CRL."""

    def __init__(self, instance: Instance) -> None:
        from seal_service.instance import PkiRole

        self._instance = instance
        self._lock = threading.Lock()
        self._crls: dict[str, _CachedCrl] = {}
        pki = instance.pki
        self.ocsp = OCSPResponder(
            issuer=pki.certificate(PkiRole.SEAL_CA),
            responder_certificate=pki.certificate(PkiRole.OCSP),
            responder_key=pki.key(PkiRole.OCSP),
            status_of=self.status_of,
            validity=OCSP_VALIDITY,
        )

    def status_of(self, serial_number: int) -> CertificateStatus | None:
        """What the registry knows of a certificate issued by the seal CA (None = not ours).

        A seal certificate's revocation is its explicit one combined with its seal's retirement (derived from the
        memoranda); it may lie in the future, and the responder answers "good" until then.
        """
        serial = format(serial_number, "x")
        with self._instance.sessions() as session:
            found = session.execute(
                select(SealCertificate, Authority.code)
                .join(Seal, SealCertificate.seal_id == Seal.id)
                .join(Authority, Seal.authority_id == Authority.id)
                .where(SealCertificate.serial_number == serial)
            ).first()
            if found is not None:
                lifecycle = self._instance.lifecycle
                revocation = lifecycle.certificate_revocation(found[0], found[1], lifecycle.state(session))
                if revocation is None:
                    return CertificateStatus(serial_number=serial_number)
                return CertificateStatus(
                    serial_number=serial_number,
                    revoked_at=revocation.revoked_at,
                    reason=revocation.reason,
                    invalidity_date=revocation.invalidity_date,
                )
            pki_row = session.scalar(select(PkiCertificate).where(PkiCertificate.serial_number == serial))
            if pki_row is not None and pki_row.role == "ocsp":
                return CertificateStatus(
                    serial_number=serial_number,
                    revoked_at=pki_row.revoked_at,
                    reason=_reason(pki_row.revocation_reason),
                )
        return None

    def _revoked_entries(self, issuer_role: str, at: datetime) -> tuple[list[RevokedEntry], datetime | None]:
        """The entries a CRL issued at ``at`` lists, and the next scheduled revocation after ``at`` (if any)."""
        upcoming: list[datetime] = []
        entries: list[RevokedEntry] = []
        with self._instance.sessions() as session:
            if issuer_role == "sm2-seal-ca":
                from seal_service.gm.revocation import certificate_serial, sm2_revocations

                lifecycle = self._instance.lifecycle
                for material, revocation in sm2_revocations(session, lifecycle.state(session)):
                    if revocation is None:
                        continue
                    if revocation.revoked_at > at:
                        upcoming.append(revocation.revoked_at)
                        continue
                    entries.append(
                        RevokedEntry(
                            serial_number=certificate_serial(material),
                            revoked_at=revocation.revoked_at,
                            reason=revocation.reason,
                            invalidity_date=revocation.invalidity_date,
                        )
                    )
                entries.sort(key=lambda e: e.serial_number)
                return entries, min(upcoming, default=None)
            if issuer_role == "seal-ca":
                lifecycle = self._instance.lifecycle
                for cert, revocation in lifecycle.revoked_certificates(session, lifecycle.state(session)):
                    if revocation.revoked_at > at:
                        upcoming.append(revocation.revoked_at)
                        continue
                    entries.append(
                        RevokedEntry(
                            serial_number=int(cert.serial_number, 16),
                            revoked_at=revocation.revoked_at,
                            reason=revocation.reason,
                            invalidity_date=revocation.invalidity_date,
                        )
                    )
                roles = ["ocsp"]
            else:
                roles = ["seal-ca", "tsa", "bundle"]
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
                if r.revoked_at is not None and r.revoked_at <= at
            ]
        entries.sort(key=lambda e: e.serial_number)
        return entries, min(upcoming, default=None)

    def crl(self, issuer_role: str, *, at: datetime, fresh: bool = False) -> bytes:
        """The current DER CRL of ``root`` or ``seal-ca``; a new one (with the next number) when stale.

        Served in order of preference: the newest CRL any node (or ``seal-service crl publish``) stored (parsed
        once per process and cached), else a new one. A CRL is reused while it lists exactly what the registry says
        at ``at`` and less than half its validity has passed. The newest stored number is read on every call, so
        that when two nodes published at once every node serves the newer one and numbers never go backwards for
        a client that alternates between nodes. nextUpdate stops at the next scheduled revocation (a memorandum
        cut-over), so no CRL vouches for a certificate past its cut-over. ``fresh`` forces a new CRL.
        """
        if issuer_role not in ("root", "seal-ca", "sm2-seal-ca"):
            raise NotFound(f"no CRL for {issuer_role!r}; there are root, seal-ca and sm2-seal-ca")
        # The registry is read on every call (a couple of indexed queries) so that a revocation made by another
        # process (the CLI, another API worker) shows at once; only the signed CRL itself is cached.
        entries, next_change = self._revoked_entries(issuer_role, at)
        fingerprint = _entries_digest(entries)
        with self._lock:
            if not fresh:
                with self._instance.sessions() as session:
                    newest = session.scalar(
                        select(PublishedCrl.number)
                        .where(PublishedCrl.issuer_role == issuer_role)
                        .order_by(PublishedCrl.number.desc())
                        .limit(1)
                    )
                    cached = self._crls.get(issuer_role)
                    if cached is not None and cached.number == newest and cached.serves(at, fingerprint):
                        return cached.der
                    latest = session.get(PublishedCrl, (issuer_role, newest)) if newest is not None else None
                if latest is not None:
                    stored = _CachedCrl.of(latest)
                    if stored.serves(at, fingerprint):
                        self._crls[issuer_role] = stored
                        return stored.der
            published = self._publish(issuer_role, entries, fingerprint, at, next_change)
            self._crls[issuer_role] = published
            return published.der

    def _publish(
        self,
        issuer_role: str,
        entries: list[RevokedEntry],
        fingerprint: str,
        at: datetime,
        next_change: datetime | None,
    ) -> _CachedCrl:
        from seal_service.instance import PkiRole

        next_update = at + CRL_VALIDITY
        if next_change is not None:
            next_update = min(next_update, max(next_change, at + timedelta(seconds=1)))
        with self._instance.writer.begin() as session:
            # An atomic increment: two nodes publishing at once queue on the row lock and get distinct numbers.
            number = session.execute(
                update(CrlCounter)
                .where(CrlCounter.issuer_role == issuer_role)
                .values(last_number=CrlCounter.last_number + 1)
                .returning(CrlCounter.last_number)
            ).scalar_one_or_none()
            if number is None:
                session.add(CrlCounter(issuer_role=issuer_role, last_number=1))
                session.flush()
                number = 1
            if issuer_role == "sm2-seal-ca":
                der = self._sm2_crl(session, entries, number, at, next_update)
            else:
                der = build_crl(
                    issuer=self._instance.pki.certificate(PkiRole(issuer_role)),
                    issuer_key=self._instance.pki.key(PkiRole(issuer_role)),
                    revoked=entries,
                    number=number,
                    this_update=at,
                    next_update=next_update,
                )
            crl = x509.load_der_x509_crl(der)
            row = PublishedCrl(
                issuer_role=issuer_role,
                number=number,
                this_update=crl.last_update_utc,
                next_update=crl.next_update_utc,  # type: ignore[arg-type]
                entries_sha256=fingerprint,
                der=der,
            )
            session.add(row)
        return _CachedCrl.of(row)

    def _sm2_crl(
        self, session: Session, entries: list[RevokedEntry], number: int, at: datetime, next_update: datetime
    ) -> bytes:
        """The SM2 seal CA's CRL (SM2-with-SM3), signed with its key from the SM2 key store."""
        from asn1crypto import x509 as asn1_x509

        from seal_service.gm.pki import Sm2Role
        from seal_service.gm.revocation import build_sm2_crl
        from seal_service.gm.service import gm_keys
        from seal_service.storage.gm_models import GmPkiCertificate

        row = session.get(GmPkiCertificate, Sm2Role.SEAL_CA.value)
        if row is None:
            raise NotFound("the instance has no SM2 seal CA; run `seal-service init`")
        return build_sm2_crl(
            issuer=asn1_x509.Certificate.load(row.certificate_der),
            issuer_key=gm_keys(self._instance).resolve(row.key_ref),
            revoked=entries,
            number=number,
            this_update=at,
            next_update=next_update,
        )

    def changed(self, serial_number: int | None = None) -> None:
        """Forget cached CRLs and OCSP responses after a status change."""
        with self._lock:
            self._crls.clear()
        self.ocsp.invalidate(serial_number)
