"""The hash-chained audit log on SQLite and PostgreSQL: every kind of tampering is detected and located.

Each tampering test changes the database directly with SQL (as someone with database access would), checks that
``verify_log`` names the entry, then puts the rows back and checks the log verifies again, so the shared
instance stays intact for the next test.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from seal_service.errors import AuditLogBroken
from seal_service.services.audit import checkpoint, find_problems, record, verify_log
from seal_service.services.sealing import LicenceRequest, seal_licence
from seal_service.signing.sealer import PadesLevel
from seal_service.storage.keys_models import GENESIS_HASH, AuditChainHead, AuditCheckpoint, entry_hash_of
from seal_service.storage.models import AuditEntry

CONCURRENT_SEALINGS = 50


def _append(instance, n: int = 3) -> list[int]:  # type: ignore[no-untyped-def]
    """Append ``n`` entries (one transaction each); their chain positions."""
    seqs = []
    for i in range(n):
        with instance.writer.begin() as session:
            entry = record(
                session,
                at=datetime.now(UTC),
                actor="test",
                action="test.event",
                seal_id="jc-bureau-approval",
                details={"i": i, "note": "测试"},
            )
            seqs.append(entry.seq)
    return seqs


def _sql(instance, statement: str, **params: object) -> None:  # type: ignore[no-untyped-def]
    with instance.engine.begin() as conn:
        conn.execute(text(statement), params)


def _row(instance, seq: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    with instance.engine.connect() as conn:
        return dict(conn.execute(select(AuditEntry.__table__).where(AuditEntry.seq == seq)).mappings().one())


def _restore(instance, row: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    # A Core insert: it bypasses the ORM hook that would chain it as a new entry.
    with instance.engine.begin() as conn:
        conn.execute(AuditEntry.__table__.delete().where(AuditEntry.id == row["id"]))
        conn.execute(AuditEntry.__table__.insert().values(**row))


@contextmanager
def _broken(instance, kind: str, seq: int | None) -> Iterator[AuditLogBroken]:  # type: ignore[no-untyped-def]
    """Expect ``verify_log`` to fail naming (kind, seq) first; the caller restores inside the block."""
    with pytest.raises(AuditLogBroken) as caught:
        verify_log(instance)
    first = caught.value.problems[0]
    assert (first.kind, first.seq) == (kind, seq), caught.value.problems
    yield caught.value


def test_entries_are_chained_in_order(keys_instance) -> None:  # type: ignore[no-untyped-def]
    seqs = _append(keys_instance)
    assert seqs == list(range(seqs[0], seqs[0] + 3))
    with keys_instance.sessions() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        head = session.get(AuditChainHead, 1)
    prev = GENESIS_HASH
    for expected, entry in enumerate(entries, start=1):
        assert entry.seq == expected and entry.prev_hash == prev
        assert entry.entry_hash == entry_hash_of(entry, prev)
        prev = entry.entry_hash
    assert head is not None and (head.last_seq, head.last_hash) == (entries[-1].seq, prev)
    report = verify_log(keys_instance)
    assert report.entries == len(entries) and report.last_hash == prev


@pytest.mark.parametrize("column", ["actor", "at", "details"])
def test_a_modified_entry_is_detected(keys_instance, column) -> None:  # type: ignore[no-untyped-def]
    seq = _append(keys_instance)[1]
    original = _row(keys_instance, seq)
    if column == "actor":
        _sql(keys_instance, "UPDATE audit_entries SET actor = 'mallory' WHERE seq = :seq", seq=seq)
    elif column == "at":
        new_at = original["at"] - timedelta(days=1)  # type: ignore[operator]
        with keys_instance.engine.begin() as conn:
            conn.execute(AuditEntry.__table__.update().where(AuditEntry.seq == seq).values(at=new_at))
    else:
        cast = "CAST(:d AS JSON)" if keys_instance.engine.dialect.name == "postgresql" else ":d"
        statement = f"UPDATE audit_entries SET details = {cast} WHERE seq = :seq"  # noqa: S608 - constant parts
        _sql(keys_instance, statement, d='{"i": 99}', seq=seq)
    try:
        with _broken(keys_instance, "modified", seq) as error:
            assert f"entry {seq} (id {original['id']}, test.event) was modified" in error.detail
    finally:
        _restore(keys_instance, original)
    verify_log(keys_instance)


def test_a_deleted_entry_is_detected(keys_instance) -> None:  # type: ignore[no-untyped-def]
    seq = _append(keys_instance)[1]
    original = _row(keys_instance, seq)
    _sql(keys_instance, "DELETE FROM audit_entries WHERE seq = :seq", seq=seq)
    try:
        with _broken(keys_instance, "missing", seq) as error:
            assert f"entry {seq} is missing" in error.detail
    finally:
        _restore(keys_instance, original)
    verify_log(keys_instance)


def test_deleting_the_last_entry_is_detected(keys_instance) -> None:  # type: ignore[no-untyped-def]
    seq = _append(keys_instance)[-1]
    original = _row(keys_instance, seq)
    _sql(keys_instance, "DELETE FROM audit_entries WHERE seq = :seq", seq=seq)
    try:
        with _broken(keys_instance, "truncated", seq) as error:
            assert f"names entry {seq} but the log ends at entry {seq - 1}" in error.detail
    finally:
        _restore(keys_instance, original)
    verify_log(keys_instance)


def test_inserted_entries_are_detected(keys_instance) -> None:  # type: ignore[no-untyped-def]
    _append(keys_instance)
    now = datetime.now(UTC).isoformat()
    # (1) a row written past the chain, as a plain INSERT would.
    _sql(
        keys_instance,
        "INSERT INTO audit_entries (at, actor, action, details) VALUES (:at, 'mallory', 'seal.use', '{}')",
        at=now,
    )
    with keys_instance.engine.connect() as conn:
        forged_id = conn.execute(text("SELECT id FROM audit_entries WHERE actor = 'mallory'")).scalar_one()
    try:
        with _broken(keys_instance, "outside-chain", None) as error:
            assert f"entry id {forged_id} is not in the chain" in error.detail
    finally:
        _sql(keys_instance, "DELETE FROM audit_entries WHERE id = :id", id=forged_id)
    # (2) a row squeezed into an existing position is refused by the database itself.
    seq = _append(keys_instance)[0]
    with pytest.raises(IntegrityError):
        _sql(
            keys_instance,
            "INSERT INTO audit_entries (at, actor, action, details, seq, prev_hash, entry_hash) "
            "VALUES (:at, 'mallory', 'seal.use', '{}', :seq, :h, :h)",
            at=now,
            seq=seq,
            h="0" * 64,
        )
    # (3) a row appended after the head with made-up hashes.
    head = _append(keys_instance, 1)[0]
    _sql(
        keys_instance,
        "INSERT INTO audit_entries (at, actor, action, details, seq, prev_hash, entry_hash) "
        "VALUES (:at, 'mallory', 'seal.use', '{}', :seq, :h, :h)",
        at=now,
        seq=head + 1,
        h="ab" * 32,
    )
    try:
        with _broken(keys_instance, "out-of-order", head + 1):
            pass
    finally:
        _sql(keys_instance, "DELETE FROM audit_entries WHERE seq = :seq", seq=head + 1)
    verify_log(keys_instance)


def test_reordered_entries_are_detected(keys_instance) -> None:  # type: ignore[no-untyped-def]
    first, second, _third = _append(keys_instance)
    swap = (
        "UPDATE audit_entries SET seq = CASE WHEN seq = :a THEN -1 ELSE seq END WHERE seq = :a;"
        "UPDATE audit_entries SET seq = :a WHERE seq = :b;"
        "UPDATE audit_entries SET seq = :b WHERE seq = -1"
    )

    def swap_them() -> None:
        for statement in swap.split(";"):
            _sql(keys_instance, statement, a=first, b=second)

    swap_them()
    try:
        with _broken(keys_instance, "out-of-order", first) as error:
            assert f"entry {first} " in error.detail and "inserted or reordered" in error.detail
    finally:
        swap_them()
    verify_log(keys_instance)


def test_a_rewritten_chain_is_caught_by_the_signed_checkpoint(keys_instance) -> None:  # type: ignore[no-untyped-def]
    # Someone with database access changes an entry and recomputes every later hash and the head: the chain is
    # consistent again, but it no longer matches what the service signed.
    _append(keys_instance)
    signed = checkpoint(keys_instance, at=datetime.now(UTC))
    target = signed.seq - 1
    with keys_instance.engine.connect() as conn:
        table = AuditEntry.__table__
        originals = [dict(r) for r in conn.execute(select(table).where(table.c.seq >= target)).mappings()]
        head = dict(conn.execute(select(AuditChainHead.__table__)).mappings().one())
    with keys_instance.writer.begin() as session:
        entries = session.scalars(select(AuditEntry).where(AuditEntry.seq >= target).order_by(AuditEntry.seq)).all()
        prev = entries[0].prev_hash
        entries[0].actor = "mallory"
        for entry in entries:
            entry.prev_hash = prev
            entry.entry_hash = entry_hash_of(entry, prev or GENESIS_HASH)
            prev = entry.entry_hash
        session.get(AuditChainHead, 1).last_hash = prev  # type: ignore[union-attr]
    try:
        problems, _ = find_problems(keys_instance)
        assert [p.kind for p in problems] == ["checkpoint"], problems
        assert problems[0].seq == signed.seq and "the log was rewritten" in problems[0].message
    finally:
        for row in originals:
            _restore(keys_instance, row)
        with keys_instance.engine.begin() as conn:
            conn.execute(AuditChainHead.__table__.update().values(last_hash=head["last_hash"]))
    verify_log(keys_instance)


def test_a_forged_checkpoint_is_detected(keys_instance) -> None:  # type: ignore[no-untyped-def]
    _append(keys_instance, 1)
    signed = checkpoint(keys_instance, at=datetime.now(UTC))
    assert signed.created and checkpoint(keys_instance, at=datetime.now(UTC)).created is False
    _sql(keys_instance, "UPDATE audit_checkpoints SET entry_hash = :h WHERE id = :id", h="cd" * 32, id=signed.id)
    try:
        with _broken(keys_instance, "checkpoint", signed.seq) as error:
            assert f"checkpoint {signed.id}" in error.detail and "not valid" in error.detail
    finally:
        _sql(
            keys_instance,
            "UPDATE audit_checkpoints SET entry_hash = :h WHERE id = :id",
            h=signed.entry_hash,
            id=signed.id,
        )
    assert verify_log(keys_instance).checkpoints >= 1


def _request(holder_code: str | None = None, level: PadesLevel = PadesLevel.B_B) -> LicenceRequest:
    return LicenceRequest(
        item_code="JC-001",
        holder_name="张三丰测试个体户",
        seal_id="jc-bureau-approval",
        level=level,
        holder_code=holder_code,
        holder_code_type="111" if holder_code else None,
    )


def test_fifty_concurrent_sealings_never_fork_the_chain(keys_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    with keys_instance.sessions() as session:
        before = session.scalar(select(func.max(AuditEntry.seq))) or 0
    errors: list[BaseException] = []
    start = threading.Barrier(10)

    def worker(count: int) -> None:
        try:
            start.wait()
            for _ in range(count):
                seal_licence(keys_instance, licence_pdf, _request(), actor="test", at=datetime.now(UTC))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(CONCURRENT_SEALINGS // 10,)) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with keys_instance.sessions() as session:
        seqs = session.scalars(
            select(AuditEntry.seq)
            .where(AuditEntry.seq > before, AuditEntry.action == "seal.use")
            .order_by(AuditEntry.seq)
        ).all()
    assert len(seqs) == CONCURRENT_SEALINGS
    report = verify_log(keys_instance)
    assert report.last_seq == report.entries  # contiguous: no gap, no fork, nothing outside the chain


def test_the_log_holds_no_personal_data_and_no_secrets(keys_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    from seal_service.services.apikeys import Role, create_api_key

    id_number = "14052519900307001X"
    sealed = seal_licence(keys_instance, licence_pdf, _request(id_number), actor="test", at=datetime.now(UTC))
    issued = create_api_key(
        keys_instance,
        name="审批系统 privacy",
        role=Role.APPROVAL_SYSTEM,
        authority_code="jc-bureau",
        at=datetime.now(UTC),
    )
    with keys_instance.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM audit_entries")).all()
    dump = json.dumps([[str(v) for v in row] for row in rows], ensure_ascii=False)
    assert sealed.licence_id in dump  # the use of the seal is there...
    assert "张三丰" not in dump and id_number not in dump  # ...the holder is not
    # sk_<key id>_<random part>; the random part is base64url and may itself hold "_" (split twice only).
    assert issued.secret not in dump and issued.secret.split("_", 2)[2] not in dump


def test_checkpoints_are_signed_automatically_every_n_entries(keys_instance, licence_pdf, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(keys_instance.settings, "audit_checkpoint_every", 2)
    with keys_instance.sessions() as session:
        before = session.scalar(select(func.count()).select_from(AuditCheckpoint))
    for _ in range(3):
        seal_licence(keys_instance, licence_pdf, _request(), actor="test", at=datetime.now(UTC))
    with keys_instance.sessions() as session:
        after = session.scalar(select(func.count()).select_from(AuditCheckpoint))
    assert after is not None and before is not None and after > before
    assert verify_log(keys_instance).checkpoints == after


def test_the_migration_chains_entries_written_before_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from alembic import command
    from alembic.config import Config

    from seal_service.instance import Instance
    from seal_service.storage.database import MIGRATIONS_DIR, upgrade
    from tests.conftest import make_settings

    url = f"sqlite:///{tmp_path / 'old.db'}"
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url)
    command.upgrade(config, "0002_api_keys")
    instance = Instance(make_settings(tmp_path, database_url=url))
    with instance.engine.begin() as conn:
        for i in range(3):
            conn.execute(
                text("INSERT INTO audit_entries (at, actor, action, details) VALUES (:at, 'cli', 'seal.use', :d)"),
                {"at": f"2025-01-0{i + 1} 08:00:00.000000", "d": json.dumps({"n": i})},
            )
    instance.engine.dispose()
    upgrade(url)
    report = verify_log(instance)
    assert (report.entries, report.last_seq) == (3, 3)
    with instance.writer.begin() as session:
        assert record(session, at=datetime.now(UTC), actor="t", action="after.upgrade").seq == 4
    assert verify_log(instance).entries == 4
    instance.engine.dispose()
