"""``seal-service complaints list|answer``: staff read and answer complaints from the public (投诉)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from seal_service.errors import InvalidInput
from seal_service.settings import Settings


def _instance(settings: Settings):  # type: ignore[no-untyped-def]
    from seal_service.instance import Instance

    return Instance(settings)


def _actor(args: argparse.Namespace) -> str:
    return f"cli:{args.actor}" if args.actor else "cli"


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    """List complaints (with contacts: staff only); the reading is audited."""
    from seal_service.public.complaints import list_complaints

    views = list_complaints(
        _instance(settings),
        authority=args.authority,
        status=args.status,
        actor=_actor(args),
        at=datetime.now(UTC),
        limit=args.limit,
    )
    if args.json:
        print(json.dumps([v.to_json(staff=True) for v in views], ensure_ascii=False, indent=2))
        return 0
    print(f"{'RECEIPT':<15} {'STATUS':<9} {'ROUTED TO':<11} {'FILED (UTC)':<17} CATEGORY / TEXT")
    for v in views:
        text = v.text.replace("\n", " ")
        short = text if len(text) <= 60 else text[:59] + "…"
        filed = v.filed_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        print(f"{v.receipt:<15} {v.status.value:<9} {v.routed_to:<11} {filed:<17} {v.category.value} / {short}")
    return 0


def cmd_answer(args: argparse.Namespace, settings: Settings) -> int:
    """Record the answer to a complaint (from --text, or a file with --file, '-' for standard input)."""
    from seal_service.public.complaints import answer_complaint

    if (args.text is None) == (args.file is None):
        raise InvalidInput("give the answer with --text or --file (one of them)", field="answer")
    if args.file is not None:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    else:
        text = args.text
    view = answer_complaint(
        _instance(settings),
        args.receipt,
        answer=text,
        actor=_actor(args),
        at=datetime.now(UTC),
        authority=args.authority,
    )
    print(f"answered complaint {view.receipt} ({view.routed_to}); the complainant sees the answer with the receipt")
    return 0


def register(sub: Any, seals_sub: Any) -> None:
    """Add ``complaints`` to the command line."""
    complaints = sub.add_parser("complaints", help="complaints from the public (投诉)").add_subparsers(
        dest="complaints_cmd", required=True
    )
    p = complaints.add_parser("list", help="list complaints, newest first (contacts included: staff only)")
    p.add_argument("--authority", help="only complaints routed to this authority code")
    p.add_argument("--status", choices=["received", "answered"])
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--actor", help="who reads (recorded in the audit log)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = complaints.add_parser("answer", help="answer a complaint (once)")
    p.add_argument("receipt", help="the receipt code, TS-XXXXX-XXXXX")
    p.add_argument("--text", help="the answer")
    p.add_argument("--file", help="read the answer from this file ('-': standard input)")
    p.add_argument("--authority", help="answer as staff of this authority (refused if routed elsewhere)")
    p.add_argument("--actor", help="who answers (recorded in the audit log)")
    p.set_defaults(func=cmd_answer)
