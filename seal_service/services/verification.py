"""Verification as the service offers it: the public verifier, anchored to this instance, plus its own records.

Example::

    >>> verification = Verification.of(instance)                        # doctest: +SKIP
    >>> report = verification.verify(pdf_bytes, at=now, file="licence.pdf")   # doctest: +SKIP

The service calls the verifier, never the other way round. What it adds:

* trust: the instance's own root, and its current signed trust bundle when one can be issued (then the seal
  lifecycle rules apply: retired and revoked seals judged at the proven signing time). The bundle goes through
  :func:`verifier.bundle.load_trust_bundle` like any offline verifier's copy would.
* the licence registry: this instance's own records, read from the database (no HTTP round trip), so an uploaded
  licence is also checked against its record (document hash, number) and its status (revoked, suspended,
  expired).
* the issuance log: this instance's own log (:class:`seal_service.log.local.InstanceLog`), so a validly sealed
  licence that is not in it is reported "sealed outside the record", as ``seal-verify`` online does.
* batch jobs: state, documents, progress and results of large batches in the database (``verification_jobs``,
  ``verification_job_files``), so that any node behind a load balancer answers a poll and takes over a job whose
  node stopped (:class:`JobStore`).
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import socket
import threading
import time
import zipfile
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from seal_service.errors import InvalidInput, NotFound
from seal_service.gm import national_trust_roots
from seal_service.instance import Instance, PkiRole
from seal_service.storage.jobs_models import VerificationJob, VerificationJobFile
from seal_service.storage.models import Licence
from verifier import VerificationReport, Verifier
from verifier.bundle import TrustBundle
from verifier.log_check import LogCheck
from verifier.registry import LicenceRecord

log = logging.getLogger(__name__)

#: Files in one batch (multipart parts or zip entries).
MAX_BATCH_FILES = 500
#: Batches above this many files become a job (202 + Location) instead of an answer in the response.
JOB_ABOVE = 20
#: Uncompressed bytes of all entries of one zip, and the largest ratio of an entry's size to its compressed size.
MAX_ZIP_TOTAL = 200 * 1024 * 1024
MAX_ZIP_RATIO = 100
#: How long job results are kept.
JOB_RETENTION = timedelta(hours=24)
_VERIFIER_TTL = 60.0

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def verification_pool() -> ThreadPoolExecutor:
    """The process-wide verification pool (``SEAL_VERIFY_THREADS``, default the number of cores).

    Apart from the sealing pool, so a large batch never delays a signature. Verification is CPU-bound Python:
    threads keep the event loop free, throughput comes from uvicorn workers (processes).
    """
    global _pool
    with _pool_lock:
        if _pool is None:
            threads = int(os.environ.get("SEAL_VERIFY_THREADS", "0")) or (os.cpu_count() or 2)
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="verify")
        return _pool


class DatabaseRegistry:
    """The verifier's :class:`~verifier.registry.LicenceRegistry` over this instance's own licence records."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.service_url = instance.settings.public_url

    def lookup(self, licence_id: str) -> LicenceRecord | None:
        """The public part of the record of ``licence_id``, or None."""
        with self.instance.sessions() as session:
            licence = session.get(Licence, licence_id)
            return None if licence is None else public_record(licence)


def public_record(licence: Licence) -> LicenceRecord:
    """What anyone may know about a licence: no holder, no personal data."""
    return LicenceRecord(
        id=licence.id,
        identifier=licence.identifier,
        number=licence.number,
        status=licence.status,
        document_sha256=licence.document_sha256,
        valid_until=licence.valid_until,
    )


def licence_record(instance: Instance, licence_id: str) -> LicenceRecord:
    """The public record of ``licence_id`` (:class:`NotFound` otherwise)."""
    record = DatabaseRegistry(instance).lookup(licence_id)
    if record is None:
        raise NotFound(f"unknown licence {licence_id!r}")
    return record


