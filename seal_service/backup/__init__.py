"""Backups of an instance: its database and its key store, in one encrypted file; restore into an empty instance.

Example::

    >>> made = create_backup(settings, passphrase="...", at=now)            # doctest: +SKIP
    >>> Path("seal-2026-12-03.backup").write_bytes(made.data)               # doctest: +SKIP
    >>> restore_backup(empty_settings, data, passphrase="...")              # doctest: +SKIP

The payload is a tar: ``manifest.json`` (time, service version, schema revisions, each table's row count and
each member's SHA-256), ``database/<table>.jsonl`` (a logical dump, row by row: the same backup restores into
SQLite or PostgreSQL), ``home/...`` (the instance directory: generated assets) and ``keys/...`` (the file key
store: seal and service keys, themselves encrypted under the key passphrase). The whole payload is encrypted with
a backup passphrase (:mod:`seal_service.backup._sealed_box`). Keys held in an HSM (PKCS#11) are not in the file:
back them up with the HSM's own means.

A restore refuses a non-empty target (any row in the database, or any file in its instance directory or key
store), a wrong passphrase and a changed file, each with its own error, before writing anything; the rows are
then written in one transaction.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Column, Date, DateTime, LargeBinary, MetaData, func, inspect, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from seal_service import __version__
from seal_service.backup._sealed_box import BackupDamaged, WrongPassphrase, open_box, seal_box
from seal_service.errors import InvalidInput
from seal_service.outages import as_outage
from seal_service.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")
FORMAT = 1
#: Tables whose rows a fresh schema already has (the migrations seed them); replaced by the backup's on restore.
SEEDED_BY_MIGRATIONS = frozenset({"audit_chain_head", "supervision_event_head"})
_SQLITE_SUFFIXES = ("", "-wal", "-shm", "-journal")


class TargetNotEmpty(InvalidInput):
    """The instance to restore into already holds data."""

    slug = "backup-target-not-empty"
    title = "Restore target not empty"


@dataclass(frozen=True)
class BackupMade:
    """A backup file's bytes and what it holds."""

    data: bytes
    tables: dict[str, int]
    """Rows per table."""
    files: int


@dataclass(frozen=True)
class RestoreReport:
    """What a restore wrote."""

    created_at: str
    tables: dict[str, int]
    files: int


def _metadata() -> MetaData:
    from seal_service.storage import access_models, keys_models, lifecycle_models  # noqa: F401  # all tables
    from seal_service.storage.models import Base

    return Base.metadata


def _kind(column: Column[Any]) -> str:
    kind = getattr(column.type, "impl", column.type)
    if isinstance(kind, LargeBinary):
        return "bytes"
    if isinstance(kind, DateTime):
        return "datetime"
    if isinstance(kind, Date):
        return "date"
    return "plain"


def _encode(kind: str, value: Any) -> Any:
    if value is None or kind == "plain":
        return value
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode()
    return value.isoformat()


def _decode(kind: str, value: Any) -> Any:
    if value is None or kind == "plain":
        return value
    if kind == "bytes":
        return base64.b64decode(value)
    if kind == "datetime":
        return datetime.fromisoformat(value)
    return date.fromisoformat(value)


def _engine(settings: Settings) -> Engine:
    from seal_service.storage.database import make_engine

    return make_engine(settings.resolved_database_url)


def _sqlite_files(settings: Settings) -> set[Path]:
    url = settings.resolved_database_url
    if not url.startswith("sqlite:///"):
        return set()
    path = Path(url[len("sqlite:///") :]).expanduser().resolve()
    return {path.with_name(path.name + suffix) for suffix in _SQLITE_SUFFIXES}


def _files(settings: Settings) -> dict[str, Path]:
    """Archive name -> file: the key store as ``keys/...``, the rest of the instance directory as ``home/...``."""
    skip = _sqlite_files(settings)
    keys_dir, home = settings.resolved_keys_dir, settings.resolved_home
    found: dict[str, Path] = {}
    for prefix, root in (("keys", keys_dir), ("home", home)):
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            resolved = path.resolve()
            if not path.is_file() or resolved in skip or path.name.startswith("serve-"):
                continue
            if prefix == "home" and resolved.is_relative_to(keys_dir):
                continue
            found[f"{prefix}/{path.relative_to(root).as_posix()}"] = path
    return found


