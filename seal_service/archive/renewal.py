"""Archive renewal: before a B-LTA licence's newest document time-stamp stops proving anything, add a revision with
that time-stamp's validation data (DSS) and a new document time-stamp from the current TSA key.

Example::

    >>> round_ = renew_archive(instance, at=now, horizon=timedelta(days=365))        # doctest: +SKIP
    >>> round_.renewed, round_.unreadable                                             # doctest: +SKIP
    (12, 0)

One licence, step by step (:meth:`ArchiveRenewer.renew_pdf`, then :func:`commit_renewal`):

1. parse the newest stored version and find its newest document time-stamp (none: not renewable);
2. put the validation data of that time-stamp into the DSS: the TSA certificate and its chain as the token
   carries them, the root, and the root's CRL produced now (the TSA certificate's issuer is the root, so that CRL
   says the certificate was not revoked while it could still be trusted);
3. add a document time-stamp over the whole file, DSS included, in the same incremental update, so the new
   time-stamp proves that validation data existed while the old TSA certificate was still valid (steps 2-3 are
   written directly for the service's own layout, :mod:`seal_service.archive.fast_revision`, and through pyHanko
   for any file of another shape);
4. commit the new bytes as the next version, with an audit entry, in one transaction that locks the licence row
   and refuses when another renewal committed first (so two renewals at once make one version).

Nothing is overwritten: a renewal only ever adds a version, and the verifier accepts any version (each one is
the issued document plus appended validation updates).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from io import BytesIO
from typing import TYPE_CHECKING, cast

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore
from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from seal_service.archive.fast_revision import build_renewal_revision
from seal_service.archive.horizon import NewestTimestamp, NotRenewable, newest_timestamp, timestamp_expiry
from seal_service.errors import StateConflict
from seal_service.events.outbox import EventDraft, EventType, emit_many, event_source, licence_data, licence_routes
from seal_service.gm.pdf import national_time_stamp_certificates
from seal_service.log.leaves import append_entries, licence_renewed_entry
from seal_service.protocols.tsa import InProcessTimeStamper, TimestampAuthority
from seal_service.services.audit import AuditBatch
from seal_service.storage.archive_models import LicenceVersion
from seal_service.storage.models import Licence, LicenceDocument, PkiCertificate, SealCertificate
from verifier.log_entry import LogEntry

if TYPE_CHECKING:
    from seal_service.instance import Instance
    from seal_service.settings import Settings

log = logging.getLogger(__name__)

#: Field names of the renewal time-stamps: the sealer's is ``ArchiveTimestamp``, renewals add a number.
RENEWAL_FIELD_PREFIX = "ArchiveTimestamp"
#: How long a renewer trusts its TSA key to be the current one before it asks the database again.
TSA_RECHECK_SECONDS = 30.0
#: The level archive renewal applies to.
RENEWABLE_LEVEL = "B-LTA"


class RenewalTooLate(NotRenewable):
    """The newest time-stamp's TSA certificate has already expired: a new time-stamp could no longer prove that the
    old one was made while its key was sound, so renewing would only look like a proof."""


class AlreadyRenewed(StateConflict):
    """Another renewal of the same licence committed first; this one is dropped (nothing changes)."""


@dataclass(frozen=True)
class RenewedPdf:
    """A renewed PDF, not yet stored."""

    pdf: bytes
    sha256: str
    timestamped_at: datetime
    """genTime of the new document time-stamp."""
    verifiable_until: datetime
    """When the new time-stamp's TSA certificate expires: the next renewal is due before that."""
    tsa_serial: str
    previous_verifiable_until: datetime
    built_by: str = "direct"
    """How the revision was written: ``direct`` (:mod:`seal_service.archive.fast_revision`, the service's own
    layout) or ``pyhanko`` (any other shape)."""


class RenewalOutcomeKind(StrEnum):
    """What happened to one licence in a round."""

    RENEWED = "renewed"
    DUE = "due"
    """In the horizon; a dry run reports it without renewing."""
    NOT_DUE = "not-due"
    UNREADABLE = "unreadable"
    """The stored PDF cannot be read or has no document time-stamp: reported, skipped, nothing overwritten."""
    NO_NEWER_TSA = "no-newer-tsa"
    """Due, but the current TSA certificate expires no later than the licence's newest time-stamp: a renewal would
    gain nothing. The TSA must be rotated first (``seal-service tsa rotate``)."""
    TOO_LATE = "too-late"
    """The newest time-stamp expired before this renewal: reported, not renewed (the chain cannot be repaired)."""
    CONFLICT = "conflict"
    """Another renewal of the same licence committed first."""
    FAILED = "failed"


