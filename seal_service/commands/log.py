"""``seal-service log ...`` and ``seal-service witnesses ...``: the issuance log from the command line.

Example::

    $ seal-service log sequence --once
    $ seal-service log export /srv/www/log          # tiles, entry bundles, checkpoint, key: static files
    $ seal-service log proof --licence L0123... -o L0123.tlog-proof
    $ seal-service witnesses add --department 140500-SCJ --public-key 'scj.example/witness+ab12cd34+BA...'
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from seal_service.errors import InvalidInput
from seal_service.settings import Settings


def _instance(settings: Settings):  # type: ignore[no-untyped-def]
    from seal_service.instance import Instance

    return Instance(settings)


def cmd_sequence(args: argparse.Namespace, settings: Settings) -> int:
    """Sequence pending entries: once, or forever at the configured delay (a sequencer node of its own)."""
    from seal_service.log import sequence_all

    instance = _instance(settings)
    while True:
        result = sequence_all(instance)
        if args.once:
            print(f"sequenced {result.appended} entr{'y' if result.appended == 1 else 'ies'}; log size {result.size}")
            return 0
        time.sleep(settings.log_sequence_delay_seconds / 4)


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write the log as static files (checkpoint, key, tiles, entry bundles) under DIR."""
    from seal_service.log import latest_checkpoint, log_verifiers
    from seal_service.log.proofs import current_size
    from seal_service.log.tiles import export_tiles
    from verifier.tlog import parse_checkpoint, parse_note

    instance = _instance(settings)
    directory = Path(args.directory)
    directory.mkdir(parents=True, exist_ok=True)
    note = latest_checkpoint(instance)
    size = parse_checkpoint(parse_note(note).text).size
    with instance.sessions() as session:
        if current_size(session) < size:  # pragma: no cover - the state only grows
            raise InvalidInput("the log changed during the export; run it again")
        files = export_tiles(session, directory, size=size)
        keys = "".join(v.vkey + "\n" for v in log_verifiers(session))
    (directory / "key").write_text(keys)
    # The checkpoint last: a reader that finds it finds every tile it names.
    tmp = directory / "checkpoint.tmp"
    tmp.write_bytes(note)
    tmp.replace(directory / "checkpoint")
    print(f"exported the log of size {size}: {files} tile files, checkpoint and key under {directory}")
    return 0


def cmd_proof(args: argparse.Namespace, settings: Settings) -> int:
    """Write a licence's offline receipt (C2SP tlog-proof)."""
    from seal_service.log import licence_receipt

    receipt = licence_receipt(_instance(settings), args.licence)
    output = Path(args.output)
    if output.exists() and not args.force:
        raise InvalidInput(f"{output} exists; use --force to overwrite", field="output")
    output.write_bytes(receipt.encode())
    print(f"wrote the receipt of licence {args.licence} (entry {receipt.index}) to {output}")
    return 0


def cmd_rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    """Retire the log key and create its successor."""
    from seal_service.log import rotate_log_key, sequence_all

    instance = _instance(settings)
    row = rotate_log_key(instance, at=datetime.now(UTC))
    sequence_all(instance)
    print(f"new log key for {row.name}; publish the new trust bundle")
    return 0


def cmd_witness_add(args: argparse.Namespace, settings: Settings) -> int:
    """Register a department's witness key."""
    from seal_service.log import add_witness

    witness = add_witness(
        _instance(settings), department=args.department, public_key=args.public_key, at=datetime.now(UTC)
    )
    print(f"witness {witness.name} of {witness.department} registered")
    return 0


def cmd_witness_push(args: argparse.Namespace, settings: Settings) -> int:
    """Ask a witness (C2SP tlog-witness add-checkpoint) to cosign the newest checkpoint."""
    from seal_service.log.witnesses import push_to_witness

    stored = push_to_witness(_instance(settings), args.url, at=datetime.now(UTC))
    print(f"cosignatures stored: {', '.join(stored) or 'none new'}")
    return 0


def cmd_witness_list(args: argparse.Namespace, settings: Settings) -> int:
    """List registered witnesses."""
    from seal_service.log import list_witnesses

    for w in list_witnesses(_instance(settings)):
        print(f"{w.department}\t{w.vkey}")
    return 0


def register(sub: argparse._SubParsersAction, seals_sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the ``log`` and ``witnesses`` subcommands."""
    log = sub.add_parser("log", help="the issuance log").add_subparsers(dest="log_cmd", required=True)
    p = log.add_parser("sequence", help="put pending entries into the tree and sign a checkpoint")
    p.add_argument("--once", action="store_true", help="one pass, then exit (default: keep sequencing)")
    p.set_defaults(func=cmd_sequence)
    p = log.add_parser("export", help="write tiles, entry bundles, checkpoint and key as static files")
    p.add_argument("directory", metavar="DIR")
    p.set_defaults(func=cmd_export)
    p = log.add_parser("proof", help="write a licence's offline receipt (c2sp.org/tlog-proof@v1)")
    p.add_argument("--licence", required=True, help="licence id")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.set_defaults(func=cmd_proof)
    p = log.add_parser("rotate-key", help="retire the log key and create its successor")
    p.set_defaults(func=cmd_rotate_key)
    witnesses = sub.add_parser("witnesses", help="departments that cosign the log").add_subparsers(
        dest="witnesses_cmd", required=True
    )
    p = witnesses.add_parser("add", help="register a department's witness key")
    p.add_argument("--department", required=True, help="department (authority) code")
    p.add_argument("--public-key", required=True, help="verifier key name+hexid+base64(0x04 || key)")
    p.set_defaults(func=cmd_witness_add)
    p = witnesses.add_parser("push", help="ask a witness's add-checkpoint endpoint to cosign the newest checkpoint")
    p.add_argument("--url", required=True, help="the witness's .../add-checkpoint URL")
    p.set_defaults(func=cmd_witness_push)
    p = witnesses.add_parser("list", help="list witnesses")
    p.set_defaults(func=cmd_witness_list)
