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
* batch jobs: results of large batches kept as JSON files under ``{home}/verify-jobs/`` (shared by the uvicorn
  workers of one node; see docs/verification.md for why files and not a table).
"""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import threading
import time
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from seal_service.errors import InvalidInput, NotFound
from seal_service.gm import national_trust_roots
from seal_service.instance import Instance, PkiRole
from seal_service.storage.models import Licence
from verifier import VerificationReport, Verifier
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

    def _build(self, at: datetime) -> Verifier:
        root = self.instance.pki.certificate(PkiRole.ROOT)
        registry = DatabaseRegistry(self.instance)
        sm2_roots = national_trust_roots(self.instance)
        try:
            from seal_service.services.trust_bundle import current_trust_bundle
            from verifier.bundle import load_trust_bundle

            issued = current_trust_bundle(self.instance, at=at)
            bundle = load_trust_bundle(issued.document, trust_roots=[root], at=at)
        except Exception as exc:  # no bundle signer yet, or bundle code in flux: PKI-only, say so in the log
            log.warning("verifying without a trust bundle (root only): %s", exc)
            return Verifier.from_trust_roots([root], registry=registry, sm2_roots=sm2_roots)
        return Verifier.from_bundle(bundle, registry=registry, sm2_roots=sm2_roots)

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


class JobStore:
    """Batch jobs as JSON files under ``{home}/verify-jobs/``: any worker process of this node can answer a GET."""

    def __init__(self, instance: Instance) -> None:
        self.directory = Path(instance.settings.resolved_home) / "verify-jobs"

    def _path(self, job_id: str) -> Path:
        if not job_id.startswith("J") or not job_id[1:].isalnum() or len(job_id) > 40:
            raise NotFound(f"unknown verification job {job_id!r}")
        return self.directory / f"{job_id}.json"

    def create(self, count: int, *, at: datetime) -> str:
        """A new job id (unguessable), recorded as running; old jobs are swept."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._sweep(at)
        job_id = "J" + secrets.token_hex(12).upper()
        self._write(job_id, {"id": job_id, "status": "running", "files": count, "created_at": at.isoformat()})
        return job_id

    def finish(self, job_id: str, results: list[dict[str, object]], *, at: datetime) -> None:
        """Record the results."""
        record = self.read(job_id)
        record.update(status="done", finished_at=at.isoformat(), summary=summary(results), results=results)
        self._write(job_id, record)

    def fail(self, job_id: str, message: str, *, at: datetime) -> None:
        """Record that the job could not finish."""
        record = self.read(job_id)
        record.update(status="failed", finished_at=at.isoformat(), error=message)
        self._write(job_id, record)

    def read(self, job_id: str) -> dict[str, object]:
        """The job's record (:class:`NotFound` for an unknown or expired id)."""
        try:
            data: dict[str, object] = json.loads(self._path(job_id).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise NotFound(f"unknown verification job {job_id!r}") from None
        return data

    def _write(self, job_id: str, record: dict[str, object]) -> None:
        path = self._path(job_id)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
        temporary.replace(path)  # atomic: a reader sees the old or the new record, never half of one

    def _sweep(self, at: datetime) -> None:
        cutoff = (at - JOB_RETENTION).timestamp()
        for path in self.directory.glob("J*.json"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                continue


def now() -> datetime:
    """The service clock."""
    return datetime.now(UTC)