@dataclass(frozen=True)
class RenewalOutcome:
    """The result for one licence."""

    licence_id: str
    kind: RenewalOutcomeKind
    version: int
    """The licence's current version after this step."""
    verifiable_until: datetime | None
    detail: str | None = None


@dataclass(frozen=True)
class RenewalRound:
    """What one renewal round did."""

    at: datetime
    horizon: timedelta
    dry_run: bool
    outcomes: tuple[RenewalOutcome, ...]

    def count(self, kind: RenewalOutcomeKind) -> int:
        """How many licences ended as ``kind``."""
        return sum(1 for o in self.outcomes if o.kind is kind)

    @property
    def renewed(self) -> int:
        """Licences that got a new version."""
        return self.count(RenewalOutcomeKind.RENEWED)

    @property
    def unreadable(self) -> int:
        """Licences whose stored PDF could not be read."""
        return self.count(RenewalOutcomeKind.UNREADABLE)

    @property
    def failed(self) -> int:
        """Licences that could not be renewed for another reason (the round went on)."""
        return self.count(RenewalOutcomeKind.FAILED)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


class ArchiveRenewer:
    """Renews PDFs with the instance's current TSA key. Build once per process and round; thread-safe.

    The TSA authority (loaded key, precomputed token parts) is built once and kept while the TSA certificate in
    the database stays the same; the CRLs are produced once per ``at``.
    """

    def __init__(self, instance: Instance, *, fast: bool = True) -> None:
        """``fast=False``: every revision through pyHanko (the differential tests compare both)."""
        self._instance = instance
        self.fast = fast
        self._lock = threading.Lock()
        self._authority: tuple[str, TimestampAuthority, x509.Certificate, bool] | None = None
        self._authority_checked_at: float | None = None
        self._crls: tuple[datetime, tuple[bytes, ...]] | None = None

    def current_tsa_expiry(self) -> datetime:
        """When the TSA certificate renewals use now expires."""
        return self._current_authority()[2].not_valid_after_utc

    def _current_authority(self) -> tuple[str, TimestampAuthority, x509.Certificate, bool]:
        """The authority of the TSA certificate the database names now (a rotation elsewhere is picked up within
        :data:`TSA_RECHECK_SECONDS`)."""
        checked = self._authority_checked_at
        if self._authority is not None and checked is not None and time.monotonic() - checked < TSA_RECHECK_SECONDS:
            return self._authority
        with self._instance.sessions() as session:
            row = session.get(PkiCertificate, "tsa")
            if row is None:
                from seal_service.errors import ConfigurationError

                raise ConfigurationError("the instance has no TSA certificate; run `seal-service init` first")
            serial, der, key_ref = row.serial_number, row.certificate_der, row.key_ref
        with self._lock:
            if self._authority is None or self._authority[0] != serial:
                from seal_service.instance import PkiRole

                cert = x509.load_der_x509_certificate(der)
                key = self._instance.keys.resolve(key_ref)
                root = self._instance.pki.certificate(PkiRole.ROOT)
                authority = TimestampAuthority(certificate=cert, private_key=key, chain=[root])  # type: ignore[arg-type]
                self._authority = (serial, authority, cert, isinstance(key, rsa.RSAPrivateKey))
            self._authority_checked_at = time.monotonic()
            return self._authority

    def _revocation_ders(self, at: datetime) -> tuple[bytes, ...]:
        with self._lock:
            if self._crls is not None and self._crls[0] == at:
                return self._crls[1]
        revocation = self._instance.revocation
        # Only the root's CRL: it covers the TSA certificates. The seal CA's current CRL no longer lists an expired
        # seal certificate, so adding it would only hand validators a CRL that cannot speak for the seal.
        ders = (revocation.crl("root", at=at),)
        with self._lock:
            self._crls = (at, ders)
        return ders

    def renew_pdf(self, pdf: bytes, *, at: datetime, newest: NewestTimestamp | None = None) -> RenewedPdf:
        """Steps 1-3: the renewed bytes of ``pdf`` at time ``at`` (nothing stored). ``newest``: the PDF's newest
        document time-stamp when the caller has already found it (:func:`newest_timestamp` of ``pdf``).

        :raises NotRenewable: the PDF cannot be read or has no document time-stamp.
        """
        from seal_service.instance import PkiRole

        serial, authority, tsa_cert, is_rsa = self._current_authority()
        crls = self._revocation_ders(at)
        # (1) The newest document time-stamp.
        last = newest if newest is not None else newest_timestamp(pdf)
        try:
            previous_until, last_tsa = timestamp_expiry(last)
            token_certs = list(last.token["certificates"])
        except NotRenewable:
            raise
        except Exception as exc:
            raise NotRenewable(f"the stored PDF cannot be read: {type(exc).__name__}: {exc}") from None
        if at >= previous_until:
            raise RenewalTooLate(
                f"the newest time-stamp's TSA certificate expired on {previous_until:%Y-%m-%d}; renewing now would "
                "prove nothing about it"
            )
        # (2) Its validation data into the DSS (fresh asn1crypto objects: they are not thread-safe).
        root = asn1_x509.Certificate.load(_der(self._instance.pki.certificate(PkiRole.ROOT)))
        certs = [last_tsa, *(c.chosen for c in token_certs if c.name == "certificate"), root]
        # The national seal's time-stamp (国密) is validated in the past once its TSA certificate expires: its
        # certificate goes into the DSS when not there already (both writers add a certificate once), and the root's
        # CRL below speaks for it (docs/gm-crypto.md, "Long-term validation").
        certs += [asn1_x509.Certificate.load(der) for der in national_time_stamp_certificates(pdf)]
        field_name = f"{RENEWAL_FIELD_PREFIX}{last.count + 1}"
        reserved = 12288 if is_rsa else 8192
        # (3) A document time-stamp over all of it, from the current TSA key: written directly for the service's
        # own layout (fast_revision.py), through pyHanko for any other shape.
        fast = None
        if self.fast:
            fast = build_renewal_revision(
                pdf,
                field_name=field_name,
                certs=[c.dump() for c in certs],
                crls=list(crls),
                token=lambda digest: authority.token_der(
                    message_imprint=digest, hash_algorithm="sha256", nonce=secrets.randbits(63), at=at
                ),
                at=at,
                reserved_hex=reserved,
            )
        if fast is not None:
            data, built_by = fast, "direct"
        else:
            try:
                writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
            except Exception as exc:
                raise NotRenewable(f"the stored PDF cannot be read: {type(exc).__name__}: {exc}") from None
            DocumentSecurityStore.supply_dss_in_writer(
                writer, None, certs=certs, crls=[asn1_crl.CertificateList.load(der) for der in crls]
            )
            stamper = PdfTimeStamper(InProcessTimeStamper(authority, clock=lambda: at), field_name=field_name)
            out = stamper.timestamp_pdf(writer, md_algorithm="sha256", bytes_reserved=reserved)
            data, built_by = out.getvalue(), "pyhanko"
        return RenewedPdf(
            pdf=data,
            sha256=hashlib.sha256(data).hexdigest(),
            timestamped_at=at.astimezone(UTC).replace(microsecond=0),
            verifiable_until=tsa_cert.not_valid_after_utc,
            tsa_serial=serial,
            previous_verifiable_until=previous_until,
            built_by=built_by,
        )


