"""Seal lifecycle commands: ``memorandum record|list``, ``seals status``, ``crl publish``, ``trust-bundle``.

Example::

    $ seal-service memorandum record --department jc-market --bureau jc-bureau --items JC-004 \\
          --effective 2027-01-01 --reference "晋审管衔〔2026〕7号"
    $ seal-service seals status --at 2027-01-01T00:00:00+08:00
    $ seal-service crl publish -o public/crl
    $ seal-service trust-bundle -o trust-bundle.json

Domain errors propagate to ``seal_service.cli.main``, the one place that turns them into messages and exit codes.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from seal_service.errors import InvalidInput
from seal_service.settings import Settings


def _instance(settings: Settings):  # type: ignore[no-untyped-def]
    from seal_service.instance import Instance

    return Instance(settings)


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date YYYY-MM-DD") from None


def _time(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 time") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _write(path: str, data: bytes) -> None:
    # Write next to the target and rename, so a failure never leaves half a file where a reader expects one.
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(data)
    partial.replace(target)


def cmd_memorandum_record(args: argparse.Namespace, settings: Settings) -> int:
    """Record a handover memorandum; prints what moves, when, and which seals it retires."""
    from seal_service.services.lifecycle import record_memorandum

    if bool(args.items) == bool(args.all_items):
        raise InvalidInput("give either --items I1,I2 or --all-items", field="items")
    items = None if args.all_items else [code.strip() for code in args.items.split(",") if code.strip()]
    outcome = record_memorandum(
        _instance(settings),
        department=args.department,
        bureau=args.bureau,
        items=items,
        effective_on=args.effective,
        reference=args.reference,
        note=args.note,
        at=datetime.now(UTC),
        actor=args.actor,
    )
    memo = outcome.memorandum
    print(f"recorded memorandum {memo.id}: {memo.department} -> {memo.bureau}, effective {memo.effective_on}")
    print(f"  cut-over  {outcome.cut_over_at.isoformat()}")
    print(f"  items     {', '.join(memo.items)}")
    if outcome.retired_seals:
        print(f"  retires   {', '.join(outcome.retired_seals)} on {outcome.retires_on} (cessationOfOperation)")
    else:
        print(f"  retires   nothing yet: {memo.department} still seals other items")
    return 0


def cmd_memorandum_list(args: argparse.Namespace, settings: Settings) -> int:
    """List recorded memoranda."""
    from seal_service.services.lifecycle import list_memoranda

    memoranda = list_memoranda(_instance(settings))
    if args.json:
        rows: list[dict[str, Any]] = [
            {
                "id": m.id,
                "department": m.department,
                "bureau": m.bureau,
                "effective_on": m.effective_on.isoformat(),
                "cut_over_at": m.cut_over_at.isoformat(),
                "items": list(m.items),
                "whole_department": m.whole_department,
                "reference": m.reference,
                "recorded_at": m.recorded_at.isoformat() if m.recorded_at else None,
            }
            for m in memoranda
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    print(f"{'ID':<4} {'EFFECTIVE':<11} {'DEPARTMENT':<12} {'BUREAU':<12} ITEMS")
    for m in memoranda:
        print(f"{m.id:<4} {m.effective_on.isoformat():<11} {m.department:<12} {m.bureau:<12} {', '.join(m.items)}")
    return 0


def cmd_seals_status(args: argparse.Namespace, settings: Settings) -> int:
    """Each seal's status at a time (default now), derived from memoranda and revocations."""
    from seal_service.services.lifecycle import seal_lifecycles

    at = args.at or datetime.now(UTC)
    views = seal_lifecycles(_instance(settings), at=at)
    if args.json:
        rows = [
            {
                "id": v.id,
                "status": v.state.status.value,
                "since": v.state.since.isoformat() if v.state.since else None,
                "describe": v.state.describe(),
                "retires_on": v.retirement.day.isoformat() if v.retirement else None,
                "memorandum": v.retirement.memorandum if v.retirement else None,
            }
            for v in views
        ]
        print(json.dumps({"at": at.isoformat(), "seals": rows}, ensure_ascii=False, indent=2))
        return 0
    print(f"status at {at.isoformat()}")
    print(f"{'SEAL ID':<24} {'STATUS':<9} DETAIL")
    for v in views:
        detail = v.state.describe() if not v.state.usable else ""
        if v.state.usable and v.retirement is not None:
            detail = f"retires on {v.retirement.day} (memorandum {v.retirement.memorandum})"
        print(f"{v.id:<24} {v.state.status.value:<9} {detail}")
    return 0


