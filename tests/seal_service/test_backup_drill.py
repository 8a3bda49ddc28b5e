"""The backup drill: seal, back up, destroy, restore, then verify every old licence, seal the next one, and check
the audit chain; on SQLite and PostgreSQL. And the refusals: a non-empty target, a wrong passphrase, a tampered
file (each exit 2 with its own message, nothing written).
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import func, select

from seal_service.cli import main
from seal_service.instance import Instance, PkiRole
from seal_service.services.audit import verify_log
from seal_service.services.sealing import LicenceRequest, get_licence, get_licence_pdf, seal_licence
from seal_service.signing.sealer import PadesLevel
from seal_service.storage.models import Licence
from tests.conftest import POSTGRES_URL, make_instance, make_settings
from tests.support.instances import own_database, server_env
from verifier import Verdict, verify_pdf

pytestmark = pytest.mark.slow

PASSPHRASE = "drill passphrase, not secret"


def _use(monkeypatch: pytest.MonkeyPatch, settings) -> None:  # type: ignore[no-untyped-def]
    for name, value in server_env(settings).items():
        if name.startswith("SEAL_"):
            monkeypatch.setenv(name, value)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _rows(instance) -> int:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Licence)) or 0)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[str, str | None]]:
    base = request.getfixturevalue("postgres_database") if request.param == "postgresql" else None
    yield request.param, base


def test_backup_drill(backend, tmp_path: Path, monkeypatch, capsys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    kind, base = backend
    passphrase_file = tmp_path / "passphrase"
    passphrase_file.write_text(PASSPHRASE + "\n", encoding="utf-8")
    monkeypatch.setenv("SEAL_BACKUP_PASSPHRASE_FILE", str(passphrase_file))
    backup = tmp_path / "seal.backup"
    with ExitStack() as stack:
        # (1) An instance with licences.
        home_a = tmp_path / "a"
        home_a.mkdir()
        url_a = stack.enter_context(own_database(kind, home_a, base or POSTGRES_URL))
        old = make_instance(make_settings(home_a, database_url=url_a))
        now = datetime.now(UTC)
        sealed = [
            seal_licence(
                old,
                licence_pdf,
                LicenceRequest(
                    item_code="JC-001",
                    holder_name=f"晋城市示例餐饮有限公司{i}",
                    seal_id="jc-bureau-approval",
                    level=PadesLevel.B_LTA,
                    holder_code="11430000006122244L",
                    holder_code_type="001",
                ),
                actor="drill",
                at=now,
            )
            for i in range(2)
        ]
        serials = [int(get_licence(old, s.licence_id).serial) for s in sealed]
        root_der = old.pki.certificate(PkiRole.ROOT).public_bytes(Encoding.DER)
        entries_before = verify_log(old).entries

        # (2) Back up; a restore into this (non-empty) instance is refused.
        _use(monkeypatch, old.settings)
        code, out = _run(capsys, "backup", "create", "-o", str(backup))
        assert code == 0 and "backup written" in out, out
        assert PASSPHRASE.encode() not in backup.read_bytes() and b"BEGIN" not in backup.read_bytes()
        code, out = _run(capsys, "backup", "restore", str(backup))
        assert code == 2 and "not empty" in out and "Traceback" not in out, out
        assert _rows(old) == 2

        # (3) Destroy: the database and the instance directory are gone.
        old.engine.dispose()
        stack.close()
        shutil.rmtree(home_a)

        # (4) Restore into an empty instance; first a wrong passphrase and a tampered file, which write nothing.
        home_b = tmp_path / "b"
        # An empty instance directory; for PostgreSQL an empty database (SQLite: seal.db under the directory).
        with ExitStack() as empty:
            url_b = (
                empty.enter_context(own_database(kind, tmp_path, base or POSTGRES_URL)) if kind != "sqlite" else None
            )
            target = make_settings(home_b, database_url=url_b)
            _use(monkeypatch, target)
            wrong = tmp_path / "wrong"
            wrong.write_text("not the drill passphrase\n", encoding="utf-8")
            code, out = _run(capsys, "backup", "restore", str(backup), "--passphrase-file", str(wrong))
            assert code == 2 and "wrong passphrase" in out, out
            tampered = tmp_path / "tampered.backup"
            data = bytearray(backup.read_bytes())
            data[len(data) // 2] ^= 0x01
            tampered.write_bytes(bytes(data))
            code, out = _run(capsys, "backup", "restore", str(tampered))
            assert code == 2 and "changed after it was made" in out, out
            assert not any(p.is_file() and not p.name.startswith("seal.db") for p in home_b.rglob("*"))
            code, out = _run(capsys, "backup", "restore", str(backup))
            assert code == 0 and "restored" in out, out

            # (5) Every old licence is there, byte for byte, and verifies against the same root.
            restored = Instance(target)
            root = restored.pki.certificate(PkiRole.ROOT)
            assert root.public_bytes(Encoding.DER) == root_der
            for made in sealed:
                pdf = get_licence_pdf(restored, made.licence_id)
                assert hashlib.sha256(pdf).hexdigest() == made.document_sha256
                report = verify_pdf(pdf, trust_roots=[root])
                assert report.verdict is Verdict.VALID, report.to_json()
            # (6) The next licence gets the next serial, sealed with the restored keys, and verifies.
            new = seal_licence(
                restored,
                licence_pdf,
                LicenceRequest(item_code="JC-001", holder_name="晋城市新办企业", seal_id="jc-bureau-approval"),
                actor="drill",
                at=datetime.now(UTC),
            )
            assert int(get_licence(restored, new.licence_id).serial) == max(serials) + 1
            assert verify_pdf(new.pdf, trust_roots=[root]).verdict is Verdict.VALID
            # (7) The audit chain, carried over and extended, verifies whole.
            assert verify_log(restored).entries > entries_before
            restored.engine.dispose()