@dataclass(frozen=True)
class PendingRenewal:
    """A renewed PDF waiting to be committed as version ``base_version + 1`` of ``licence_id``."""

    licence_id: str
    base_version: int
    renewed: RenewedPdf


def commit_renewal(
    instance: Instance, licence_id: str, *, base_version: int, renewed: RenewedPdf, at: datetime, actor: str
) -> int:
    """Step 4 for one licence: store ``renewed`` as version ``base_version + 1`` of ``licence_id`` with its audit
    entry, supervision event and issuance-log entry, in one transaction; returns the new version number.

    :raises AlreadyRenewed: another renewal committed first (nothing stored).
    :raises NotFound: no such licence.
    """
    (result,) = commit_renewals(instance, [PendingRenewal(licence_id, base_version, renewed)], at=at, actor=actor)
    if isinstance(result, BaseException):
        raise result
    return result


def commit_renewals(
    instance: Instance, pending: Sequence[PendingRenewal], *, at: datetime, actor: str
) -> tuple[int | Exception, ...]:
    """Step 4, the one place renewals are committed: each of ``pending`` as its licence's next version, with its
    audit entry, supervision event ``licence.renewed`` and issuance-log entry "renewed"; returns, in the order of
    ``pending``, the new version number or the exception that licence failed with.

    One database transaction for the batch (one commit, one fsync). The batch is first written optimistically in
    one savepoint with one statement per table (versions, audit entries with their hash chain computed in order,
    events with a block of sequence numbers taken by one update, routes, log entries): a few round trips per batch
    instead of ten or more per licence, which is what PostgreSQL's renewal speed hangs on. Should any of it fail,
    that savepoint is rolled back and the batch is written again one licence at a time, a savepoint per licence:
    each licence's version, audit entry, event and log entry are stored together or not at all, and one licence
    that fails (renewed meanwhile, a failing write) is rolled back alone while the others commit. If the commit
    itself fails, it raises and nothing of the batch is stored.

    Every licence row of the batch is locked up front, in id order, before any audit entry (``SELECT ... FOR
    UPDATE`` on PostgreSQL; SQLite's writer sessions hold the database write lock). Then the current versions are
    compared with each ``base_version``: a renewal that lost the race is :class:`AlreadyRenewed` and stores nothing,
    so two renewals of one licence at once make one version. Locking all rows before the audit chain head (which
    every entry locks until the commit) and in one order keeps concurrent batches free of deadlocks.
    """
    from seal_service.errors import NotFound

    results: list[int | Exception | None] = [None] * len(pending)
    ids = sorted({p.licence_id for p in pending})
    with instance.writer.begin() as session:
        lock = select(Licence.id).where(Licence.id.in_(ids)).order_by(Licence.id).with_for_update()
        locked = set(session.scalars(lock))
        licences = {lic.id: lic for lic in session.scalars(select(Licence).where(Licence.id.in_(locked)))}
        current = dict.fromkeys(locked, 1) | {
            licence_id: int(version)
            for licence_id, version in session.execute(
                select(LicenceVersion.licence_id, func.max(LicenceVersion.version))
                .where(LicenceVersion.licence_id.in_(locked))
                .group_by(LicenceVersion.licence_id)
            )
        }
        # Read once per batch: the routes of an item's events and the seal certificates.
        routes: dict[tuple[str, str], tuple[set[str], str | None]] = {}
        certificates: dict[int, bytes] = {}
        # The audit entries through Core, the chain head locked at the first one and moved once at the end.
        audit = AuditBatch(session)
        # First, optimistically, the whole batch in one savepoint with one statement per table. Should anything in
        # it fail, that savepoint is rolled back and the batch is done again one licence at a time, each in a
        # savepoint of its own, so that one bad licence fails alone (the row locks taken above are kept).
        done = _commit_together(
            session,
            instance,
            pending,
            licences,
            dict(current),
            at=at,
            actor=actor,
            routes=routes,
            certificates=certificates,
            audit=audit,
        )
        if done is not None:
            audit.close()
            return done
        for index, item in enumerate(pending):
            licence = licences.get(item.licence_id)
            if licence is None:
                results[index] = NotFound(f"unknown licence {item.licence_id!r}")
                continue
            if current[item.licence_id] != item.base_version:
                results[index] = _lost_race(item, current[item.licence_id])
                continue
            mark = audit.mark()
            try:
                with session.begin_nested():
                    (version,) = _store_renewals(
                        session,
                        instance,
                        [(licence, item)],
                        at=at,
                        actor=actor,
                        routes=routes,
                        certificates=certificates,
                        audit=audit,
                    )
            except Exception as exc:  # this licence only: its savepoint is rolled back, the batch goes on
                audit.reset(mark)
                log.warning("renewal of licence %s not committed: %s: %s", item.licence_id, type(exc).__name__, exc)
                results[index] = exc
                continue
            current[item.licence_id] = version
            results[index] = version
        audit.close()
    return tuple(r for r in results if r is not None)


