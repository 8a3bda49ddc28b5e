"""Archive renewal speed: ``seal-service archive renew``'s code path against pyHanko's own
``PdfTimeStamper.update_archival_timestamp_chain`` on the same stored B-LTA licences, in the same run.

Run: ``.venv/bin/python bench/renew.py`` (``--count 500`` licences; ``--quick`` for 60; ``--pyhanko-files N`` to give
pyHanko's leg fewer files; ``--database-url postgresql://...`` for PostgreSQL; ``--workers N`` adds an end-to-end
leg in N processes, the licences then split in three between the end-to-end legs). A throwaway instance seals
``--distinct`` (20) licences at B-LTA, stores copies up to ``--count`` (copies share a PDF, each is a licence row of
its own), and rotates its TSA so that renewals have a newer TSA certificate. Then, on the same files:

* ours, end to end: :func:`seal_service.archive.renew_licences` on batches of ``--batch-size`` (16) licences, what
  ``seal-service archive renew`` runs (read the newest versions from the database, DSS + document time-stamp,
  commit each new version with its audit entry, supervision event and issuance-log entry: one transaction per
  batch, written together with one statement per table), in 1 warmed worker process (first half of the licences)
  and in 2 (second half);
* ours, PDF only: :meth:`ArchiveRenewer.renew_pdf` on the stored bytes, 1 process (no database); it prints how
  many revisions were written directly (seal_service/archive/fast_revision.py) and how many fell back to pyHanko;
* pyHanko: ``PdfTimeStamper(InProcessTimeStamper(our TSA)).update_archival_timestamp_chain(reader, validation
  context)`` on the same bytes, 1 process: it validates the newest time-stamp and adds its validation data, then
  time-stamps (no database).

Prints, per leg, licences per second (wall clock) and CPU milliseconds per licence (``time.process_time`` of the
processes doing the work, summed; steady under load from other jobs), the ratios against pyHanko by both, and the
load average before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

HORIZON = timedelta(days=2000)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"


def _throwaway_database(server_url: str | None, home: Path) -> contextlib.AbstractContextManager[str | None]:
    """A new, empty PostgreSQL database on the server of ``server_url`` for this run (an instance's database holds
    its PKI, so a database another run initialised cannot be reused), dropped at the end; None for SQLite."""
    if server_url is None:
        return contextlib.nullcontext(None)
    from tests.support.instances import own_database

    return own_database("postgresql", home, server_url)


def _settings(home: Path, database_url: str | None):  # type: ignore[no-untyped-def]
    from seal_service.settings import Settings

    return Settings(
        home=home,
        database_url=database_url,
        public_url="http://127.0.0.1:9",
        key_passphrase="bench-not-secret",  # noqa: S106 - a throwaway instance
    )


def _prepare(home: Path, database_url: str | None, count: int, distinct: int) -> tuple[list[str], datetime]:
    from seal_service.archive.tsa_rotation import rotate_tsa
    from seal_service.instance import Instance
    from seal_service.services.bootstrap import initialise
    from tests.support.archive import clone_licences, seal_blta
    from tests.support.pdfs import sample_licence_pdf

    instance = Instance(_settings(home, database_url))
    now = datetime.now(UTC)
    initialise(instance, at=now)
    pdf = sample_licence_pdf()
    sealed = [seal_blta(instance, pdf, at=now) for _ in range(distinct)]
    ids = list(sealed)
    per = max(0, count - distinct) // distinct + 1
    for licence_id in sealed:
        ids += clone_licences(instance, licence_id, per)
    ids = ids[:count]
    rotate_tsa(instance, at=now + timedelta(minutes=1), actor="bench")
    instance.engine.dispose()
    return ids, now + timedelta(minutes=2)


_worker: dict[str, object] = {}


def _init_worker(home: str, database_url: str | None) -> None:
    from seal_service.archive import ArchiveRenewer
    from seal_service.instance import Instance

    logging.disable(logging.WARNING)
    instance = Instance(_settings(Path(home), database_url))
    _worker["instance"] = instance
    _worker["renewer"] = ArchiveRenewer(instance)


def _renew_chunk(args: tuple[list[str], datetime, int]) -> tuple[int, float]:
    from seal_service.archive import RenewalOutcomeKind, renew_licences

    ids, at, batch_size = args
    done = 0
    cpu = time.process_time()
    for start in range(0, len(ids), batch_size):
        outcomes = renew_licences(
            _worker["instance"],  # type: ignore[arg-type]
            ids[start : start + batch_size],
            at=at,
            horizon=HORIZON,
            renewer=_worker["renewer"],  # type: ignore[arg-type]
            actor="bench",
        )
        done += sum(o.kind is RenewalOutcomeKind.RENEWED for o in outcomes)
    return done, time.process_time() - cpu


def _ours_end_to_end(
    home: Path, database_url: str | None, ids: list[str], at: datetime, processes: int, batch_size: int
) -> tuple[float, float]:
    """Renew ``ids`` end to end in ``processes`` warmed worker processes, ``batch_size`` licences per transaction
    (what ``archive renew --workers N`` does); returns (wall seconds, CPU seconds summed over the workers)."""
    # Batches dealt round-robin, as the renewal's pool deals them.
    batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
    chunks = [([i for batch in batches[k::processes] for i in batch], at, batch_size) for k in range(processes)]
    context = multiprocessing.get_context("spawn")
    with context.Pool(processes, initializer=_init_worker, initargs=(str(home), database_url)) as pool:
        pool.map(_init_noop, range(processes))  # the workers are up and their TSA key loaded before timing
        start = time.perf_counter()
        results = pool.map(_renew_chunk, chunks)
        elapsed = time.perf_counter() - start
    renewed = sum(done for done, _ in results)
    assert renewed == len(ids), f"renewed {renewed} of {len(ids)}"
    return elapsed, sum(cpu for _, cpu in results)


def _init_noop(_: int) -> None:
    from seal_service.archive import ArchiveRenewer

    renewer = _worker["renewer"]
    assert isinstance(renewer, ArchiveRenewer)
    renewer.current_tsa_expiry()


def _stored(home: Path, database_url: str | None, ids: list[str], version: int) -> list[bytes]:
    from seal_service.archive import licence_pdf
    from seal_service.instance import Instance

    instance = Instance(_settings(home, database_url))
    try:
        return [licence_pdf(instance, licence_id, version)[0] for licence_id in ids]
    finally:
        instance.engine.dispose()


def _ours_pdf_only(home: Path, database_url: str | None, pdfs: list[bytes], at: datetime) -> tuple[float, float, int]:
    """Returns (wall seconds, CPU seconds, how many revisions were written directly rather than by pyHanko)."""
    from seal_service.archive import ArchiveRenewer
    from seal_service.instance import Instance

    renewer = ArchiveRenewer(Instance(_settings(home, database_url)))
    renewer.renew_pdf(pdfs[0], at=at)  # warm: key loaded, CRL made
    direct = 0
    start, cpu = time.perf_counter(), time.process_time()
    for pdf in pdfs:
        direct += renewer.renew_pdf(pdf, at=at).built_by == "direct"
    return time.perf_counter() - start, time.process_time() - cpu, direct


def _pyhanko(home: Path, database_url: str | None, pdfs: list[bytes], at: datetime) -> tuple[float, float, int]:
    from asn1crypto import crl as asn1_crl
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
    from pyhanko_certvalidator import ValidationContext

    from seal_service.instance import Instance, PkiRole
    from seal_service.protocols.tsa import InProcessTimeStamper

    instance = Instance(_settings(home, database_url))
    root = asn1_x509.Certificate.load(instance.pki.certificate(PkiRole.ROOT).public_bytes(serialization.Encoding.DER))
    crl = asn1_crl.CertificateList.load(instance.revocation.crl("root", at=at))
    # The same in-process TSA (current key) as ours, built once.
    stamper = PdfTimeStamper(InProcessTimeStamper(instance.timestamps, clock=lambda: at))
    valid = 0
    start, cpu = time.perf_counter(), time.process_time()
    for pdf in pdfs:
        context = ValidationContext(trust_roots=[root], crls=[crl], allow_fetching=False, moment=at)
        out = stamper.update_archival_timestamp_chain(PdfFileReader(BytesIO(pdf)), context, in_place=False)
        valid += len(out.getvalue()) > len(pdf)
    return time.perf_counter() - start, time.process_time() - cpu, valid


def main() -> None:
    from seal_service.archive.renewal import BATCH_SIZE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--distinct", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="60 licences")
    parser.add_argument("--pyhanko-files", type=int, help="give pyHanko's leg only the first N files")
    parser.add_argument(
        "--database-url",
        help="a PostgreSQL server (postgresql://...): the run makes a throwaway database there and drops it at the "
        "end; default: SQLite in a temporary directory",
    )
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="licences per transaction (1: unbatched)")
    parser.add_argument(
        "--workers",
        type=int,
        help="also an end-to-end leg in N processes (archive renew --workers N); the licences split in three",
    )
    args = parser.parse_args()
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    count = 60 if args.quick else args.count
    logging.disable(logging.WARNING)
    print(_load())
    server_url = args.database_url
    with (
        tempfile.TemporaryDirectory(prefix="bench-renew-") as tmp,
        _throwaway_database(server_url, Path(tmp)) as database_url,
    ):
        args.database_url = database_url
        home = Path(tmp) / "instance"
        started = time.perf_counter()
        ids, at = _prepare(home, args.database_url, count, min(args.distinct, count))
        print(f"prepared {len(ids)} stored B-LTA licences in {time.perf_counter() - started:.1f} s; TSA rotated")
        issued = _stored(home, args.database_url, ids, 1)
        pdf_only, pdf_only_cpu, direct = _ours_pdf_only(home, args.database_url, issued, at)
        print(f"ours: {direct} of {len(issued)} renewal revisions written directly, the rest by pyHanko")
        files = issued[: args.pyhanko_files] if args.pyhanko_files else issued
        pyhanko_time, pyhanko_cpu, pyhanko_ok = _pyhanko(home, args.database_url, files, at)
        assert pyhanko_ok == len(files)
        # The licences split between the end-to-end legs (each licence is renewed once): halves, or thirds with
        # --workers N.
        parts = 3 if args.workers else 2
        half, end = len(ids) // parts, 2 * len(ids) // parts if args.workers else len(ids)
        one, one_cpu = _ours_end_to_end(home, args.database_url, ids[:half], at, 1, args.batch_size)
        two, two_cpu = _ours_end_to_end(home, args.database_url, ids[half:end], at, 2, args.batch_size)
        if args.workers:
            many, many_cpu = _ours_end_to_end(home, args.database_url, ids[end:], at, args.workers, args.batch_size)
        print(_load())
    database = "PostgreSQL (server CPU not counted)" if args.database_url else "SQLite (in-process, counted)"
    print(f"database: {database}; end to end: {args.batch_size} licences per transaction")
    legs = {
        "ours, PDF only, 1 process": (len(issued), pdf_only, pdf_only_cpu),
        "ours, end to end, 1 process": (half, one, one_cpu),
        "ours, end to end, 2 processes": (end - half, two, two_cpu),
        "pyHanko update_archival_timestamp_chain, 1 process": (len(files), pyhanko_time, pyhanko_cpu),
    }
    if args.workers:
        legs[f"ours, end to end, {args.workers} processes (on {os.cpu_count()} cores)"] = (
            len(ids) - end,
            many,
            many_cpu,
        )
    print(f"{'leg':<52} {'licences/s':>10} {'wall ms':>8} {'CPU ms':>7}  (per licence; CPU summed over processes)")
    for name, (n, wall, cpu) in legs.items():
        print(f"{name:<52} {n / wall:10.1f} {1000 * wall / n:8.2f} {1000 * cpu / n:7.2f}")
    py_wall, py_cpu = pyhanko_time / len(files), pyhanko_cpu / len(files)
    for name in ("ours, PDF only, 1 process", "ours, end to end, 1 process"):
        n, wall, cpu = legs[name]
        by_wall, by_cpu = py_wall / (wall / n), py_cpu / (cpu / n)
        print(f"ratio {name} / pyHanko (1 process each): {by_wall:5.2f}x by wall time, {by_cpu:5.2f}x by CPU time")
    two_rate = (end - half) / two
    print(f"ours end to end on 2 processes: {two_rate:.1f} licences/s wall (target >= 100; see the load average)")
    print(f"  CPU-bound capacity of 2 idle cores at the 2-process CPU cost: {2 * (end - half) / two_cpu:.1f}/s")
    if args.workers:
        rate = (len(ids) - end) / many
        print(f"ours end to end on {args.workers} processes ({os.cpu_count()} cores): {rate:.1f} licences/s wall")


if __name__ == "__main__":
    main()
