"""Licence numbers are unique across the instance: two authorities of one jurisdiction sealing at once, a number
chosen twice, and the migration that fixes and flags duplicates issued before (SQLite and PostgreSQL)."""

from __future__ import annotations

import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, inspect, select

from seal_service.errors import StateConflict
from seal_service.public.register import find_by_number
from seal_service.services.sealing import LicenceRequest, seal_licence
from seal_service.signing.sealer import PadesLevel
from seal_service.storage.models import Licence

ORG = "11430000006122244L"


def _seal(instance, pdf: bytes, seal_id: str, item: str, number: str | None = None):  # type: ignore[no-untyped-def]
    request = LicenceRequest(
        item_code=item,
        holder_name="晋城市编号测试有限公司",
        holder_code=ORG,
        holder_code_type="001",
        seal_id=seal_id,
        level=PadesLevel.B_B,
        number=number,
    )
    return seal_licence(instance, pdf, request, actor="test", at=datetime.now(UTC))


def test_bureau_and_department_of_one_jurisdiction_sealing_at_once_never_share_a_number(
    db_instance, licence_pdf
) -> None:  # type: ignore[no-untyped-def]
    # jc-bureau seals JC-001 and the market department (same jurisdiction 140500) still seals JC-004 itself: before
    # the fix both counted from 1 and issued 140500-20260000001 twice.
    jobs = [("jc-bureau-approval", "JC-001"), ("jc-market-approval", "JC-004")] * 4
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        sealed = list(pool.map(lambda job: _seal(db_instance, licence_pdf, *job), jobs))
    numbers = [s.number for s in sealed]
    assert len(set(numbers)) == len(numbers), numbers
    assert all(n.startswith("140500-") and len(n) == len("140500-20260000001") for n in numbers)
    for s in sealed:
        found = find_by_number(db_instance, s.number)
        assert found is not None and found.licence_id == s.licence_id
    with db_instance.sessions() as session:
        counts = session.execute(
            select(Licence.number, func.count()).group_by(Licence.number).having(func.count() > 1)
        ).all()
    assert counts == []


def test_a_number_chosen_twice_is_refused_and_nothing_is_issued(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    first = _seal(
        db_instance, licence_pdf, "jc-bureau-approval", "JC-001", number=f"晋城准字-{datetime.now(UTC):%H%M%S%f}"
    )
    with db_instance.sessions() as session:
        before = session.scalar(select(func.count()).select_from(Licence))
    with pytest.raises(StateConflict) as refused:
        _seal(db_instance, licence_pdf, "jc-market-approval", "JC-004", number=first.number)
    assert refused.value.field == "number" and first.number in refused.value.detail
    with db_instance.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Licence)) == before


def test_the_database_refuses_a_duplicate_number_even_past_the_checks(db_instance) -> None:  # type: ignore[no-untyped-def]
    indexes = {ix["name"]: ix for ix in inspect(db_instance.engine).get_indexes("licences")}
    assert indexes["uq_licences_number"]["unique"] and indexes["uq_licences_number"]["column_names"] == ["number"]


def test_migration_fixes_and_flags_numbers_issued_twice(tmp_path) -> None:
    """A database at 0004 with 140500-20260000001 issued by the bureau and by the department: after the upgrade the
    earlier keeps it, the later is on record as 140500-20260000001-2 with the printed number kept, and new numbers
    start after every serial either authority used."""
    from alembic import command
    from alembic.config import Config

    from seal_service.storage.database import MIGRATIONS_DIR, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0004_keys_audit")
    db = sqlite3.connect(tmp_path / "old.db")
    now = "2026-03-01 08:00:00.000000"
    script = """
        INSERT INTO authorities (id, code, name, kind, jurisdiction_code, credit_code, created_at) VALUES
          (1, 'jc-bureau', '晋城市行政审批服务管理局', 'bureau', '140500', '11140500MB01234568', 'NOW'),
          (2, 'jc-market', '晋城市市场监督管理局', 'department', '140500', '11140500MB0345678Y', 'NOW');
        INSERT INTO seals (id, name, seal_type, authority_id, status, image_png, created_at) VALUES
          ('b', 'b', 'approval', 1, 'active', x'00', 'NOW'), ('m', 'm', 'approval', 2, 'active', x'00', 'NOW');
        INSERT INTO seal_certificates (id, seal_id, serial_number, certificate_der, key_ref, not_before, not_after,
          status, created_at) VALUES (1, 'b', '01', x'00', 'file:b', 'NOW', 'NOW', 'current', 'NOW'),
          (2, 'm', '02', x'00', 'file:m', 'NOW', 'NOW', 'current', 'NOW');
        INSERT INTO serial_counters (authority_id, year, last_value) VALUES (1, 2026, 7), (2, 2026, 3);
        """
    db.executescript(script.replace("NOW", now))
    for licence_id, authority, seal, cert, sealed_at in (
        ("LBUREAU", 1, "b", 1, "2026-03-01 09:00:00.000000"),
        ("LMARKET", 2, "m", 2, "2026-03-02 09:00:00.000000"),
    ):
        db.execute(
            "INSERT INTO licences (id, identifier, serial, number, authority_id, seal_id, certificate_id, item_code,"
            " licence_type, licence_type_code, holder_name, issue_date, level, sealed_at, document_sha256, status)"
            " VALUES (?, ?, '20260000001', '140500-20260000001', ?, ?, ?, 'JC-001', 't', 'c', 'h', '2026-03-01',"
            " 'B-B', ?, 'x', 'valid')",
            (licence_id, f"id-{licence_id}", authority, seal, cert, sealed_at),
        )
    db.commit()
    upgrade(url)
    rows = dict(db.execute("SELECT id, number FROM licences").fetchall())
    assert rows == {"LBUREAU": "140500-20260000001", "LMARKET": "140500-20260000001-2"}
    flagged = db.execute("SELECT licence_id, printed_number, number, kept_by FROM licence_number_changes").fetchall()
    assert flagged == [("LMARKET", "140500-20260000001", "140500-20260000001-2", "LBUREAU")]
    assert db.execute("SELECT last_value FROM licence_number_counters WHERE jurisdiction_code='140500'").fetchone() == (
        7,
    )
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("UPDATE licences SET number='140500-20260000001' WHERE id='LMARKET'")
    db.close()