def _revisions(connection: Connection) -> list[str]:
    if not inspect(connection).has_table("alembic_version"):
        return []
    return sorted(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())


def _database_errors_as_refusals(function: Callable[P, R]) -> Callable[P, R]:
    """The database failing (unreachable, refused, no such database) as one clear service error, not a traceback."""

    @functools.wraps(function)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except SQLAlchemyError as exc:
            outage = as_outage(exc)
            raise (outage or InvalidInput(f"the database refused the operation: {str(exc).splitlines()[0]}")) from None

    return wrapped


@_database_errors_as_refusals
def create_backup(settings: Settings, *, passphrase: str, at: datetime) -> BackupMade:
    """A backup of the instance of ``settings`` (database and key store) encrypted under ``passphrase``."""
    if len(passphrase) < 12:
        raise InvalidInput("the backup passphrase must have at least 12 characters", field="passphrase")
    sqlite_files = sorted(_sqlite_files(settings))
    if sqlite_files and not sqlite_files[0].is_file():
        raise InvalidInput(f"no instance to back up here: {sqlite_files[0]} does not exist", field="SEAL_HOME")
    metadata = _metadata()
    members: dict[str, bytes] = {}
    tables: dict[str, dict[str, object]] = {}
    engine = _engine(settings)
    try:
        with engine.connect() as connection, connection.begin():  # one snapshot of every table
            if engine.dialect.name == "postgresql":
                connection.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))
            revisions = _revisions(connection)
            if not revisions:
                raise InvalidInput(
                    "there is no instance to back up here (no schema in its database)", field="SEAL_HOME"
                )
            unknown = set(inspect(connection).get_table_names()) - set(metadata.tables) - {"alembic_version"}
            if unknown:
                raise InvalidInput(f"tables unknown to this version would be left out: {sorted(unknown)}")
            for table in metadata.sorted_tables:
                kinds = [(column.name, _kind(column)) for column in table.columns]
                order = list(table.primary_key.columns) or list(table.columns)
                lines = [
                    json.dumps({name: _encode(kind, row[name]) for name, kind in kinds}, ensure_ascii=False)
                    for row in connection.execute(select(table).order_by(*order)).mappings()
                ]
                data = ("\n".join(lines) + "\n" if lines else "").encode("utf-8")
                members[f"database/{table.name}.jsonl"] = data
                tables[table.name] = {"rows": len(lines)}
    finally:
        engine.dispose()
    for name, path in _files(settings).items():
        members[name] = path.read_bytes()
    manifest = {
        "format": FORMAT,
        "created_at": at.isoformat(),
        "service_version": __version__,
        "database": {"backend": engine.dialect.name, "revisions": revisions, "tables": tables},
        "key_backend": settings.key_backend.value,
        "members": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(members.items())},
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in [("manifest.json", json.dumps(manifest, indent=1).encode()), *sorted(members.items())]:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), int(at.timestamp()), 0o600
            archive.addfile(info, io.BytesIO(data))
    return BackupMade(
        data=seal_box(buffer.getvalue(), passphrase),
        tables={name: int(t["rows"]) for name, t in tables.items()},  # type: ignore[call-overload]
        files=sum(1 for name in members if not name.startswith("database/")),
    )


