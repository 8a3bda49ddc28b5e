"""Archive renewal speed: ``seal-service archive renew``'s code path against pyHanko's own
``PdfTimeStamper.update_archival_timestamp_chain`` on the same stored B-LTA licences, in the same run.

Run: ``.venv/bin/python bench/renew.py`` (``--count 500`` licences; ``--quick`` for 60; ``--pyhanko-files N`` to give
pyHanko's leg fewer files; ``--database-url postgresql://...`` for PostgreSQL). A throwaway instance seals
``--distinct`` (20) licences at B-LTA, stores copies up to ``--count`` (copies share a PDF, each is a licence row of
its own), and rotates its TSA so that renewals have a newer TSA certificate. Then, on the same files:

* ours, end to end: :func:`seal_service.archive.renew_licence` for every licence (read the newest version from the
  database, DSS + document time-stamp, commit the new version with its audit entry), in 1 process and in 2;
* ours, PDF only: :meth:`ArchiveRenewer.renew_pdf` on the stored bytes, 1 process (no database);
* pyHanko: ``PdfTimeStamper(InProcessTimeStamper(our TSA)).update_archival_timestamp_chain(reader, validation
  context)`` on the same bytes, 1 process: it validates the newest time-stamp and adds its validation data, then
  time-stamps (no database).

Prints licences per second for each leg and the ratios (ours / pyHanko, per core), plus the load average.
"""

from __future__ import annotations

import argparse
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


def _renew_chunk(args: tuple[list[str], datetime]) -> tuple[int, float]:
    from seal_service.archive import RenewalOutcomeKind, renew_licence

    ids, at = args
    done = 0
    cpu = time.process_time()
    for licence_id in ids:
        outcome = renew_licence(
            _worker["instance"],  # type: ignore[arg-type]
            licence_id,
            at=at,
            horizon=HORIZON,
            renewer=_worker["renewer"],  # type: ignore[arg-type]
            actor="bench",
        )
        done += outcome.kind is RenewalOutcomeKind.RENEWED
    return done, time.process_time() - cpu


def _ours_end_to_end(
    home: Path, database_url: str | None, ids: list[str], at: datetime, processes: int
) -> tuple[float, float]:
    chunks = [(ids[i::processes], at) for i in range(processes)]
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


def _ours_pdf_only(home: Path, database_url: str | None, pdfs: list[bytes], at: datetime) -> tuple[float, float]:
    from seal_service.archive import ArchiveRenewer
    from seal_service.instance import Instance

    renewer = ArchiveRenewer(Instance(_settings(home, database_url)))
    renewer.renew_pdf(pdfs[0], at=at)  # warm: key loaded, CRL made
    start, cpu = time.perf_counter(), time.process_time()
    for pdf in pdfs:
        renewer.renew_pdf(pdf, at=at)
    return time.perf_counter() - start, time.process_time() - cpu


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--distinct", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="60 licences")
    parser.add_argument("--pyhanko-files", type=int, help="give pyHanko's leg only the first N files")
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    args = parser.parse_args()
    count = 60 if args.quick else args.count
    logging.disable(logging.WARNING)
    print(_load())
    with tempfile.TemporaryDirectory(prefix="bench-renew-") as tmp:
        home = Path(tmp) / "instance"
        started = time.perf_counter()
        ids, at = _prepare(home, args.database_url, count, min(args.distinct, count))
        print(f"prepared {len(ids)} stored B-LTA licences in {time.perf_counter() - started:.1f} s; TSA rotated")
        issued = _stored(home, args.database_url, ids, 1)
        pdf_only, pdf_only_cpu = _ours_pdf_only(home, args.database_url, issued, at)
        files = issued[: args.pyhanko_files] if args.pyhanko_files else issued
        pyhanko_time, pyhanko_cpu, pyhanko_ok = _pyhanko(home, args.database_url, files, at)
        assert pyhanko_ok == len(files)
        half = len(ids) // 2
        one, one_cpu = _ours_end_to_end(home, args.database_url, ids[:half], at, 1)
        two, _ = _ours_end_to_end(home, args.database_url, ids[half:], at, 2)
        print(_load())
    legs = {
        "ours, PDF only, 1 process": (len(issued), pdf_only, pdf_only_cpu),
        "ours, end to end (DB + audit), 1 process": (half, one, one_cpu),
        "pyHanko update_archival_timestamp_chain, 1 process": (len(files), pyhanko_time, pyhanko_cpu),
    }
    print(f"{'leg':<52} {'licences/s':>10} {'wall ms':>8} {'CPU ms':>7}  (per licence)")
    for name, (n, wall, cpu) in legs.items():
        print(f"{name:<52} {n / wall:10.1f} {1000 * wall / n:8.2f} {1000 * cpu / n:7.2f}")
    two_rate = (len(ids) - half) / two
    print(f"{'ours, end to end (DB + audit), 2 processes':<52} {two_rate:10.1f} {1000 * two / (len(ids) - half):8.2f}")
    py_wall, py_cpu = pyhanko_time / len(files), pyhanko_cpu / len(files)
    for name, (n, wall, cpu) in list(legs.items())[:2]:
        by_wall, by_cpu = py_wall / (wall / n), py_cpu / (cpu / n)
        print(f"ratio {name} / pyHanko: {by_wall:5.2f}x by wall time, {by_cpu:5.2f}x by CPU time")
    print(f"ours end to end on 2 processes: {two_rate:.1f} licences/s (target >= 100; wall time, see the load average)")


if __name__ == "__main__":
    main()
