"""Commands for long-term preservation: ``archive renew``, ``tsa rotate|list`` and ``licences show|pdf``.

Example::

    $ seal-service archive renew --dry-run              # which licences fall within the next 365 days
    $ seal-service archive renew --horizon 400 --limit 1000
    $ seal-service tsa rotate --key-file alice.key      # a second officer: seal-service requests approve REQ-…
    $ seal-service licences show L3F2A9C41B7D0E5A6C1B2
    $ seal-service licences pdf L3F2A9C41B7D0E5A6C1B2 --version 1 -o issued.pdf
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from seal_service.commands import command_group
from seal_service.errors import InvalidInput
from seal_service.settings import Settings


def _now() -> datetime:
    return datetime.now(UTC)


def _instance(settings: Settings):  # type: ignore[no-untyped-def]
    from seal_service.instance import Instance

    return Instance(settings)


def _time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{value!r} needs a time zone, e.g. 2031-01-01T00:00:00+08:00")
    return parsed


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _json_default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def cmd_archive_renew(args: argparse.Namespace, settings: Settings) -> int:
    """Renew (re-time-stamp) every stored B-LTA licence that stops being verifiable within the horizon."""
    from seal_service.archive import RenewalOutcome, RenewalOutcomeKind, renew_archive

    at = args.at or _now()
    horizon = timedelta(days=args.horizon)
    seen = 0

    def progress(outcome: RenewalOutcome) -> None:
        nonlocal seen
        seen += 1
        until = f" verifiable until {outcome.verifiable_until:%Y-%m-%d}" if outcome.verifiable_until else ""
        detail = f": {outcome.detail}" if outcome.detail else ""
        problems = (
            RenewalOutcomeKind.UNREADABLE,
            RenewalOutcomeKind.FAILED,
            RenewalOutcomeKind.TOO_LATE,
            RenewalOutcomeKind.NO_NEWER_TSA,
        )
        stream = sys.stderr if outcome.kind in problems else None
        print(f"[{seen}] {outcome.kind.value:<10} {outcome.licence_id} v{outcome.version}{until}{detail}", file=stream)
        if stream is None:
            sys.stdout.flush()

    done = renew_archive(
        _instance(settings),
        at=at,
        horizon=horizon,
        dry_run=args.dry_run,
        limit=args.limit,
        progress=progress,
        actor="cli",
        workers=args.workers,
    )
    counts = {kind.value: done.count(kind) for kind in RenewalOutcomeKind}
    verb = "due (dry run, nothing changed)" if args.dry_run else "renewed"
    acted = counts["due"] if args.dry_run else counts["renewed"]
    print(
        f"done: {acted} {verb}, {counts['not-due']} not due, {counts['unreadable']} unreadable, "
        f"{counts['too-late']} too late, {counts['no-newer-tsa']} waiting for a TSA rotation, "
        f"{counts['conflict']} renewed meanwhile, {counts['failed']} failed (horizon {args.horizon} days)"
    )
    if counts["no-newer-tsa"]:
        print("the TSA certificate itself expires within the horizon: rotate it (seal-service tsa rotate)")
    problems = ("unreadable", "failed", "too-late", "no-newer-tsa")
    return 1 if any(counts[kind] for kind in problems) else 0


def cmd_tsa_rotate(args: argparse.Namespace, settings: Settings) -> int:
    """Request a TSA key rotation (dual control: a second security officer approves it)."""
    from seal_service.archive.tsa_rotation import TSA_TARGET
    from seal_service.commands.keys import _create
    from seal_service.storage.keys_models import KeyRequestAction

    return _create(_instance(settings), args, KeyRequestAction.ROTATE_TSA, TSA_TARGET, {})


def cmd_tsa_list(args: argparse.Namespace, settings: Settings) -> int:
    """The current TSA certificate and those retired by rotation (all still published)."""
    from seal_service.archive.tsa_rotation import retired_tsa_certificates
    from seal_service.instance import PkiRole

    instance = _instance(settings)
    rows = [("current", instance.pki.certificate(PkiRole.TSA))]
    rows += [("retired", cert) for cert in retired_tsa_certificates(instance)]
    for state, cert in rows:
        print(
            f"{state:<8} serial {cert.serial_number:x}  {cert.not_valid_before_utc:%Y-%m-%d} .. "
            f"{cert.not_valid_after_utc:%Y-%m-%d}"
        )
    return 0


def _record(instance: Any, licence_id: str) -> dict[str, Any]:
    from seal_service.archive import versions_of
    from seal_service.services.sealing import get_licence

    licence = get_licence(instance, licence_id)
    return {
        "id": licence.id,
        "identifier": licence.identifier,
        "number": licence.number,
        "seal_id": licence.seal_id,
        "level": licence.level,
        "sealed_at": licence.sealed_at,
        "status": licence.status,
        "document_sha256": licence.document_sha256,
        "versions": [asdict(v) for v in versions_of(instance, licence)],
    }


def cmd_licences_show(args: argparse.Namespace, settings: Settings) -> int:
    """A licence record with every version of its PDF (SHA-256 and time)."""
    record = _record(_instance(settings), args.licence_id)
    if args.json:
        print(json.dumps(record, ensure_ascii=False, indent=2, default=_json_default))
        return 0
    for key in ("id", "identifier", "number", "seal_id", "level", "sealed_at", "status"):
        value = record[key]
        print(f"{key:<11} {value.isoformat() if isinstance(value, datetime) else value}")
    print("versions")
    for v in record["versions"]:
        kind = "renewal" if v["renewal"] else "issued"
        print(f"  v{v['version']:<3} {v['created_at'].isoformat()}  {kind:<7}  sha256 {v['sha256']}")
    return 0


def cmd_licences_pdf(args: argparse.Namespace, settings: Settings) -> int:
    """Write one version of a licence's PDF (default the newest) to a file."""
    from seal_service.archive import licence_pdf

    data, info = licence_pdf(_instance(settings), args.licence_id, args.version)
    out = Path(args.output)
    if out.exists() and not args.force:
        raise InvalidInput(f"{out} exists; pass --force to overwrite it")
    tmp = out.with_name(out.name + ".partial")
    tmp.write_bytes(data)
    tmp.replace(out)
    print(f"wrote version {info.version} ({len(data)} bytes, sha256 {info.sha256}) to {out}")
    return 0


