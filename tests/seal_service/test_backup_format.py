"""The backup file itself: checksums that catch a changed member even under the right passphrase, a damaged
header, a short passphrase, and a restore across database backends (a PostgreSQL backup into SQLite and back)."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from seal_service.backup import BackupDamaged, WrongPassphrase, create_backup, restore_backup
from seal_service.backup._sealed_box import MAGIC, open_box, seal_box
from seal_service.errors import InvalidInput
from seal_service.instance import Instance
from seal_service.storage.models import AuditEntry, Licence, Seal
from tests.conftest import make_settings

PASSPHRASE = "format test passphrase"


@pytest.fixture(scope="module")
def backup_of(db_instance) -> bytes:  # type: ignore[no-untyped-def]
    return create_backup(db_instance.settings, passphrase=PASSPHRASE, at=datetime.now(UTC)).data


def _repack(data: bytes, change) -> bytes:  # type: ignore[no-untyped-def]
    """Decrypt, change the tar's members with ``change(members)``, encrypt again under the same passphrase."""
    with tarfile.open(fileobj=io.BytesIO(open_box(data, PASSPHRASE)), mode="r:gz") as archive:
        members = {info.name: archive.extractfile(info).read() for info in archive.getmembers()}  # type: ignore[union-attr]
    change(members)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return seal_box(buffer.getvalue(), PASSPHRASE)


def _counts(instance) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(select(func.count()).select_from(model)) or 0) for model in (Licence, Seal, AuditEntry)
        )


def test_a_member_changed_under_the_right_passphrase_fails_its_checksum(backup_of: bytes, tmp_path: Path) -> None:
    def forge(members: dict[str, bytes]) -> None:
        members["database/licences.jsonl"] += b"\n"

    target = make_settings(tmp_path / "target")
    with pytest.raises(BackupDamaged, match=r"checksum mismatch for database/licences\.jsonl"):
        restore_backup(target, _repack(backup_of, forge), passphrase=PASSPHRASE)

    def smuggle(members: dict[str, bytes]) -> None:
        members["keys/extra.key.pem"] = b"not listed"

    with pytest.raises(BackupDamaged, match="does not list exactly"):
        restore_backup(target, _repack(backup_of, smuggle), passphrase=PASSPHRASE)
    assert not (tmp_path / "target" / "keys").exists()


def test_damaged_headers_and_passphrases(backup_of: bytes, tmp_path: Path, db_instance) -> None:  # type: ignore[no-untyped-def]
    target = make_settings(tmp_path / "target")
    with pytest.raises(BackupDamaged, match="not a one-seal backup"):
        restore_backup(target, b"%PDF-1.7\n", passphrase=PASSPHRASE)
    header_end = backup_of.index(b"\n", len(MAGIC))
    header = json.loads(backup_of[len(MAGIC) : header_end])
    header["n"] = 2**14  # a weaker key derivation slipped into the header
    weakened = MAGIC + json.dumps(header, sort_keys=True).encode() + backup_of[header_end:]
    with pytest.raises((BackupDamaged, WrongPassphrase)):
        restore_backup(target, weakened, passphrase=PASSPHRASE)
    with pytest.raises(BackupDamaged):
        restore_backup(target, backup_of[: len(backup_of) // 2], passphrase=PASSPHRASE)
    with pytest.raises(WrongPassphrase):
        restore_backup(target, backup_of, passphrase=PASSPHRASE.upper())
    with pytest.raises(InvalidInput, match="at least 12"):
        create_backup(db_instance.settings, passphrase="short", at=datetime.now(UTC))


def test_restore_into_a_fresh_sqlite_instance_keeps_every_row(backup_of: bytes, tmp_path: Path, db_instance) -> None:  # type: ignore[no-untyped-def]
    """Whatever the source backend (SQLite or PostgreSQL), the backup restores into SQLite with every row."""
    target = make_settings(tmp_path / "copy")
    report = restore_backup(target, backup_of, passphrase=PASSPHRASE)
    copy = Instance(target)
    try:
        assert _counts(copy) == _counts(db_instance)
        assert report.tables["licences"] == _counts(db_instance)[0]
        with db_instance.sessions() as a, copy.sessions() as b:
            ids = a.scalars(select(Licence.id).order_by(Licence.id)).all()
            assert b.scalars(select(Licence.id).order_by(Licence.id)).all() == ids
        for name in ("pki-root.key.pem",):
            original = (db_instance.settings.resolved_keys_dir / name).read_bytes()
            assert (
                hashlib.sha256((target.resolved_keys_dir / name).read_bytes()).digest()
                == hashlib.sha256(original).digest()
            )
    finally:
        copy.engine.dispose()


def test_cli_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch, capsys, backup_of: bytes, db_instance
) -> None:  # type: ignore[no-untyped-def]
    from seal_service.cli import main

    for name in ("SEAL_DATABASE_URL", "SEAL_BACKUP_PASSPHRASE", "SEAL_BACKUP_PASSPHRASE_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SEAL_HOME", str(tmp_path / "nothing-here"))
    monkeypatch.setenv("SEAL_KEY_PASSPHRASE", "test-passphrase-not-secret")
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal: no prompt
    backup = tmp_path / "some.backup"
    backup.write_bytes(backup_of)
    passphrase = tmp_path / "passphrase"
    passphrase.write_text(PASSPHRASE, encoding="utf-8")
    # Without an instance: `backup create` is a configuration error (exit 3, as every command that needs one);
    # restore's bad input is refused before it would create anything.
    cases = [
        (
            ["backup", "create", "-o", str(tmp_path / "out.backup"), "--passphrase-file", str(passphrase)],
            "no instance",
            3,
        ),
        (["backup", "restore", str(tmp_path / "missing.backup")], "cannot read", 2),
        (
            ["backup", "restore", str(backup), "--passphrase-file", str(tmp_path / "nope")],
            "cannot read the passphrase",
            2,
        ),
    ]
    for argv, words, expected in cases:
        code = main(argv)
        err = capsys.readouterr().err
        assert code == expected and words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, (
            argv,
            err,
        )
    assert not (tmp_path / "nothing-here").exists()
    # With an instance: a missing passphrase and an output directory that does not exist are input errors.
    monkeypatch.setenv("SEAL_HOME", str(db_instance.settings.resolved_home))
    monkeypatch.setenv("SEAL_DATABASE_URL", db_instance.settings.resolved_database_url)
    for argv, words in [
        (["backup", "create", "-o", str(tmp_path / "out.backup")], "no backup passphrase"),
        (["backup", "create", "-o", "/no/such/dir/out.backup", "--passphrase-file", str(passphrase)], "does not exist"),
    ]:
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2 and words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, (argv, err)
    assert not (tmp_path / "out.backup").exists()
    # A database that cannot be reached: a clear refusal, not a traceback.
    monkeypatch.setenv("SEAL_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    code = main(["backup", "restore", str(backup), "--passphrase-file", str(passphrase)])
    err = capsys.readouterr().err
    assert code == 2 and "database is unavailable" in err and "Traceback" not in err, err