def _read_payload(data: bytes, passphrase: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    payload = open_box(data, passphrase)
    try:
        with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as archive:
            members = {}
            for info in archive.getmembers():
                if not info.isfile() or info.name.startswith("/") or ".." in Path(info.name).parts:
                    raise BackupDamaged(f"unexpected member {info.name!r} in the backup", field="FILE")
                handle = archive.extractfile(info)
                assert handle is not None
                members[info.name] = handle.read()
        manifest = json.loads(members.pop("manifest.json"))
    except (tarfile.TarError, KeyError, ValueError, OSError) as exc:
        raise BackupDamaged(f"the backup's contents are damaged ({exc})", field="FILE") from None
    listed = manifest.get("members", {})
    if manifest.get("format") != FORMAT or set(listed) != set(members):
        raise BackupDamaged("the backup's manifest does not list exactly its contents", field="FILE")
    for name, digest in listed.items():
        if hashlib.sha256(members[name]).hexdigest() != digest:
            raise BackupDamaged(f"checksum mismatch for {name}", field="FILE")
    return manifest, members


def _check_empty(settings: Settings, connection: Connection) -> None:
    files = _files(settings)
    if files:
        raise TargetNotEmpty(
            f"the target instance is not empty: {len(files)} file(s) under {settings.resolved_home} or "
            f"{settings.resolved_keys_dir} (e.g. {next(iter(files))}); restore only into an empty instance",
            field="SEAL_HOME",
        )
    existing = set(inspect(connection).get_table_names())
    for table in _metadata().sorted_tables:
        if table.name in SEEDED_BY_MIGRATIONS or table.name not in existing:
            continue
        if connection.execute(select(func.count()).select_from(table)).scalar():
            raise TargetNotEmpty(
                f"the target database is not empty (table {table.name} has rows); restore only into an empty database",
                field="SEAL_DATABASE_URL",
            )


@_database_errors_as_refusals
def restore_backup(settings: Settings, data: bytes, *, passphrase: str) -> RestoreReport:
    """Restore a backup into the empty instance of ``settings`` (database and key store)."""
    from seal_service.storage.database import upgrade

    manifest, members = _read_payload(data, passphrase)
    settings.resolved_home.mkdir(parents=True, exist_ok=True, mode=0o700)
    engine = _engine(settings)
    try:
        with engine.connect() as connection:
            _check_empty(settings, connection)
        upgrade(settings.resolved_database_url)  # an empty database: nothing to encrypt
        metadata = _metadata()
        with engine.connect() as connection:
            revisions = _revisions(connection)
        wanted = manifest["database"]["revisions"]
        if revisions != wanted:
            raise InvalidInput(
                f"the backup was made with schema {wanted}, this service has {revisions}; restore it with the "
                "version that made it",
                field="FILE",
            )
        written: list[Path] = []
        try:
            for name, content in members.items():
                prefix, _, rest = name.partition("/")
                root = {"keys": settings.resolved_keys_dir, "home": settings.resolved_home}.get(prefix)
                if root is None:
                    continue
                target = root / rest
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as handle:
                    handle.write(content)
                written.append(target)
            counts = _load_rows(engine, metadata, members)
        except BaseException:
            for path in written:  # nothing half restored: the files go with the failed database load
                path.unlink(missing_ok=True)
            raise
    finally:
        engine.dispose()
    return RestoreReport(created_at=manifest["created_at"], tables=counts, files=len(written))


def _load_rows(engine: Engine, metadata: MetaData, members: dict[str, bytes]) -> dict[str, int]:
    counts: dict[str, int] = {}
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            if table.name in SEEDED_BY_MIGRATIONS:
                connection.execute(table.delete())
            kinds = {column.name: _kind(column) for column in table.columns}
            content = members.get(f"database/{table.name}.jsonl", b"").decode("utf-8")
            rows = [
                {name: _decode(kinds[name], value) for name, value in json.loads(line).items() if name in kinds}
                for line in content.splitlines()
                if line
            ]
            if rows:
                connection.execute(table.insert(), rows)
            counts[table.name] = len(rows)
            if engine.dialect.name == "postgresql":
                for column in table.primary_key.columns:
                    if column.autoincrement is not False and getattr(column.type, "python_type", None) is int:
                        connection.execute(
                            text(
                                f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "  # noqa: S608
                                f"COALESCE((SELECT MAX({column.name}) FROM {table.name}), 1), "
                                f"(SELECT COUNT(*) > 0 FROM {table.name})) "
                                f"WHERE pg_get_serial_sequence('{table.name}', '{column.name}') IS NOT NULL"
                            )
                        )
    return counts


__all__ = [
    "BackupDamaged",
    "BackupMade",
    "RestoreReport",
    "TargetNotEmpty",
    "WrongPassphrase",
    "create_backup",
    "restore_backup",
]
