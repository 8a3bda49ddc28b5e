"""``seal-verify``: verify sealed PDF licences offline, one line (or one JSON object, or one CSV row) per file.

Example::

    seal-verify licences/ --trust-root one-seal-root.pem --workers 4 --csv report.csv

Exit codes: 0 every file is valid; 1 some file is not valid (invalid, indeterminate or modified); 2 usage or
input error (no trust root, an unreadable PEM, a missing or unreadable file, a bad ``--at``). This module is the
one place that turns verifier errors into exit codes; it never prints a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import dataclasses
import gc
import json
import logging
import multiprocessing
import os
import sys
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing import get_all_start_methods, get_context
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any, TextIO

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from verifier.bundle import TrustBundle, load_trust_bundle
from verifier.engine import Verifier, load_crls
from verifier.errors import InputError, VerifierError
from verifier.log_check import LogCheck
from verifier.ltv import RevocationSources
from verifier.registry import ServiceRegistry
from verifier.report import Indication, Message, Verdict, VerificationReport
from verifier.tlog import TlogError
from verifier.trust import load_trust_roots

PROG = "seal-verify"
PROGRESS_ABOVE = 20
CSV_FIELDS = (
    "file",
    "verdict",
    "indication",
    "subindication",
    "seal_name",
    "organisation",
    "credit_code",
    "seal_id",
    "certificate_serial",
    "licence",
    "signed_at",
    "signed_at_source",
    "level",
    "messages",
    "proven_signing_time",
    "verifiable_until",
    "long_term",
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Verify the electronic seals (PAdES signatures) on PDF licences, offline. Each file is checked for "
            "structure, integrity, changes after sealing, the chain to a trust root, revocation and proof of time."
        ),
        epilog="Exit status: 0 all files valid, 1 any file not valid, 2 usage or input error.",
    )
    parser.add_argument("paths", nargs="+", metavar="FILE_OR_DIR", help="PDF files, or directories walked for *.pdf")
    parser.add_argument(
        "--trust-root",
        action="append",
        default=[],
        metavar="PEM",
        help="a PEM file of trusted root certificates (several per file allowed); repeat for more files",
    )
    parser.add_argument(
        "--trust-bundle",
        metavar="FILE",
        help="the service's signed trust bundle (GET /v1/trust-bundle, seal-service trust-bundle -o FILE), checked "
        "against --trust-root; adds the seal lifecycle rules (retired, revoked seals). A PEM file of root "
        "certificates is also accepted here and read exactly like --trust-root",
    )
    parser.add_argument(
        "--crl",
        action="append",
        default=[],
        metavar="FILE",
        help="a CRL (PEM or DER) added to the revocation information in the files, e.g. for documents of other "
        "issuers trusted with --trust-root; repeat for more",
    )
    parser.add_argument(
        "--service",
        metavar="URL",
        help="online: ask the issuing service (e.g. https://seal.example.gov.cn) for each licence's status and "
        "record hash (GET URL/v1/public/licences/ID), whatever address the licence's QR code spells, and for the "
        "CRLs of seals below B-LTA; without it everything is offline",
    )
    parser.add_argument(
        "--online",
        action="store_true",
        help="online: fetch revocation status (CRL, OCSP) from the addresses in the certificates, for seals below "
        "B-LTA that carry none (B-B, B-T)",
    )
    parser.add_argument(
        "--log-proof",
        action="append",
        default=[],
        metavar="FILE",
        help="offline: a licence's issuance-log receipt (seal-service log proof --licence ID -o FILE, "
        "c2sp.org/tlog-proof@v1), checked against the log keys and witnesses of --trust-bundle; repeat for more",
    )
    parser.add_argument(
        "--log-quorum",
        type=int,
        metavar="K",
        help="require cosignatures of K of the trust bundle's witnesses on the log checkpoint (default: the "
        "bundle's recommendation)",
    )
    parser.add_argument(
        "--sm2-root",
        action="append",
        default=[],
        metavar="PEM",
        help="a PEM file of trusted SM2 roots for national seals (国密, GB/T 38540), e.g. from seal-service ca-cert "
        "--role sm2-root; a --trust-bundle carries the service's own. Repeat for more files",
    )
    parser.add_argument(
        "--require-gm",
        action="store_true",
        help="policy: a document without a national seal (国密电子签章) is invalid",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print a JSON array with one report object per file")
    output.add_argument("--csv", metavar="FILE", help="write the reports as CSV to FILE ('-' for standard output)")
    parser.add_argument(
        "--workers", type=_positive_int, default=1, metavar="N", help="verify N files in parallel (default 1)"
    )
    parser.add_argument(
        "--at",
        type=_aware_time,
        metavar="ISO-TIME",
        help="validate as if the clock showed this time, e.g. 2030-01-01T00:00:00+08:00 (default: now)",
    )
    return parser


def _sm2_roots(paths: Sequence[str]) -> tuple[bytes, ...]:
    """The SM2 root certificates (DER) in the PEM files ``paths``; InputError for anything else."""
    from asn1crypto import pem

    from verifier.gm_structures import is_sm2_certificate

    found: list[bytes] = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: cannot read ({exc.strerror})") from None
        ders = [der for _type, _headers, der in pem.unarmor(data, multiple=True)] if pem.detect(data) else [data]
        for der in ders:
            if not is_sm2_certificate(der):
                raise InputError(
                    f"{path}: not an SM2 certificate (expected PEM from seal-service ca-cert --role sm2-root)"
                )
            found.append(der)
    return tuple(found)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _aware_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise argparse.ArgumentTypeError(f"give a time zone, e.g. {text}+08:00 or {text}Z")
    return moment


def _quiet_libraries() -> None:
    """pyHanko logs every validation failure with a traceback; the CLI reports them in plain words instead."""
    for name in ("pyhanko", "pyhanko_certvalidator", "pikepdf"):
        logger = logging.getLogger(name)
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    warnings.simplefilter("ignore")


def _collect(paths: Iterable[str]) -> list[Path]:
    """The files to verify: files as given, directories walked (sorted) for ``*.pdf``; duplicates once."""
    found: dict[Path, None] = {}
    for text in paths:
        path = Path(text)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs.sort()
                for name in sorted(names):
                    if name.lower().endswith(".pdf"):
                        found.setdefault(Path(root) / name)
        elif path.is_file():
            found.setdefault(path)
        elif path.exists():
            raise InputError(f"{path}: not a regular file or directory")
        else:
            raise InputError(f"{path}: no such file or directory")
    if not found:
        raise InputError("no PDF files found in " + ", ".join(paths))
    return list(found)


# --- verification, in this process or in workers ----------------------------------------------------------------


@dataclass(frozen=True)
class _Setup:
    """What every worker needs to build the same :class:`Verifier` (picklable: bytes and strings only)."""

    roots_der: tuple[bytes, ...]
    crls_der: tuple[bytes, ...] = ()
    bundle: bytes | None = None
    service: str | None = None
    online: bool = False
    log_proofs: tuple[bytes, ...] = ()
    log_quorum: int | None = None
    sm2_roots_der: tuple[bytes, ...] = ()
    require_gm: bool = False


_verifier: Verifier | None = None
_at: datetime | None = None
# At most this many files are verified in the calling process while the worker processes start.
_HEAD_FILES = 48


def _log_check(bundle: TrustBundle, setup: _Setup) -> LogCheck | None:
    """The issuance-log check when the bundle names a log and there is a receipt or a service to ask."""
    if bundle.log is None:
        if setup.log_proofs:
            raise InputError("--log-proof: the trust bundle names no issuance log")
        return None
    if not setup.log_proofs and not setup.service:
        return None
    policy = bundle.log
    if setup.log_quorum is not None:
        if setup.log_quorum > len(policy.witnesses):
            raise InputError(
                f"--log-quorum {setup.log_quorum}: the trust bundle names only {len(policy.witnesses)} witness(es)"
            )
        policy = dataclasses.replace(policy, quorum=setup.log_quorum)
    try:
        return LogCheck.build(policy, receipts=list(setup.log_proofs), service=setup.service)
    except TlogError as exc:
        raise InputError(f"--log-proof: {exc}") from None


def _build_verifier(setup: _Setup, at: datetime | None) -> Verifier:
    roots = [x509.load_der_x509_certificate(der) for der in setup.roots_der]
    registry = ServiceRegistry(setup.service) if setup.service else None
    revocation = RevocationSources(service_url=setup.service, online=setup.online)
    if setup.bundle is not None:
        bundle = load_trust_bundle(setup.bundle, trust_roots=roots, at=at or datetime.now(UTC))
        log = _log_check(bundle, setup)
        return Verifier.from_bundle(
            bundle,
            crls=setup.crls_der,
            registry=registry,
            revocation=revocation,
            log_check=log,
            sm2_roots=setup.sm2_roots_der,
            require_national_seal=setup.require_gm,
        )
    if setup.log_proofs:
        raise InputError("--log-proof needs a signed --trust-bundle (it names the log's keys and witnesses)")
    return Verifier.from_trust_roots(
        roots,
        crls=setup.crls_der,
        registry=registry,
        revocation=revocation,
        sm2_roots=setup.sm2_roots_der,
        require_national_seal=setup.require_gm,
    )


# Verifying a licence allocates tens of thousands of short-lived objects (PDF objects, ASN.1 values), almost none
# in reference cycles; with Python's default first-generation threshold (700) the cyclic collector ran every few
# hundred allocations and took about 5 % of a worker's time. Worker processes are ours alone, so they collect less
# often and leave what was imported out of every collection. Memory: a few more young objects at a time.
_WORKER_GC_THRESHOLD = (10_000, 10, 10)


def _init_worker(setup: _Setup, at: datetime | None) -> None:
    global _verifier, _at
    _quiet_libraries()
    _verifier = _build_verifier(setup, at)
    _at = at
    if multiprocessing.parent_process() is not None:  # a worker process; never the caller's (a service, say)
        gc.collect()
        gc.freeze()
        gc.set_threshold(*_WORKER_GC_THRESHOLD)


def _verify_path(path: str) -> tuple[VerificationReport, bool]:
    """The report on the file at ``path`` and whether reading it failed (an input error)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        report = VerificationReport(
            file=path,
            verdict=Verdict.INDETERMINATE,
            indication=Indication.INDETERMINATE,
            subindication=None,
            seal=None,
            messages=(Message(f"无法读取文件：{reason}", f"The file cannot be read: {reason}"),),
            details=(f"OSError: {exc}",),
        )
        return report, True
    try:
        assert _verifier is not None
        return _verifier.verify(data, at=_at, file=path), False
    except Exception as exc:  # verify_pdf reports document problems itself; this is a last line of defence
        message = str(exc) or type(exc).__name__
        report = VerificationReport(
            file=path,
            verdict=Verdict.INDETERMINATE,
            indication=Indication.INDETERMINATE,
            subindication=None,
            seal=None,
            messages=(Message(f"无法完成验证：{message}", f"Verification could not be completed: {message}"),),
            details=(f"{type(exc).__name__}: {message}",),
        )
        return report, False