def _lost_race(item: PendingRenewal, current: int) -> AlreadyRenewed:
    return AlreadyRenewed(f"licence {item.licence_id} is at version {current} already (renewed meanwhile)")


def _commit_together(
    session: Session,
    instance: Instance,
    pending: Sequence[PendingRenewal],
    licences: dict[str, Licence],
    current: dict[str, int],
    *,
    at: datetime,
    actor: str,
    routes: dict[tuple[str, str], tuple[set[str], str | None]],
    certificates: dict[int, bytes],
    audit: AuditBatch,
) -> tuple[int | Exception, ...] | None:
    """The optimistic path of :func:`commit_renewals`: every storable renewal of the batch in one savepoint, one
    statement per table; the results, or None when something failed (savepoint rolled back, nothing of it stored)
    or when fewer than two licences are to be stored (the one-at-a-time path costs no more then)."""
    from seal_service.errors import NotFound

    results: list[int | Exception] = []
    storable: list[tuple[Licence, PendingRenewal]] = []
    for item in pending:
        licence = licences.get(item.licence_id)
        if licence is None:
            results.append(NotFound(f"unknown licence {item.licence_id!r}"))
        elif current[item.licence_id] != item.base_version:
            results.append(_lost_race(item, current[item.licence_id]))
        else:
            current[item.licence_id] = item.base_version + 1
            results.append(item.base_version + 1)
            storable.append((licence, item))
    if len(storable) < 2:
        return None
    mark = audit.mark()
    try:
        with session.begin_nested():
            _store_renewals(
                session, instance, storable, at=at, actor=actor, routes=routes, certificates=certificates, audit=audit
            )
    except Exception as exc:
        audit.reset(mark)
        log.info(
            "batch of %d renewals not stored together (%s: %s); storing them one at a time",
            len(storable),
            type(exc).__name__,
            exc,
        )
        return None
    return tuple(results)


