"""``seal-service backup create|restore``: the database and key store in one encrypted file.

Example::

    $ export SEAL_BACKUP_PASSPHRASE_FILE=/root/backup-passphrase     # or SEAL_BACKUP_PASSPHRASE, or a prompt
    $ seal-service backup create -o /backups/seal-$(date +%F).backup
    $ SEAL_HOME=/srv/seal-new seal-service backup restore /backups/seal-2026-12-03.backup

The passphrase is never taken from the command line: ``--passphrase-file FILE``, the environment
(``SEAL_BACKUP_PASSPHRASE_FILE`` or ``SEAL_BACKUP_PASSPHRASE``), or a prompt on a terminal.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from seal_service.errors import InvalidInput
from seal_service.settings import Settings

PASSPHRASE_ENV = "SEAL_BACKUP_PASSPHRASE"  # noqa: S105  # the variable's name, not a passphrase
PASSPHRASE_FILE_ENV = "SEAL_BACKUP_PASSPHRASE_FILE"  # noqa: S105


def _passphrase(args: argparse.Namespace, *, confirm: bool) -> str:
    source = args.passphrase_file or os.environ.get(PASSPHRASE_FILE_ENV)
    if source:
        try:
            value = Path(source).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise InvalidInput(
                f"cannot read the passphrase file {source}: {exc.strerror}", field="passphrase"
            ) from None
        if not value:
            raise InvalidInput(f"the passphrase file {source} is empty", field="passphrase")
        return value
    if os.environ.get(PASSPHRASE_ENV):
        return os.environ[PASSPHRASE_ENV]
    if not sys.stdin.isatty():
        raise InvalidInput(
            f"no backup passphrase: give --passphrase-file FILE, or set {PASSPHRASE_FILE_ENV} or {PASSPHRASE_ENV}",
            field="passphrase",
        )
    value = getpass.getpass("backup passphrase: ")
    if confirm and getpass.getpass("again: ") != value:
        raise InvalidInput("the two passphrases differ", field="passphrase")
    return value


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    """Write an encrypted backup of this instance."""
    from seal_service.backup import create_backup

    output = Path(args.output)
    if output.exists() and not args.force:
        raise InvalidInput(f"{output} exists; use --force to overwrite it", field="output")
    if not output.parent.is_dir():
        raise InvalidInput(f"the directory {output.parent} does not exist", field="output")
    made = create_backup(settings, passphrase=_passphrase(args, confirm=True), at=datetime.now(UTC))
    partial = output.with_name(output.name + ".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(made.data)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(output)
    rows = sum(made.tables.values())
    size, tables = len(made.data), len(made.tables)
    print(f"backup written: {output} ({size} bytes; {rows} rows in {tables} tables, {made.files} files)")
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    """Restore a backup into this (empty) instance."""
    from seal_service.backup import restore_backup

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {args.file}: {exc.strerror}", field="FILE") from None
    report = restore_backup(settings, data, passphrase=_passphrase(args, confirm=False))
    print(f"restored the backup of {report.created_at}: {sum(report.tables.values())} rows, {report.files} files")
    print(f"instance: {settings.resolved_home}   database: {settings.resolved_database_url}")
    print("next: `seal-service audit verify --key-file <auditor key>` and verify a licence")
    return 0


def register(sub: Any, seals_sub: Any) -> None:
    """Add ``backup`` to the command line."""
    backup = sub.add_parser("backup", help="encrypted backups of the database and key store").add_subparsers(
        dest="backup_cmd", required=True
    )
    p = backup.add_parser("create", help="write an encrypted backup (database + key store, manifest, checksums)")
    p.add_argument("-o", "--output", required=True, metavar="FILE")
    p.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    p.add_argument("--passphrase-file", metavar="FILE", help=f"file holding the passphrase (or ${PASSPHRASE_FILE_ENV})")
    p.set_defaults(func=cmd_create)
    p = backup.add_parser("restore", help="restore a backup into an empty instance (refuses a non-empty one)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--passphrase-file", metavar="FILE", help=f"file holding the passphrase (or ${PASSPHRASE_FILE_ENV})")
    p.set_defaults(func=cmd_restore)