class Verification:
    """The instance's verifier: its root (and trust bundle when available) and its records. One per instance."""

    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self._lock = threading.Lock()
        self._verifier: Verifier | None = None
        self._built_at = 0.0

    @classmethod
    def of(cls, instance: Instance) -> Verification:
        """The instance's verification service, created on first use."""
        found = getattr(instance, "_verification", None)
        if found is None:
            found = cls(instance)
            instance._verification = found  # type: ignore[attr-defined]
        return found

    def _own_crls(self, at: datetime) -> list[bytes]:
        """This instance's current CRLs (root, seal CA; the SM2 seal CA when it has one): the revocation status that
        seals below B-LTA (B-B, B-T) and national seals carry none of. Read again when the verifier is rebuilt
        (every minute)."""
        try:
            crls = [self.instance.revocation.crl(role, at=at) for role in ("root", "seal-ca")]
        except Exception as exc:  # no CRL can be made now: those seals are then indeterminate, as offline
            log.warning("verifying without this instance's CRLs: %s", exc)
            return []
        if national_trust_roots(self.instance):  # the SM2 seal CA's CRL, for national seals
            try:
                crls.append(self.instance.revocation.crl("sm2-seal-ca", at=at))
            except Exception as exc:
                log.warning("verifying without the SM2 CRL (the trust bundle's status entries remain): %s", exc)
        return crls

    def _build(self, at: datetime) -> Verifier:
        root = self.instance.pki.certificate(PkiRole.ROOT)
        registry = DatabaseRegistry(self.instance)
        crls = self._own_crls(at)
        sm2_roots = national_trust_roots(self.instance)
        try:
            from seal_service.services.trust_bundle import current_trust_bundle
            from verifier.bundle import load_trust_bundle

            issued = current_trust_bundle(self.instance, at=at)
            bundle = load_trust_bundle(issued.document, trust_roots=[root], at=at)
        except Exception as exc:  # no bundle signer yet, or bundle code in flux: PKI-only, say so in the log
            log.warning("verifying without a trust bundle (root only): %s", exc)
            return Verifier.from_trust_roots([root], registry=registry, crls=crls, sm2_roots=sm2_roots)
        return Verifier.from_bundle(
            bundle, registry=registry, crls=crls, sm2_roots=sm2_roots, log_check=self._log_check(bundle)
        )

    def _log_check(self, bundle: TrustBundle) -> LogCheck | None:
        """The issuance-log check against this instance's own log ("sealed outside the record"), when the log is on
        and the bundle names it."""
        if bundle.log is None or not self.instance.settings.log_enabled:
            return None
        from seal_service.log.local import InstanceLog

        return LogCheck(policy=bundle.log, online=InstanceLog(self.instance))

    def verifier(self, at: datetime) -> Verifier:
        """The current verifier; rebuilt at most every minute, so a new bundle version is taken up quickly."""
        with self._lock:
            if self._verifier is None or time.monotonic() - self._built_at > _VERIFIER_TTL:
                self._verifier = self._build(at)
                self._built_at = time.monotonic()
            return self._verifier

    def verify(self, data: bytes, *, at: datetime, file: str = "") -> VerificationReport:
        """The full report on one document (never raises for a bad document)."""
        return self.verifier(at).verify(data, at=at, file=file)


# --- batches ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchFile:
    """One document of a batch."""

    name: str
    data: bytes