#: One Core statement, compiled once (a version row is plain data: no ORM object or ORM bulk path needed).
_INSERT_VERSION = insert(cast(Table, LicenceVersion.__table__))


def _store_renewals(
    session: Session,
    instance: Instance,
    items: Sequence[tuple[Licence, PendingRenewal]],
    *,
    at: datetime,
    actor: str,
    routes: dict[tuple[str, str], tuple[set[str], str | None]],
    certificates: dict[int, bytes],
    audit: AuditBatch,
) -> list[int]:
    """Renewals inside the caller's savepoint, in the order of ``items``: version rows, audit entries, events, log
    entries, each kind written by one statement (executemany); returns the new version numbers."""
    versions = [item.base_version + 1 for _, item in items]
    rows = [
        {
            "licence_id": licence.id,
            "version": version,
            "pdf": item.renewed.pdf,
            "sha256": item.renewed.sha256,
            "created_at": item.renewed.timestamped_at,
            "verifiable_until": item.renewed.verifiable_until,
            "tsa_serial": item.renewed.tsa_serial,
        }
        for (licence, item), version in zip(items, versions, strict=True)
    ]
    session.connection().execute(_INSERT_VERSION, rows[0] if len(rows) == 1 else rows)
    audit.append_many(
        [
            {
                "at": at,
                "actor": actor,
                "action": "licence.renew",
                "seal_id": licence.seal_id,
                "licence_id": licence.id,
                "details": {
                    "version": version,
                    "sha256": item.renewed.sha256,
                    "tsa_serial": item.renewed.tsa_serial,
                    "verifiable_until": item.renewed.verifiable_until.isoformat(),
                    "previous_verifiable_until": item.renewed.previous_verifiable_until.isoformat(),
                },
            }
            for (licence, item), version in zip(items, versions, strict=True)
        ]
    )
    # Outbox first: the supervision events and the issuance-log entries "licence renewed" commit with the versions.
    drafts: list[EventDraft] = []
    source = event_source(instance)
    for (licence, item), version in zip(items, versions, strict=True):
        key = (licence.item_code, licence.seal_id)
        if key not in routes:
            routes[key] = licence_routes(instance, session, licence)
        departments, item_name = routes[key]
        data = licence_data(instance, licence, item_name) | {"version": version, "version_sha256": item.renewed.sha256}
        drafts.append(
            EventDraft(
                type=str(EventType.LICENCE_RENEWED),
                subject=licence.id,
                data=data,
                departments=departments,
                at=at,
                source=source,
            )
        )
    emit_many(session, drafts)
    entries: list[tuple[LogEntry, str | None]] = []
    for licence, item in items:
        if licence.certificate_id not in certificates:
            certificates[licence.certificate_id] = session.get_one(
                SealCertificate, licence.certificate_id
            ).certificate_der
        entry = licence_renewed_entry(
            instance.settings,
            licence_id=licence.id,
            document_sha256=item.renewed.sha256,
            certificate_der=certificates[licence.certificate_id],
            item=licence.item_code,
            authority=licence.authority.code,
            at=at,
        )
        if entry is not None:
            entries.append((entry, licence.id))
    append_entries(session, entries)
    return versions