def cmd_crl_publish(args: argparse.Namespace, settings: Settings) -> int:
    """Issue new CRLs now (new numbers) and write them as DER; every API node then serves these."""
    from cryptography import x509

    instance = _instance(settings)
    at = datetime.now(UTC)
    out = Path(args.output) if args.output else settings.resolved_home / "crl"
    from seal_service.gm import national_trust_roots

    # The SM2 seal CA's CRL too, when the instance has the national seal's PKI (docs/gm-crypto.md, "Revocation").
    roles = ("root", "seal-ca", "sm2-seal-ca") if national_trust_roots(instance) else ("root", "seal-ca")
    for role in roles:
        der = instance.revocation.crl(role, at=at, fresh=True)
        crl = x509.load_der_x509_crl(der)
        number = crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        _write(str(out / f"{role}.crl"), der)
        print(
            f"{role + '.crl':<16} number {number}  thisUpdate {crl.last_update_utc.isoformat()}  "
            f"nextUpdate {crl.next_update_utc.isoformat() if crl.next_update_utc else '-'}  "
            f"{len(crl)} revoked  -> {out / (role + '.crl')}"
        )
    return 0


def cmd_trust_bundle(args: argparse.Namespace, settings: Settings) -> int:
    """Write the signed trust bundle for offline verifiers."""
    from seal_service.services.trust_bundle import current_trust_bundle

    issued = current_trust_bundle(_instance(settings), at=datetime.now(UTC), fresh=args.fresh)
    if args.output == "-":
        print(issued.document.decode("ascii"), end="")
        return 0
    _write(args.output, issued.document)
    print(
        f"wrote trust bundle version {issued.version} to {args.output} "
        f"(issued {issued.issued_at.isoformat()}, next update {issued.next_update.isoformat()})"
    )
    return 0


def register(sub: argparse._SubParsersAction, seals_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the lifecycle subcommands to the top-level and ``seals`` parsers."""
    memo = sub.add_parser("memorandum", help="handover memoranda (审管衔接备忘录): record and list")
    memo_sub = memo.add_subparsers(dest="memorandum_cmd", required=True)
    p = memo_sub.add_parser(
        "record",
        help="record a memorandum: from 00:00 (+08:00) of --effective the items move to the bureau; the "
        "department's seal retires once all its items have moved",
    )
    p.add_argument("--department", required=True, help="authority code of the department (see `catalogue`)")
    p.add_argument("--bureau", required=True, help="authority code of the bureau of the same jurisdiction")
    p.add_argument("--items", help="comma-separated item codes that move")
    p.add_argument("--all-items", action="store_true", help="move every item the department seals on that day")
    p.add_argument("--effective", required=True, type=_date, metavar="YYYY-MM-DD", help="cut-over day")
    p.add_argument("--reference", help="document number of the signed paper memorandum")
    p.add_argument("--note", help="free text kept with the record")
    p.add_argument("--actor", default="cli", help="who records it (goes into the audit log)")
    p.set_defaults(func=cmd_memorandum_record)
    p = memo_sub.add_parser("list", help="list recorded memoranda")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_memorandum_list)

    p = seals_sub.add_parser("status", help="each seal's status at a time: active, retired (with date), revoked")
    p.add_argument("--at", type=_time, help="ISO time (default now); e.g. 2027-01-01T00:00:00+08:00")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_seals_status)

    crl = sub.add_parser("crl", help="certificate revocation lists")
    crl_sub = crl.add_subparsers(dest="crl_cmd", required=True)
    p = crl_sub.add_parser("publish", help="issue new CRLs now and write them (DER) to a directory")
    p.add_argument("-o", "--output", help="directory (default $SEAL_HOME/crl)")
    p.set_defaults(func=cmd_crl_publish)

    p = sub.add_parser("trust-bundle", help="write the signed trust bundle for offline verifiers")
    p.add_argument("-o", "--output", required=True, help="file, or - for standard output")
    p.add_argument("--fresh", action="store_true", help="issue a new version even if the newest is still current")
    p.set_defaults(func=cmd_trust_bundle)