def unzip_batch(data: bytes, *, max_entry_bytes: int) -> list[BatchFile]:
    """The ``*.pdf`` entries of a zip, checked for bombs *before* anything is extracted.

    Refused (:class:`InvalidInput`): not a zip, more than :data:`MAX_BATCH_FILES` PDFs, an entry declaring more
    than ``max_entry_bytes``, more than :data:`MAX_ZIP_TOTAL` declared in total, or a compression ratio above
    :data:`MAX_ZIP_RATIO`. Declared sizes are not trusted while extracting either: each entry is read with a cap.
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [info for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InvalidInput(f"not a readable zip file ({exc})", field="files") from None
    pdfs = [info for info in entries if info.filename.lower().endswith(".pdf")]
    if not pdfs:
        raise InvalidInput("the zip file holds no *.pdf entries", field="files")
    if len(pdfs) > MAX_BATCH_FILES:
        raise InvalidInput(f"the zip file holds {len(pdfs)} PDFs; at most {MAX_BATCH_FILES} per batch", field="files")
    total = 0
    for info in pdfs:
        if info.flag_bits & 0x1:
            raise InvalidInput(f"{info.filename}: encrypted zip entries are refused", field="files")
        if info.file_size > max_entry_bytes:
            raise InvalidInput(
                f"{info.filename}: {info.file_size} bytes, the limit is {max_entry_bytes}", field="files"
            )
        if info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            raise InvalidInput(f"{info.filename}: compression ratio above {MAX_ZIP_RATIO} (zip bomb?)", field="files")
        total += info.file_size
    if total > MAX_ZIP_TOTAL:
        raise InvalidInput(f"the zip file expands to {total} bytes; at most {MAX_ZIP_TOTAL}", field="files")
    files = []
    for info in pdfs:
        try:
            with archive.open(info) as entry:
                content = entry.read(info.file_size + 1)
        except (zipfile.BadZipFile, OSError, ValueError, RuntimeError) as exc:
            raise InvalidInput(f"{info.filename}: cannot be extracted ({exc})", field="files") from None
        if len(content) != info.file_size:
            raise InvalidInput(f"{info.filename}: its size differs from the size declared", field="files")
        files.append(BatchFile(info.filename, content))
    return files


def verify_batch(instance: Instance, files: Iterable[BatchFile], *, at: datetime) -> list[dict[str, object]]:
    """One report (JSON) per file, in order; run in the verification pool by the caller."""
    verification = Verification.of(instance)
    return [verification.verify(f.data, at=at, file=f.name).to_json() for f in files]


def summary(results: list[dict[str, object]]) -> dict[str, int]:
    """Counts per verdict."""
    counts = {"valid": 0, "invalid": 0, "indeterminate": 0, "modified": 0}
    for result in results:
        counts[str(result["verdict"])] += 1
    return counts


#: A running job without progress for this long is reported failed: the node that ran it stopped.
JOB_STALE_AFTER = timedelta(minutes=10)
#: Files verified between two progress writes (the running job's heartbeat).
JOB_PROGRESS_EVERY = 20


def node_name() -> str:
    """This node, as recorded on the jobs it runs: host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