def register(sub: Any, seals_sub: Any) -> None:
    """Add ``archive renew``, ``tsa rotate|list`` and ``licences show|pdf``."""
    from seal_service.commands.keys import _key_file_arg

    archive = sub.add_parser("archive", help="long-term preservation of issued licences").add_subparsers(
        dest="archive_cmd", required=True
    )
    p = archive.add_parser(
        "renew",
        help="re-time-stamp stored B-LTA licences whose newest time-stamp expires within the horizon "
        "(each becomes a new version; nothing is overwritten)",
    )
    p.add_argument("--horizon", type=_positive, default=365, metavar="DAYS", help="default 365")
    p.add_argument("--dry-run", action="store_true", help="only list the licences that are due")
    p.add_argument("--limit", type=_positive, metavar="N", help="renew at most N licences in this run")
    p.add_argument("--workers", type=_positive, default=1, metavar="N", help="renew in N processes (default 1)")
    p.add_argument("--at", type=_time, help=argparse.SUPPRESS)  # drills and tests: the renewal time
    p.set_defaults(func=cmd_archive_renew)

    tsa = sub.add_parser("tsa", help="the time-stamp authority's key and certificates").add_subparsers(
        dest="tsa_cmd", required=True
    )
    p = tsa.add_parser(
        "rotate", help="request a new TSA key and certificate (dual control); the old one stays published"
    )
    p.add_argument("--ttl-hours", type=float, help="hours the request waits for approval (default 24)")
    _key_file_arg(p)
    p.set_defaults(func=cmd_tsa_rotate)
    p = tsa.add_parser("list", help="the current and the retired TSA certificates")
    p.set_defaults(func=cmd_tsa_list)

    licences = command_group(sub, "licences", help="issued licences and the versions of their PDF", dest="licences_cmd")
    p = licences.add_parser("show", help="a licence record with each version's SHA-256 and time")
    p.add_argument("licence_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_licences_show)
    p = licences.add_parser("pdf", help="write a version of the licence's PDF (default the newest)")
    p.add_argument("licence_id")
    p.add_argument("--version", type=_positive, metavar="N", help="1 = as issued")
    p.add_argument("-o", "--output", required=True, metavar="OUT.pdf")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=cmd_licences_pdf)