def _candidates(instance: Instance) -> Iterator[str]:
    """Ids of the stored B-LTA licences, oldest first."""
    with instance.sessions() as session:
        ids = session.scalars(
            select(Licence.id).where(Licence.level == RENEWABLE_LEVEL).order_by(Licence.sealed_at, Licence.id)
        ).all()
    yield from ids


def _newest(instance: Instance, licence_id: str) -> tuple[int, bytes, datetime | None]:
    """(version, bytes, stored verifiable-until or None for version 1) of the licence's newest version."""
    newest = _newest_of(instance, [licence_id]).get(licence_id)
    if newest is None:
        from seal_service.errors import NotFound

        raise NotFound(f"licence {licence_id} has no stored document")
    return newest


def _newest_of(instance: Instance, licence_ids: Sequence[str]) -> dict[str, tuple[int, bytes, datetime | None]]:
    """:func:`_newest` of several licences, in one session (two queries); an id without any document is missing
    from the answer."""
    ids = list(dict.fromkeys(licence_ids))
    newest: dict[str, tuple[int, bytes, datetime | None]] = {}
    with instance.sessions() as session:
        latest = (
            select(LicenceVersion.licence_id, func.max(LicenceVersion.version).label("version"))
            .where(LicenceVersion.licence_id.in_(ids))
            .group_by(LicenceVersion.licence_id)
            .subquery()
        )
        rows = session.execute(
            select(
                LicenceVersion.licence_id, LicenceVersion.version, LicenceVersion.pdf, LicenceVersion.verifiable_until
            ).join(
                latest,
                (LicenceVersion.licence_id == latest.c.licence_id) & (LicenceVersion.version == latest.c.version),
            )
        )
        for row in rows:
            newest[row.licence_id] = (int(row.version), bytes(row.pdf), row.verifiable_until)
        first = [i for i in ids if i not in newest]
        if first:
            documents = session.execute(
                select(LicenceDocument.licence_id, LicenceDocument.pdf).where(LicenceDocument.licence_id.in_(first))
            )
            for licence_id, pdf in documents:
                newest[licence_id] = (1, bytes(pdf), None)
    return newest


def _assess(
    instance: Instance,
    licence_id: str,
    newest: tuple[int, bytes, datetime | None],
    *,
    at: datetime,
    horizon: timedelta,
    dry_run: bool,
    renewer: ArchiveRenewer,
) -> RenewalOutcome | PendingRenewal:
    """Steps 1-3 for one licence: its outcome when it is not to be renewed, else the renewed PDF to commit."""
    version, pdf, until = newest
    last: NewestTimestamp | None = None
    try:
        if until is None:  # version 1: the expiry is read from the PDF (and the time-stamp found kept for renewing)
            last = newest_timestamp(pdf)
            until = timestamp_expiry(last)[0]
        if until > at + horizon:
            return RenewalOutcome(licence_id, RenewalOutcomeKind.NOT_DUE, version, until)
        if renewer.current_tsa_expiry() <= until:
            detail = "the current TSA certificate expires no later; rotate the TSA first (seal-service tsa rotate)"
            return RenewalOutcome(licence_id, RenewalOutcomeKind.NO_NEWER_TSA, version, until, detail)
        if dry_run:
            return RenewalOutcome(licence_id, RenewalOutcomeKind.DUE, version, until)
        return PendingRenewal(licence_id, version, renewer.renew_pdf(pdf, at=at, newest=last))
    except RenewalTooLate as exc:
        log.error("licence %s not renewed: %s", licence_id, exc.detail)
        return RenewalOutcome(licence_id, RenewalOutcomeKind.TOO_LATE, version, until, exc.detail)
    except NotRenewable as exc:
        log.warning("licence %s not renewed: %s", licence_id, exc.detail)
        return RenewalOutcome(licence_id, RenewalOutcomeKind.UNREADABLE, version, None, exc.detail)


