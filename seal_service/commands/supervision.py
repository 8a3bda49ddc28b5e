"""``seal-service subscriptions|dispatch|findings``: the supervision link for operators.

Example::

    $ seal-service subscriptions create --department jc-market --url https://jc-market.example/hook
    $ seal-service subscriptions status
    $ seal-service subscriptions replay wh_0a1b2c3d4e5f --from 120
    $ seal-service dispatch
    $ seal-service findings list --status open
    $ seal-service findings resolve F0123456789ABCDEF --action suspend --reason "责令停业整改"
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from seal_service.settings import Settings


def _instance(settings: Settings):  # type: ignore[no-untyped-def]
    from seal_service.instance import Instance

    return Instance(settings)


def _now() -> datetime:
    return datetime.now(UTC)


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    """Subscribe a department's endpoint; the secret is printed once, as the last line."""
    from seal_service.events.receivers import create_subscription

    issued = create_subscription(
        _instance(settings), department=args.department, url=args.url, after=args.after, at=_now(), actor="cli"
    )
    print(f"created subscription {issued.id} ({issued.department} -> {issued.url}), after event {issued.cursor}")
    print("give the department this signing secret now: it is shown only once.")
    print(issued.secret)
    return 0


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """Where each receiver stands: cursor, backlog, retries, dead letters."""
    from seal_service.events.receivers import receiver_status

    rows = receiver_status(_instance(settings), args.subscription)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=2, default=str))
        return 0
    print(f"{'ID':<16} {'KIND':<8} {'DEPARTMENT':<12} {'STATUS':<9} {'CURSOR':>8} {'BACKLOG':>8} {'DEAD':>5} URL")
    for r in rows:
        print(
            f"{r.id:<16} {r.kind:<8} {r.department or '*':<12} {r.status:<9} {r.cursor:>8} {r.backlog:>8} "
            f"{len(r.dead_letters):>5} {r.url}"
        )
        if r.status_reason:
            print(f"{'':<16} reason: {r.status_reason}")
        if r.last_error:
            nxt = f", next attempt {r.next_attempt_at:%Y-%m-%d %H:%M:%S}" if r.next_attempt_at else ""
            print(f"{'':<16} failing: {r.last_error} ({r.attempts} attempts{nxt})")
        if r.dead_letters:
            print(f"{'':<16} dead letters: {', '.join(str(s) for s in r.dead_letters)}")
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    """Deliver again every event after a cursor."""
    from seal_service.events.receivers import replay

    replay(_instance(settings), args.subscription, after=args.from_cursor, at=_now(), actor="cli")
    print(f"subscription {args.subscription}: events after {args.from_cursor} will be delivered again")
    return 0


def cmd_disable(args: argparse.Namespace, settings: Settings) -> int:
    """Stop delivering to a subscription."""
    from seal_service.events.receivers import disable

    disable(_instance(settings), args.subscription, reason=args.reason, at=_now(), actor="cli")
    print(f"subscription {args.subscription} disabled")
    return 0


def cmd_enable(args: argparse.Namespace, settings: Settings) -> int:
    """Resume delivering to a subscription from its cursor."""
    from seal_service.events.receivers import enable

    enable(_instance(settings), args.subscription, at=_now(), actor="cli")
    print(f"subscription {args.subscription} enabled")
    return 0


def cmd_dispatch(args: argparse.Namespace, settings: Settings) -> int:
    """Run the event dispatcher alone (no HTTP) until SIGTERM or Ctrl-C."""
    from seal_service.events.dispatcher import run_dispatcher

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    broker = "on" if settings.broker_url else "off"
    print(f"event dispatcher running (broker {broker}); SIGTERM or Ctrl-C stops it", flush=True)
    run_dispatcher(_instance(settings), stop=stop)
    return 0


def cmd_findings_list(args: argparse.Namespace, settings: Settings) -> int:
    """List findings filed by departments."""
    from seal_service.events.findings import list_findings

    rows = list_findings(_instance(settings), status=args.status)
    if args.json:
        print(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=2, default=str))
        return 0
    print(f"{'FINDING':<18} {'STATUS':<9} {'DEPARTMENT':<12} {'KIND':<24} LICENCE")
    for r in rows:
        print(f"{r.id:<18} {r.status:<9} {r.department:<12} {r.kind:<24} {r.licence_id} {r.licence_number}")
        print(f"{'':<18} {r.text[:100]}")
        if r.resolution:
            print(f"{'':<18} resolved: {r.resolution} ({r.resolution_reason})")
    return 0


def cmd_findings_resolve(args: argparse.Namespace, settings: Settings) -> int:
    """Resolve a finding: suspend or revoke the licence, or no action with a reason."""
    from seal_service.events.findings import resolve_finding

    view = resolve_finding(
        _instance(settings), args.finding, action=args.action, reason=args.reason, at=_now(), actor="cli"
    )
    print(f"finding {view.id} resolved: {view.resolution} (licence {view.licence_id})")
    return 0


def register(sub: Any, seals_sub: Any) -> None:
    """Add ``subscriptions``, ``dispatch`` and ``findings`` to the command line."""
    subs = sub.add_parser("subscriptions", help="webhook subscriptions of supervising departments").add_subparsers(
        dest="subscriptions_cmd", required=True
    )
    p = subs.add_parser("create", help="subscribe a department's endpoint (secret printed once, as the last line)")
    p.add_argument("--department", required=True, help="authority code of the department, e.g. jc-market")
    p.add_argument("--url", required=True, help="the endpoint events are POSTed to")
    p.add_argument("--after", type=int, help="deliver events after this cursor (default: only new events)")
    p.set_defaults(func=cmd_create)
    p = subs.add_parser("status", help="cursor, backlog, retries and dead letters of each receiver")
    p.add_argument("subscription", nargs="?")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)
    p = subs.add_parser("replay", help="deliver again every event after a cursor")
    p.add_argument("subscription")
    p.add_argument("--from", dest="from_cursor", type=int, required=True, metavar="CURSOR")
    p.set_defaults(func=cmd_replay)
    p = subs.add_parser("disable", help="stop delivering to a subscription")
    p.add_argument("subscription")
    p.add_argument("--reason", default="disabled by an operator")
    p.set_defaults(func=cmd_disable)
    p = subs.add_parser("enable", help="resume delivering to a subscription")
    p.add_argument("subscription")
    p.set_defaults(func=cmd_enable)

    p = sub.add_parser("dispatch", help="run the event dispatcher alone (webhooks and broker)")
    p.set_defaults(func=cmd_dispatch)

    findings = sub.add_parser("findings", help="findings filed by supervising departments").add_subparsers(
        dest="findings_cmd", required=True
    )
    p = findings.add_parser("list", help="list findings")
    p.add_argument("--status", choices=["open", "resolved"])
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_findings_list)
    p = findings.add_parser("resolve", help="resolve a finding")
    p.add_argument("finding")
    p.add_argument("--action", required=True, choices=["suspend", "revoke", "none"])
    p.add_argument("--reason", required=True)
    p.set_defaults(func=cmd_findings_resolve)
