"""The sequencer's kept right edge: appending from memory gives the same tree and tiles as recomputing from the
leaves, and a stale or damaged edge is caught against the database (several nodes stay correct).

The pure part needs no database; the rest runs on SQLite and PostgreSQL (``log_instance``).
"""

from __future__ import annotations

import hashlib
import random
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, insert, select, update

from seal_service.instance import Instance
from seal_service.log import sequence_once
from seal_service.log.leaves import append_entry
from seal_service.log.sequencer import BackgroundSequencer, forget_edge, on_commit_of_entries
from seal_service.log.tiles import RightEdge, edge_tiles
from seal_service.storage.log_models import LogEntryRecord, LogPending, LogState, LogTile
from verifier.log_entry import EntryKind, LogEntry, format_time
from verifier.tlog import HASH_SIZE, TILE_WIDTH, leaf_hash, root_of


def _tiles_of(leaves: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every tile of the tree over ``leaves``, computed from scratch (tlog-tiles: level L holds the roots of the
    full tiles of level L - 1)."""
    tiles: dict[tuple[int, int], bytes] = {}
    level, hashes = 0, leaves
    while hashes:
        parents = []
        for n in range(-(-len(hashes) // TILE_WIDTH)):
            part = hashes[n * TILE_WIDTH : (n + 1) * TILE_WIDTH]
            tiles[(level, n)] = b"".join(part)
            if len(part) == TILE_WIDTH:
                parents.append(root_of(part))
        level, hashes = level + 1, parents
    return tiles


def test_appending_from_the_kept_edge_gives_the_tree_and_tiles_of_a_fresh_computation() -> None:
    rng = random.Random(13)  # noqa: S311 - batch sizes for a test, not secrets
    leaves: list[bytes] = []
    edge = RightEdge.empty()
    stored: dict[tuple[int, int], bytes] = {}
    # Batches of 1 to 700 leaves, past the first full level-1 tile (65,536 leaves): every carry case is met.
    while len(leaves) < 66_000:
        batch = [hashlib.sha256(str(len(leaves) + i).encode()).digest() for i in range(rng.choice((1, 2, 255, 700)))]
        old_size = len(leaves)
        leaves += batch
        edge, written = edge.extend(batch)
        for (level, n), (data, exists) in written.items():
            # An UPDATE only for a tile that was already stored with exactly the hashes it held before.
            assert exists == ((level, n) in stored)
            if exists:
                assert data.startswith(stored[(level, n)])
            stored[(level, n)] = data
        if old_size % 97 == 0 or len(leaves) >= 66_000:
            assert edge.root == root_of(leaves)
            assert stored == _tiles_of(leaves)
            # The same edge, rebuilt from the stored partial tiles (what another node does).
            rebuilt = RightEdge.from_tails(len(leaves), {lv: stored[(lv, n)] for lv, n in edge_tiles(len(leaves))})
            assert rebuilt == edge
    assert edge.size == len(leaves) and any(level == 2 for level, _ in stored)


def test_a_right_edge_that_does_not_hold_the_hashes_it_should_is_refused() -> None:
    with pytest.raises(RuntimeError, match="does not hold"):
        RightEdge.from_tails(300, {0: b"\x00" * HASH_SIZE * 3})  # level 0 must hold 44 hashes


def _add(instance: Instance, count: int, tag: str) -> None:
    at = format_time(datetime.now(UTC))
    with instance.writer.begin() as session:
        for i in range(count):
            entry = LogEntry(kind=EntryKind.REVOKED, licence=f"LE{tag}{i:05d}", authority="X", at=at)
            append_entry(session, entry, licence_id=entry.licence)


def _fresh_root(instance: Instance) -> tuple[int, bytes, bytes]:
    with instance.sessions() as session:
        entries = session.scalars(select(LogEntryRecord.entry).order_by(LogEntryRecord.idx)).all()
        state = session.get(LogState, 1)
        assert state is not None
        return state.size, state.root, root_of([leaf_hash(e) for e in entries])


def test_two_nodes_sequencing_in_turn_each_notice_the_other_moved_the_log(log_instance) -> None:  # type: ignore[no-untyped-def]
    # A second Instance on the same database is another node: it keeps a right edge of its own.
    other = Instance(log_instance.settings)
    try:
        for turn, node in enumerate((log_instance, other, log_instance, log_instance, other)):
            _add(log_instance, 1 + turn * 3, f"N{turn}")
            result = sequence_once(node, at=datetime.now(UTC))
            assert result.appended == 1 + turn * 3
            size, root, fresh = _fresh_root(log_instance)
            assert (result.size, result.root) == (size, root)
            assert root == fresh
    finally:
        other.engine.dispose()


def test_a_damaged_right_edge_tile_stops_the_sequencer_instead_of_extending_it(log_instance) -> None:  # type: ignore[no-untyped-def]
    _add(log_instance, 3, "D")
    sequence_once(log_instance, at=datetime.now(UTC))
    size, root, _ = _fresh_root(log_instance)
    n = (size - 1) // TILE_WIDTH
    with log_instance.sessions() as session:
        original = session.scalar(select(LogTile.hashes).where(LogTile.level == 0, LogTile.n == n))
    assert original is not None
    damaged = original[:-HASH_SIZE] + hashlib.sha256(b"forged").digest()
    with log_instance.writer.begin() as session:
        session.execute(update(LogTile).where(LogTile.level == 0, LogTile.n == n).values(hashes=damaged))
    try:
        forget_edge(log_instance)  # as on a node that starts, or after another node's step
        _add(log_instance, 1, "D2")
        with pytest.raises(RuntimeError, match="do not hash to the log state's root"):
            sequence_once(log_instance, at=datetime.now(UTC))
        with log_instance.sessions() as session:
            assert session.scalar(select(func.max(LogEntryRecord.idx))) == size - 1  # nothing appended
    finally:
        with log_instance.writer.begin() as session:
            session.execute(update(LogTile).where(LogTile.level == 0, LogTile.n == n).values(hashes=original))
    result = sequence_once(log_instance, at=datetime.now(UTC))
    assert result.appended == 1 and result.size == size + 1
    assert _fresh_root(log_instance)[1:] == (result.root, result.root)
    assert root != result.root


def test_a_commit_that_wrote_an_entry_wakes_the_sequencers_of_the_process_and_a_rollback_does_not(log_instance) -> None:  # type: ignore[no-untyped-def]
    woken: list[int] = []
    unregister = on_commit_of_entries(lambda: woken.append(1))
    try:
        entry = LogEntry(kind=EntryKind.REVOKED, licence="LWAKE1", authority="X", at=format_time(datetime.now(UTC)))
        with pytest.raises(RuntimeError), log_instance.writer.begin() as session:
            append_entry(session, entry, licence_id=entry.licence)
            raise RuntimeError("rolled back")
        with log_instance.writer.begin() as session:
            session.execute(select(1))  # a commit without entries
        assert woken == []
        with log_instance.writer.begin() as session:
            append_entry(session, entry, licence_id=entry.licence)
        assert woken == [1]
    finally:
        unregister()


def test_the_background_sequencer_also_finds_entries_other_processes_wrote(log_instance) -> None:  # type: ignore[no-untyped-def]
    # A raw insert: no session of this process announces it (as when the CLI or another node wrote it).
    sequencer = BackgroundSequencer(
        Instance(log_instance.settings.model_copy(update={"log_sequence_delay_seconds": 0.2}))
    )
    sequencer.start()
    try:
        entry = LogEntry(kind=EntryKind.REVOKED, licence="LPOLL1", authority="X", at=format_time(datetime.now(UTC)))
        with log_instance.engine.begin() as connection:
            connection.execute(
                insert(LogPending).values(
                    entry=entry.encode(), kind="revoked", licence_id="LPOLL1", created_at=datetime.now(UTC)
                )
            )
        deadline = time.monotonic() + 20  # the bound is 0.2 s; the margin is for a loaded test machine
        while time.monotonic() < deadline:
            with log_instance.sessions() as session:
                if session.scalar(select(LogEntryRecord.idx).where(LogEntryRecord.licence_id == "LPOLL1")) is not None:
                    break
            time.sleep(0.05)
        else:
            pytest.fail("the background sequencer never sequenced an entry it had to find by polling")
    finally:
        sequencer.stop()
        sequencer._instance.engine.dispose()


def test_a_step_that_commits_between_the_proofs_two_reads_does_not_make_a_licence_absent(log_instance) -> None:  # type: ignore[no-untyped-def]
    # The proof looks in the log, then among pending entries. On PostgreSQL each statement has its own snapshot: a
    # step that commits in between moves the entry out of "pending" and into the log, seen by neither read.
    # "Not in the log" would make seal-verify call the licence sealed outside the record.
    import threading

    from sqlalchemy import event

    from seal_service.errors import StateConflict
    from seal_service.log import inclusion_for_licence

    licence = "LRACE0000000001"
    entry = LogEntry(
        kind=EntryKind.SEALED,
        licence=licence,
        document_sha256="ab" * 32,
        certificate_sha256="cd" * 32,
        item="JC-001",
        authority="X",
        at=format_time(datetime.now(UTC)),
    )
    with log_instance.writer.begin() as session:
        append_entry(session, entry, licence_id=licence)
    fired: list[int] = []

    def step_in_between(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if not fired and statement.lstrip().upper().startswith("SELECT") and "FROM log_pending" in statement:
            fired.append(1)
            other = threading.Thread(target=sequence_once, args=(log_instance,), kwargs={"at": datetime.now(UTC)})
            other.start()
            other.join()

    event.listen(log_instance.engine, "before_cursor_execute", step_in_between)
    try:
        try:
            proof = inclusion_for_licence(log_instance, licence)
        except StateConflict:
            # SQLite reads one snapshot per transaction: the entry was still pending in it. Never "absent".
            assert log_instance.engine.dialect.name == "sqlite"
        else:
            assert proof.licence_id == licence and proof.entry == entry.encode()
    finally:
        event.remove(log_instance.engine, "before_cursor_execute", step_in_between)
    assert fired == [1]
    assert inclusion_for_licence(log_instance, licence).licence_id == licence