def _committed(item: PendingRenewal, result: int | Exception) -> RenewalOutcome:
    if isinstance(result, AlreadyRenewed):
        return RenewalOutcome(item.licence_id, RenewalOutcomeKind.CONFLICT, item.base_version + 1, None, result.detail)
    if isinstance(result, Exception):
        detail = f"{type(result).__name__}: {result}"
        return RenewalOutcome(item.licence_id, RenewalOutcomeKind.FAILED, 0, None, detail)
    return RenewalOutcome(item.licence_id, RenewalOutcomeKind.RENEWED, result, item.renewed.verifiable_until)


def renew_licence(
    instance: Instance,
    licence_id: str,
    *,
    at: datetime,
    horizon: timedelta,
    dry_run: bool = False,
    renewer: ArchiveRenewer | None = None,
    actor: str = "archive-renewal",
) -> RenewalOutcome:
    """Renew one licence if its verifiable-until date falls before ``at + horizon``; never raises for a bad PDF."""
    step = _assess(
        instance,
        licence_id,
        _newest(instance, licence_id),
        at=at,
        horizon=horizon,
        dry_run=dry_run,
        renewer=renewer or ArchiveRenewer(instance),
    )
    if isinstance(step, RenewalOutcome):
        return step
    (result,) = commit_renewals(instance, [step], at=at, actor=actor)
    if isinstance(result, Exception) and not isinstance(result, AlreadyRenewed):
        raise result
    return _committed(step, result)


def renew_licences(
    instance: Instance,
    licence_ids: Sequence[str],
    *,
    at: datetime,
    horizon: timedelta,
    dry_run: bool = False,
    renewer: ArchiveRenewer | None = None,
    actor: str = "archive-renewal",
) -> list[RenewalOutcome]:
    """:func:`renew_licence` for a batch: the newest versions read in one session, each PDF renewed, and the
    renewals committed by :func:`commit_renewals` in one transaction (each licence all or nothing; one failing
    licence is reported FAILED and the others commit). Outcomes in the order of
    ``licence_ids``; never raises for one licence's trouble (a failed batch commit makes every renewal in it
    FAILED, nothing stored)."""
    renewer = renewer or ArchiveRenewer(instance)
    newest = _newest_of(instance, licence_ids)
    steps: list[RenewalOutcome | PendingRenewal] = []
    for licence_id in licence_ids:
        if licence_id not in newest:
            detail = f"NotFound: licence {licence_id} has no stored document"
            steps.append(RenewalOutcome(licence_id, RenewalOutcomeKind.FAILED, 0, None, detail))
            continue
        try:
            steps.append(
                _assess(
                    instance, licence_id, newest[licence_id], at=at, horizon=horizon, dry_run=dry_run, renewer=renewer
                )
            )
        except Exception as exc:  # key trouble, a bug in one PDF's path: this licence only
            log.exception("renewal of licence %s failed", licence_id)
            steps.append(RenewalOutcome(licence_id, RenewalOutcomeKind.FAILED, 0, None, f"{type(exc).__name__}: {exc}"))
    pending = [s for s in steps if isinstance(s, PendingRenewal)]
    if not pending:
        return [s for s in steps if isinstance(s, RenewalOutcome)]
    try:
        results = iter(commit_renewals(instance, pending, at=at, actor=actor))
    except Exception as exc:  # the batch's commit failed: nothing of it is stored
        log.exception("commit of %d renewals failed", len(pending))
        results = iter([exc] * len(pending))
    return [s if isinstance(s, RenewalOutcome) else _committed(s, next(results)) for s in steps]


#: Licences renewed per transaction (one commit per batch; written together, a savepoint per licence on failure).
BATCH_SIZE = 16