class JobStore:
    """Batch jobs in the database (``verification_jobs``): any node behind the load balancer can answer a poll.

    The node that accepts a job verifies it from memory, writing progress and finally the results; the documents
    are also stored (``verification_job_files``) until the job ends. If that node stops, the job makes no
    progress, and after :data:`JOB_STALE_AFTER` the first node polled for it takes it over (:meth:`take_over`)
    and verifies it again from the stored documents.
    """

    def __init__(self, instance: Instance) -> None:
        self.instance = instance

    @staticmethod
    def _check_id(job_id: str) -> None:
        if not job_id.startswith("J") or not job_id[1:].isalnum() or len(job_id) > 40:
            raise NotFound(f"unknown verification job {job_id!r}")

    def create(self, files: Sequence[BatchFile], *, at: datetime) -> str:
        """A new job id (unguessable), recorded as running with its documents; jobs older than
        :data:`JOB_RETENTION` are swept."""
        job_id = "J" + secrets.token_hex(12).upper()
        with self.instance.writer.begin() as session:
            old = select(VerificationJob.id).where(VerificationJob.created_at < at - JOB_RETENTION)
            session.execute(delete(VerificationJobFile).where(VerificationJobFile.job_id.in_(old)))
            session.execute(delete(VerificationJob).where(VerificationJob.created_at < at - JOB_RETENTION))
            session.add(
                VerificationJob(
                    id=job_id,
                    status="running",
                    files=len(files),
                    verified=0,
                    node=node_name(),
                    created_at=at,
                    updated_at=at,
                )
            )
            session.flush()
            session.add_all(
                VerificationJobFile(job_id=job_id, position=n, name=f.name[:1000], data=f.data)
                for n, f in enumerate(files)
            )
        return job_id

    def take_over(self, job_id: str, *, at: datetime) -> list[BatchFile] | None:
        """The documents of ``job_id`` if its node stopped (running, no progress for :data:`JOB_STALE_AFTER`) and
        this node now holds the job; None otherwise (also when another node took it over first)."""
        self._check_id(job_id)
        with self.instance.sessions() as session:
            job = session.get(VerificationJob, job_id)
        if job is None or job.status != "running" or job.updated_at >= at - JOB_STALE_AFTER:
            return None
        with self.instance.writer.begin() as session:
            taken = session.execute(
                update(VerificationJob)
                .where(
                    VerificationJob.id == job_id,
                    VerificationJob.status == "running",
                    VerificationJob.updated_at == job.updated_at,  # nobody took it over or progressed meanwhile
                )
                .values(node=node_name(), updated_at=at, verified=0)
            ).rowcount
            if taken != 1:
                return None
            rows = session.scalars(
                select(VerificationJobFile)
                .where(VerificationJobFile.job_id == job_id)
                .order_by(VerificationJobFile.position)
            ).all()
            files = [BatchFile(row.name, row.data) for row in rows]
        if len(files) != job.files:
            self.fail(job_id, "the batch's documents are no longer stored; submit the batch again", at=at)
            return None
        return files

    def progress(self, job_id: str, verified: int, *, at: datetime) -> None:
        """Record that ``verified`` documents are done (also the heartbeat that keeps the job from going stale)."""
        with self.instance.writer.begin() as session:
            session.execute(
                update(VerificationJob)
                .where(VerificationJob.id == job_id, VerificationJob.status == "running")
                .values(verified=verified, updated_at=at)
            )

    def finish(self, job_id: str, results: list[dict[str, object]], *, at: datetime) -> None:
        """Record the results."""
        with self.instance.writer.begin() as session:
            session.execute(
                update(VerificationJob)
                .where(VerificationJob.id == job_id)
                .values(
                    status="done",
                    verified=len(results),
                    updated_at=at,
                    finished_at=at,
                    summary=summary(results),
                    results=json.dumps(results, ensure_ascii=False),
                )
            )
            session.execute(delete(VerificationJobFile).where(VerificationJobFile.job_id == job_id))

    def fail(self, job_id: str, message: str, *, at: datetime) -> None:
        """Record that the job could not finish."""
        with self.instance.writer.begin() as session:
            session.execute(
                update(VerificationJob)
                .where(VerificationJob.id == job_id)
                .values(status="failed", updated_at=at, finished_at=at, error=message)
            )
            session.execute(delete(VerificationJobFile).where(VerificationJobFile.job_id == job_id))

    def read(self, job_id: str, *, at: datetime | None = None) -> dict[str, object]:
        """The job's record as the API answers it (:class:`NotFound` for an unknown or expired id)."""
        self._check_id(job_id)
        at = at or now()
        with self.instance.sessions() as session:
            job = session.get(VerificationJob, job_id)
        if job is None or job.created_at < at - JOB_RETENTION:
            raise NotFound(f"unknown verification job {job_id!r}")
        record: dict[str, object] = {
            "id": job.id,
            "status": job.status,
            "files": job.files,
            "verified": job.verified,
            "created_at": job.created_at.isoformat(),
        }
        if job.status == "running" and job.updated_at < at - JOB_STALE_AFTER:
            record.update(status="failed", error="the node verifying this batch stopped; submit the batch again")
        if job.finished_at is not None:
            record["finished_at"] = job.finished_at.isoformat()
        if job.status == "done":
            record.update(summary=job.summary, results=json.loads(job.results or "[]"))
        elif job.error is not None:
            record["error"] = job.error
        return record


def now() -> datetime:
    """The service clock."""
    return datetime.now(UTC)