def _single_threaded() -> bool:
    """Whether this process runs only its main thread and no event loop: then forking it is safe."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return threading.active_count() == 1
    return False


def _pool_context() -> BaseContext:
    """Where the workers come from. A single-threaded process with no event loop (``seal-verify`` itself) forks
    them: they start at once with the verifier imported. Otherwise (a service thread, an event loop) this process is
    never forked: on POSIX the workers fork from a fresh server process that imported the verifier once (about a
    second to start), elsewhere each worker is spawned and imports it itself."""
    methods = get_all_start_methods()
    if "fork" in methods and _single_threaded():
        return get_context("fork")
    if "forkserver" in methods:
        context = get_context("forkserver")
        context.set_forkserver_preload(["verifier.cli"])
        return context
    return get_context("spawn")


def _verify_all(
    files: list[Path], setup: _Setup, at: datetime | None, workers: int
) -> Iterator[tuple[VerificationReport, bool]]:
    names = [str(path) for path in files]
    if workers <= 1 or len(files) == 1:
        _init_worker(setup, at)
        yield from map(_verify_path, names)
        return
    workers = min(workers, len(files))
    context = _pool_context()
    # Starting the workers' fork server imports the verifier anew (about a second). Meanwhile this process, which
    # has it imported already, verifies the first files itself; the workers take the rest. Order is kept. Forked
    # workers start at once and need no such head start.
    head = 0 if context.get_start_method() == "fork" else min(len(files) // (workers * 4), _HEAD_FILES)
    chunk = max(1, min(8, (len(files) - head) // (workers * 4)))
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(setup, at)
    ) as pool:
        rest = pool.map(_verify_path, names[head:], chunksize=chunk)  # submits, so the workers start now
        if head:
            _init_worker(setup, at)
            yield from map(_verify_path, names[:head])
        yield from rest


# --- output -----------------------------------------------------------------------------------------------------


def _line(report: VerificationReport) -> str:
    label = report.verdict.value.upper()
    if report.verdict is Verdict.VALID:
        seal = (report.seal.name if report.seal else None) or "?"
        when = report.signed_at.isoformat() if report.signed_at else "-"
        return f"{label:<13}  {report.file}  {seal}  {when}  [{report.long_term}]"
    return f"{label:<13}  {report.file}  {report.summary}  [{report.long_term}]"


def _csv_row(report: VerificationReport) -> dict[str, Any]:
    data = report.to_json()
    seal = data["seal"] or {}
    return {
        "file": data["file"],
        "verdict": data["verdict"],
        "indication": data["indication"],
        "subindication": data["subindication"] or "",
        "seal_name": seal.get("name") or "",
        "organisation": seal.get("organisation") or "",
        "credit_code": seal.get("credit_code") or "",
        "seal_id": seal.get("seal_id") or "",
        "certificate_serial": seal.get("certificate_serial") or "",
        "licence": json.dumps(data["licence"], ensure_ascii=False) if data["licence"] else "",
        "signed_at": data["signed_at"] or "",
        "signed_at_source": data["signed_at_source"] or "",
        "level": data["level"] or "",
        "messages": " | ".join(data["messages"]),
        "proven_signing_time": data["proven_signing_time"] or "",
        "verifiable_until": data["verifiable_until"] or "",
        "long_term": data["long_term"],
    }


class _Progress:
    """On a terminal one line redrawn in place (a bar, count, rate); otherwise a line every 5% of the files."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.done = 0
        self.step = max(1, total // 20)
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.drawn = 0.0

    def tick(self) -> None:
        self.done += 1
        if self.total <= PROGRESS_ABOVE:
            return
        if self.tty:
            now = time.monotonic()
            if now - self.drawn >= 0.1 or self.done == self.total:
                self.drawn = now
                rate = self.done / max(now - self.started, 1e-9)
                filled = int(30 * self.done / self.total)
                bar = "#" * filled + "." * (30 - filled)
                self.stream.write(f"\r{PROG}: [{bar}] {self.done}/{self.total} files, {rate:.1f}/s")
                if self.done == self.total:
                    self.stream.write("\n")
                self.stream.flush()
        elif self.done % self.step == 0 or self.done == self.total:
            print(f"{PROG}: verified {self.done}/{self.total} files", file=self.stream, flush=True)

    def clear(self) -> None:
        """Before printing a result line on the same terminal: erase the bar (it is redrawn on the next tick)."""
        if self.tty and self.total > PROGRESS_ABOVE and self.done < self.total:
            self.stream.write("\r\x1b[K")


def _read_log_proofs(paths: Sequence[str]) -> list[bytes]:
    found = []
    for path in paths:
        try:
            found.append(Path(path).read_bytes())
        except OSError as exc:
            raise InputError(f"{path}: cannot read log proof ({exc.strerror or exc})") from None
    return found


def _setup(args: argparse.Namespace) -> _Setup:
    """Trust roots, CRLs, bundle and service from the arguments, checked here once (input errors exit 2)."""
    pem_files = list(args.trust_root)
    bundle: bytes | None = None
    if args.trust_bundle:
        try:
            data = Path(args.trust_bundle).read_bytes()
        except OSError as exc:
            raise InputError(f"{args.trust_bundle}: cannot read trust bundle ({exc.strerror or exc})") from None
        if data.lstrip().startswith(b"{"):
            bundle = data  # a signed bundle: checked against the --trust-root certificates below
        else:
            pem_files.append(args.trust_bundle)  # a PEM file of roots
    if not pem_files:
        raise InputError(
            "at least one trust root is required: give --trust-root PEM (a signed --trust-bundle is checked against it)"
        )
    roots = load_trust_roots(pem_files)
    setup = _Setup(
        roots_der=tuple(root.public_bytes(serialization.Encoding.DER) for root in roots),
        crls_der=tuple(load_crls(args.crl)),
        bundle=bundle,
        service=args.service,
        online=args.online,
        log_proofs=tuple(_read_log_proofs(args.log_proof)),
        log_quorum=args.log_quorum,
        sm2_roots_der=_sm2_roots(args.sm2_root),
        require_gm=args.require_gm,
    )
    _build_verifier(setup, args.at)  # fail now, once, on a bad bundle or URL rather than in every worker
    return setup


def _run(args: argparse.Namespace) -> int:
    setup = _setup(args)
    files = _collect(args.paths)
    progress = _Progress(len(files), sys.stderr)
    reports: list[VerificationReport] = []
    input_errors = 0
    csv_out: TextIO | None = None
    writer: csv.DictWriter[str] | None = None
    try:
        if args.csv is not None:
            try:
                csv_out = sys.stdout if args.csv == "-" else open(args.csv, "w", newline="", encoding="utf-8")  # noqa: SIM115
            except OSError as exc:
                raise InputError(f"{args.csv}: cannot write CSV ({exc.strerror or exc})") from None
            writer = csv.DictWriter(csv_out, fieldnames=CSV_FIELDS)
            writer.writeheader()
        for report, unreadable in _verify_all(files, setup, args.at, args.workers):
            progress.clear()
            progress.tick()
            reports.append(report)
            input_errors += unreadable
            if writer is not None:
                writer.writerow(_csv_row(report))
            if not args.json and args.csv != "-":
                print(_line(report), flush=True)
    finally:
        if csv_out is not None and csv_out is not sys.stdout:
            csv_out.close()
    if args.json:
        json.dump([report.to_json() for report in reports], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    if input_errors:
        return 2
    return 0 if all(report.ok for report in reports) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``seal-verify`` with ``argv`` (default: the command line); return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, message already printed)
        return exc.code if isinstance(exc.code, int) else 2
    _quiet_libraries()
    try:
        code = _run(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (``seal-verify ... --json | head``): end quietly, as a shell expects, and point
        # stdout at /dev/null so that Python's own flush at exit cannot raise again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except VerifierError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # never a traceback
        print(f"{PROG}: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
