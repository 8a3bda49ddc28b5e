"""``seal-service seals gm-seal``: download a seal's national seal data (SES_Seal, GB/T 38540 v4, DER)."""

from __future__ import annotations

import argparse
from pathlib import Path

from seal_service.settings import Settings


def cmd_gm_seal(args: argparse.Namespace, settings: Settings) -> int:
    """Write the current SES_Seal of ``--seal`` (DER) to ``-o FILE``."""
    from seal_service.gm import ses_seal_of
    from seal_service.instance import Instance

    der = ses_seal_of(Instance(settings), args.seal)
    Path(args.output).write_bytes(der)
    print(f"wrote seal data (SES_Seal v4, {len(der)} bytes) of {args.seal} to {args.output}")
    return 0


def register(sub: argparse._SubParsersAction, seals: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``seals gm-seal``."""
    p = seals.add_parser("gm-seal", help="write a seal's national seal data (SES_Seal, GB/T 38540 v4, DER)")
    p.add_argument("--seal", required=True, help="seal id (see `seals list`)")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.set_defaults(func=cmd_gm_seal)