def renew_archive(
    instance: Instance,
    *,
    at: datetime,
    horizon: timedelta = timedelta(days=365),
    dry_run: bool = False,
    limit: int | None = None,
    progress: Callable[[RenewalOutcome], None] | None = None,
    renewer: ArchiveRenewer | None = None,
    actor: str = "archive-renewal",
    workers: int = 1,
    batch_size: int = BATCH_SIZE,
) -> RenewalRound:
    """Renew every stored B-LTA licence whose verifiable-until date falls before ``at + horizon``.

    ``limit`` caps the licences renewed (or, in a dry run, reported due). A licence that fails is reported and
    skipped; the round goes on. ``progress`` is called after each licence that was due (or unreadable, or failed).
    Licences are renewed ``batch_size`` at a time (:func:`renew_licences`: one transaction per batch, each licence
    all or nothing in it). ``workers`` > 1 renews them in that many processes (each with its own database
    connections and its own loaded TSA key), which read, renew and commit their batches themselves.
    """
    renewer = renewer or ArchiveRenewer(instance)
    outcomes: list[RenewalOutcome] = []
    due = 0

    def note(outcome: RenewalOutcome) -> None:
        nonlocal due
        outcomes.append(outcome)
        due += outcome.kind in (RenewalOutcomeKind.RENEWED, RenewalOutcomeKind.DUE)
        if progress is not None and outcome.kind is not RenewalOutcomeKind.NOT_DUE:
            progress(outcome)

    candidates = list(_candidates(instance))
    if workers > 1 and not dry_run:
        if limit is not None:  # find what is due here, so that the workers renew no more than the limit
            dry = renew_archive(instance, at=at, horizon=horizon, dry_run=True, limit=limit, renewer=renewer)
            for outcome in dry.outcomes:
                if outcome.kind is not RenewalOutcomeKind.DUE:
                    note(outcome)
            candidates = [o.licence_id for o in dry.outcomes if o.kind is RenewalOutcomeKind.DUE]
        for outcome in _renew_in_processes(
            instance, candidates, at=at, horizon=horizon, actor=actor, workers=workers, batch_size=batch_size
        ):
            note(outcome)
        return RenewalRound(at=at, horizon=horizon, dry_run=dry_run, outcomes=tuple(outcomes))
    position = 0
    while position < len(candidates) and (limit is None or due < limit):
        size = batch_size if limit is None else min(batch_size, limit - due)
        batch = candidates[position : position + size]
        position += len(batch)
        for outcome in renew_licences(
            instance, batch, at=at, horizon=horizon, dry_run=dry_run, renewer=renewer, actor=actor
        ):
            note(outcome)
    return RenewalRound(at=at, horizon=horizon, dry_run=dry_run, outcomes=tuple(outcomes))


# Worker processes: one instance (engine, key resolver) and one renewer each, built once per process.
_process_state: dict[str, object] = {}


def _start_worker(settings: Settings) -> None:
    from seal_service.instance import Instance
    from seal_service.ops.heap import settle_worker_heap

    instance = Instance(settings)
    _process_state["instance"] = instance
    _process_state["renewer"] = ArchiveRenewer(instance)
    settle_worker_heap()


def _renew_batch(job: tuple[list[str], datetime, timedelta, str]) -> list[RenewalOutcome]:
    ids, at, horizon, actor = job
    instance = _process_state["instance"]
    renewer = _process_state["renewer"]
    return renew_licences(instance, ids, at=at, horizon=horizon, renewer=renewer, actor=actor)  # type: ignore[arg-type]


def _renew_in_processes(
    instance: Instance,
    ids: list[str],
    *,
    at: datetime,
    horizon: timedelta,
    actor: str,
    workers: int,
    batch_size: int = BATCH_SIZE,
) -> Iterator[RenewalOutcome]:
    """Renew ``ids`` in ``workers`` processes, a batch at a time, yielding outcomes as batches finish."""
    import multiprocessing

    batches = [(ids[i : i + batch_size], at, horizon, actor) for i in range(0, len(ids), batch_size)]
    if not batches:
        return
    # Spawned, not forked: a forked child would share this process's database connections and key handles. The
    # settings (with the key store passphrase) reach the children through the pool's pipe, never a file.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_start_worker, initargs=(instance.settings,)) as pool:
        for outcomes in pool.imap_unordered(_renew_batch, batches):
            yield from outcomes
