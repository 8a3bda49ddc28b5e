"""``seal-service apikeys create|list|revoke``: keys of approval systems and staff."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from seal_service.settings import Settings


def _instance(settings: Settings):  # type: ignore[no-untyped-def]
    from seal_service.instance import Instance

    return Instance(settings)


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    """Create a key; the secret is printed once, as the last line."""
    from seal_service.services.apikeys import Role, create_api_key

    issued = create_api_key(
        _instance(settings),
        name=args.name,
        role=Role(args.role),
        authority_code=args.authority,
        at=datetime.now(UTC),
    )
    print(f"created API key {issued.key_id} ({issued.caller.role.value}, authority {args.authority or '-'})")
    print("store it now: it is shown only once and kept only as a hash.")
    print(issued.secret)
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    """List keys (never secrets)."""
    from seal_service.services.apikeys import list_api_keys

    keys = list_api_keys(_instance(settings))
    if args.json:
        print(json.dumps([asdict(k) for k in keys], ensure_ascii=False, indent=2, default=str))
        return 0
    print(f"{'KEY ID':<15} {'ROLE':<17} {'AUTHORITY':<12} {'STATUS':<8} NAME")
    for k in keys:
        status = "revoked" if k.revoked_at else "active"
        print(f"{k.key_id:<15} {k.role:<17} {k.authority_code or '-':<12} {status:<8} {k.name}")
    return 0


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    """Revoke a key at once."""
    from seal_service.services.apikeys import revoke_api_key

    revoke_api_key(_instance(settings), args.key_id, at=datetime.now(UTC))
    print(f"revoked API key {args.key_id}")
    return 0


def register(sub: Any, seals_sub: Any) -> None:
    """Add ``apikeys`` to the command line."""
    from seal_service.services.apikeys import Role

    keys = sub.add_parser("apikeys", help="API keys of approval systems and staff").add_subparsers(
        dest="apikeys_cmd", required=True
    )
    p = keys.add_parser("create", help="create a key (printed once, as the last line)")
    p.add_argument("--authority", help="authority code the key is bound to (required for approval systems)")
    p.add_argument("--name", required=True, help="who uses the key, e.g. the approval system's name")
    p.add_argument("--role", default=Role.APPROVAL_SYSTEM.value, choices=[r.value for r in Role])
    p.set_defaults(func=cmd_create)
    p = keys.add_parser("list", help="list keys (never their secrets)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
    p = keys.add_parser("revoke", help="revoke a key at once")
    p.add_argument("key_id")
    p.set_defaults(func=cmd_revoke)
