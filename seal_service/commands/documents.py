"""``seal-service demo-pdf`` (a sample licence to seal) and ``seal-service licences get`` (a sealed licence's PDF).

Example::

    $ seal-service demo-pdf -o licence.pdf
    $ seal-service sign licence.pdf -o sealed.pdf --seal jc-bureau-approval --item JC-001 --holder 某某餐饮有限公司
    $ seal-service licences get L0123456789ABCDEF0123 -o again.pdf
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seal_service.commands import command_group
from seal_service.commands.outcome import writable_output
from seal_service.settings import Settings


def _write(path: Path, data: bytes, *, force: bool) -> None:
    tmp = writable_output(path, force=force)
    tmp.write_bytes(data)
    tmp.replace(path)


def cmd_demo_pdf(args: argparse.Namespace, settings: Settings) -> int:
    """Write an unsigned sample licence PDF to seal (needs no instance)."""
    from seal_service.samples import demo_licence_pdf

    data = demo_licence_pdf()
    _write(Path(args.output), data, force=args.force)
    print(f"wrote a sample licence to {args.output} ({len(data)} bytes); seal it with `seal-service sign`")
    return 0


def cmd_licences_get(args: argparse.Namespace, settings: Settings) -> int:
    """Write a recorded licence's sealed PDF, byte for byte as it was sealed."""
    from seal_service.instance import Instance
    from seal_service.services.sealing import get_licence_pdf

    data = get_licence_pdf(Instance(settings), args.licence_id)
    _write(Path(args.output), data, force=args.force)
    print(f"wrote licence {args.licence_id} to {args.output} ({len(data)} bytes)")
    return 0


def register(sub: argparse._SubParsersAction, seals_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``demo-pdf`` and ``licences get``."""
    p = sub.add_parser("demo-pdf", help="write an unsigned sample licence PDF to try `sign` with")
    p.add_argument("-o", "--output", required=True, metavar="OUT.pdf")
    p.add_argument("--force", action="store_true", help="overwrite OUT.pdf if it exists")
    p.set_defaults(func=cmd_demo_pdf)

    licences = command_group(sub, "licences", help="issued licences and the versions of their PDF", dest="licences_cmd")
    p = licences.add_parser("get", help="write a licence's sealed PDF (as recorded)")
    p.add_argument("licence_id", metavar="LICENCE_ID")
    p.add_argument("-o", "--output", required=True, metavar="OUT.pdf")
    p.add_argument("--force", action="store_true", help="overwrite OUT.pdf if it exists")
    p.set_defaults(func=cmd_licences_get)
