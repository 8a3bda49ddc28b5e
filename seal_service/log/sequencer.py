"""The sequencer: moves pending entries into the tree, in batches, and signs a checkpoint for each new size.

Example::

    >>> result = sequence_once(instance, at=now)          # doctest: +SKIP
    >>> result.appended, result.size                      # doctest: +SKIP
    (3, 42)

Never loses or duplicates an entry, on any number of nodes: the whole step runs in one transaction that first
locks the single ``log_state`` row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write transaction takes the
database lock up front), takes the pending rows (``DELETE ... RETURNING``), appends them to ``log_entries`` and the
tiles, moves the state and stores the signed checkpoint. Another node's sequencer waits on the lock and then sees
none of those rows. A pending row committed by a sealing transaction while a step runs is taken by the next step.

The tree's right edge (:class:`~seal_service.log.tiles.RightEdge`) is kept in memory between steps and used only
while the locked state still has the size and root it produced; otherwise it is rebuilt from the stored partial
tiles and checked against the state's root. See docs/transparency.md, "Sequencing".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast
from weakref import WeakKeyDictionary

from sqlalchemy import (
    BigInteger,
    Connection,
    Integer,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)

from seal_service.errors import ConfigurationError
from seal_service.instance import Instance
from seal_service.log.keys import LogSigningKey, signing_key
from seal_service.log.leaves import ENTRIES_COMMITTED
from seal_service.log.tiles import RightEdge, edge_tiles
from seal_service.storage.log_models import LogCheckpoint, LogEntryRecord, LogKey, LogPending, LogState, LogTile
from seal_service.storage.models import Licence
from verifier.log_entry import EntryKind
from verifier.tlog import EMPTY_ROOT, Checkpoint, Note, leaf_hash

logger = logging.getLogger(__name__)

#: Most entries one step takes (one transaction); more pending entries are taken by the next steps at once.
MAX_BATCH = 20_000


@dataclass(frozen=True)
class SequenceResult:
    """What one step did."""

    appended: int
    size: int
    root: bytes


def signed_checkpoint(signer: LogSigningKey, size: int, root: bytes) -> bytes:
    """The checkpoint note of ``size``/``root`` signed by the log key."""
    text = Checkpoint(origin=signer.verifier.name, size=size, root=root).text
    return Note(text, (signer.sign_note(text),)).encode()


def ensure_log_state(instance: Instance, *, at: datetime) -> bool:
    """Create the empty log's state and its signed checkpoint of size 0, once; True when created."""
    signer = signing_key(instance)
    with instance.writer.begin() as session:
        if session.get(LogState, 1) is not None:
            return False
        note = signed_checkpoint(signer, 0, EMPTY_ROOT)
        session.add(LogState(id=1, size=0, root=EMPTY_ROOT, checkpoint=note, updated_at=at))
        session.add(LogCheckpoint(size=0, note=note, created_at=at))
    return True


# Core statements built once: a step is a handful of statements, and the ORM's unit of work cost more CPU than
# the database work of a small step.
_STATE = cast(Table, LogState.__table__)
_PENDING = cast(Table, LogPending.__table__)
_ENTRIES = cast(Table, LogEntryRecord.__table__)
_TILES = cast(Table, LogTile.__table__)
_KEYS = cast(Table, LogKey.__table__)
_LICENCES = cast(Table, Licence.__table__)
_CHECKPOINTS = cast(Table, LogCheckpoint.__table__)
# (1) the lock every sequencer takes first (FOR UPDATE OF log_state on PostgreSQL; SQLite's BEGIN IMMEDIATE has
# taken the database lock already), with the id of the key that signs now in the same round trip.
_LOCK_STATE = (
    select(
        _STATE.c.size,
        _STATE.c.root,
        select(func.max(_KEYS.c.id)).where(_KEYS.c.retired_at.is_(None)).scalar_subquery(),
    )
    .where(_STATE.c.id == 1)
    .with_for_update(of=_STATE)
)
# (2) take the oldest pending rows: read and deleted in one statement. Only the rows this statement sees: a pending
# row committed meanwhile (any id) is not touched and goes into the next step.
_TAKE_PENDING = (
    delete(_PENDING)
    .where(
        _PENDING.c.id.in_(
            select(_PENDING.c.id).order_by(_PENDING.c.id).limit(bindparam("batch", type_=Integer)).scalar_subquery()
        )
    )
    .returning(_PENDING.c.id, _PENDING.c.entry, _PENDING.c.kind, _PENDING.c.licence_id)
)
_INSERT_ENTRIES = insert(_ENTRIES)
# The licences' own index: one statement for the whole batch (UPDATE ... FROM works on both databases).
_SET_LICENCE_INDEX = (
    update(_LICENCES)
    .values(log_index=_ENTRIES.c.idx)
    .where(
        _ENTRIES.c.licence_id == _LICENCES.c.id,
        _ENTRIES.c.kind == EntryKind.SEALED.value,
        _ENTRIES.c.idx >= bindparam("old_size", type_=BigInteger),
        _LICENCES.c.log_index.is_(None),
    )
)
_GROW_TILE = (
    update(_TILES)
    .where(_TILES.c.level == bindparam("t_level"), _TILES.c.n == bindparam("t_n"))
    .values(hashes=bindparam("t_hashes"))
)
_INSERT_TILE = insert(_TILES)
_INSERT_CHECKPOINT = insert(_CHECKPOINTS)
_MOVE_STATE = update(_STATE).where(_STATE.c.id == 1)
_ANY_PENDING = select(_PENDING.c.id).limit(1)
_READ_TILES = select(_TILES.c.level, _TILES.c.n, _TILES.c.hashes)

#: Below this many entries a step inserts them with one INSERT (COPY's own round trips cost more than it saves).
_COPY_FROM = 200


@dataclass(frozen=True)
class _Kept:
    """The right edge this process last sequenced to, per instance, with the root it gave."""

    edge: RightEdge
    root: bytes


_EDGES: WeakKeyDictionary[Instance, _Kept] = WeakKeyDictionary()
_EDGES_LOCK = threading.Lock()


def _edge_for(instance: Instance, connection: Connection, size: int, root: bytes) -> RightEdge:
    """The right edge of the tree the locked state describes: the one kept in memory when it is still that tree
    (same size and root: nobody else sequenced since; one comparison, no read), else read from the partial tiles
    (one query) and checked against the state's root."""
    with _EDGES_LOCK:
        kept = _EDGES.get(instance)
    if kept is not None and kept.edge.size == size and kept.root == root:
        return kept.edge
    wanted = edge_tiles(size)
    tails: dict[int, bytes] = {}
    if wanted:
        rows = connection.execute(
            _READ_TILES.where(or_(*(and_(_TILES.c.level == lv, _TILES.c.n == n) for lv, n in wanted)))
        ).all()
        tails = {row.level: row.hashes for row in rows}
    edge = RightEdge.from_tails(size, tails)
    if edge.root != root:
        raise RuntimeError(f"the stored tiles do not hash to the log state's root at size {size}; the log is damaged")
    return edge


def _keep(instance: Instance, edge: RightEdge, root: bytes) -> None:
    with _EDGES_LOCK:
        _EDGES[instance] = _Kept(edge=edge, root=root)


def forget_edge(instance: Instance) -> None:
    """Drop the kept right edge (tests; the next step reads it from the database)."""
    with _EDGES_LOCK:
        _EDGES.pop(instance, None)


def sequence_once(instance: Instance, *, at: datetime, max_batch: int = MAX_BATCH) -> SequenceResult:
    """Sequence up to ``max_batch`` pending entries (oldest first) and sign the new checkpoint.

    One transaction of at most eight statements: lock the state (and read the signing key's id), take the pending
    rows, insert the entries, set the sealed licences' index, write the tiles that changed, store the checkpoint,
    move the state. The tree's right edge is kept in memory between steps and re-validated against the locked
    state each time, so several nodes stay correct.
    """
    # A plain connection (no ORM session): BEGIN IMMEDIATE on SQLite through the writer option, as for sessions.
    with instance.engine.execution_options(seal_writer=True).begin() as connection:
        # (1)
        locked = connection.execute(_LOCK_STATE).first()
        if locked is None:
            raise ConfigurationError("the issuance log is not initialised; run `seal-service init`")
        old_size, old_root, key_id = int(locked[0]), bytes(locked[1]), locked[2]
        # (2)
        pending = sorted(connection.execute(_TAKE_PENDING, {"batch": max_batch}).all())
        if not pending:
            return SequenceResult(appended=0, size=old_size, root=old_root)
        if key_id is None:
            raise ConfigurationError("the instance has no log key; run `seal-service init` first")
        signer = signing_key(instance, key_id=int(key_id))
        edge = _edge_for(instance, connection, old_size, old_root)
        hashes = [leaf_hash(row.entry) for row in pending]
        # (3) the entries, and (4) the sealed licences' index.
        rows = [(old_size + i, row.entry, hashes[i], row.kind, row.licence_id, at) for i, row in enumerate(pending)]
        _insert_entries(connection, rows)
        if any(row.kind == EntryKind.SEALED.value and row.licence_id is not None for row in pending):
            connection.execute(_SET_LICENCE_INDEX, {"old_size": old_size})
        # (5) only the tiles that changed: usually the one partial level-0 tile.
        new_edge, written = edge.extend(hashes)
        grown = [{"t_level": lv, "t_n": n, "t_hashes": data} for (lv, n), (data, exists) in written.items() if exists]
        added = [{"level": lv, "n": n, "hashes": data} for (lv, n), (data, exists) in written.items() if not exists]
        if grown:
            result = connection.execute(_GROW_TILE, grown)
            if 0 <= result.rowcount < len(grown):
                raise RuntimeError("a tile on the log's right edge is not stored; the log state is damaged")
        if added:
            connection.execute(_INSERT_TILE, added)
        # (6) checkpoint and state.
        new_size, root = new_edge.size, new_edge.root
        note = signed_checkpoint(signer, new_size, root)
        connection.execute(_INSERT_CHECKPOINT, {"size": new_size, "note": note, "created_at": at})
        connection.execute(_MOVE_STATE, {"size": new_size, "root": root, "checkpoint": note, "updated_at": at})
    # Kept only once committed: a step that rolled back leaves the previous edge, which the next step re-validates.
    _keep(instance, new_edge, root)
    return SequenceResult(appended=len(pending), size=new_size, root=root)


_ENTRY_COLUMNS = ("idx", "entry", "leaf_hash", "kind", "licence_id", "sequenced_at")


def _insert_entries(connection: Connection, rows: Sequence[tuple[object, ...]]) -> None:
    """Insert sequenced entries: COPY on PostgreSQL for large batches (an executemany of 20,000 rows is the step's
    main cost otherwise), one INSERT otherwise."""
    if connection.dialect.name == "postgresql" and len(rows) >= _COPY_FROM:
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY log_entries ({', '.join(_ENTRY_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    connection.execute(_INSERT_ENTRIES, [dict(zip(_ENTRY_COLUMNS, row, strict=True)) for row in rows])


def sequence_all(instance: Instance, *, at: datetime | None = None) -> SequenceResult:
    """Sequence until nothing is pending (``seal-service log sequence --once``)."""
    total = 0
    while True:
        result = sequence_once(instance, at=at or datetime.now(UTC))
        total += result.appended
        if result.appended < MAX_BATCH:
            return SequenceResult(appended=total, size=result.size, root=result.root)


def has_pending(instance: Instance) -> bool:
    """True when some entry waits (a plain read: never waits for a writer)."""
    with instance.engine.connect() as connection:
        return connection.execute(_ANY_PENDING).first() is not None


class BackgroundSequencer:
    """A daemon thread that sequences what is pending once it has gathered for about half the delay bound (a step
    costs a few ms of CPU whatever its size, so a batch of several licences costs little more than one).

    It learns of entries two ways: a transaction of this process that wrote one wakes it when it commits (no
    query), and otherwise it polls the database at a quarter of the bound (entries written by other processes,
    e.g. the CLI). Once it knows of an entry it waits the gathering time without polling, then takes one step. An
    entry waits at most one poll, the gathering time (half the bound) and a step; or, when its own commit woke
    the sequencer, the gathering time (three quarters of the bound) and a step: within the bound either way.
    """

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self._stop = threading.Event()
        self._wake = threading.Event()
        delay = instance.settings.log_sequence_delay_seconds
        self.interval = min(max(delay / 4, 0.02), 1.0)
        self.gather = max(delay - 2 * self.interval, 0.0)
        """Seconds between first seeing an entry pending (by a poll) and sequencing it."""
        self.gather_after_commit = max(delay - self.interval, 0.0)
        """The same when a commit of this process woke the sequencer (the entry's age is known: about 0)."""
        self._thread = threading.Thread(target=self._run, name="log-sequencer", daemon=True)
        self._poller: Any = None  # the PostgreSQL connection of the polls (this thread's only)
        self._unregister = on_commit_of_entries(self._wake.set)

    def start(self) -> BackgroundSequencer:
        """Start polling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current step."""
        self._stop.set()
        self._wake.set()
        self._unregister()
        self._thread.join(timeout=10)

    def _poll(self) -> bool:
        """Is an entry pending? On PostgreSQL through a connection this thread keeps, in autocommit: one round trip
        of a prepared statement (a pooled connection costs a ping and a rollback besides, about four times the
        CPU, four times a second)."""
        if self._instance.engine.dialect.name != "postgresql":
            return has_pending(self._instance)
        if self._poller is None:
            self._poller = self._instance.engine.raw_connection()
            self._poller.driver_connection.autocommit = True
        try:
            cursor = self._poller.cursor()
            cursor.execute("SELECT 1 FROM log_pending LIMIT 1")
            return cursor.fetchone() is not None
        except Exception:
            self._drop_poller()
            raise

    def _drop_poller(self) -> None:
        if self._poller is not None:
            # Never back into the pool: it is in autocommit mode.
            self._poller.invalidate()
            self._poller = None

    def _run(self) -> None:
        try:
            self._loop()
        finally:
            self._drop_poller()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                woken = self._wake.wait(self.interval)
                if self._stop.is_set():
                    return
                if not woken and not self._poll():
                    continue
                # Gather what else arrives; then one step takes it all. Woken by a commit, the first entry is
                # known to be a moment old, so it may gather one poll interval longer than after a poll.
                if self._stop.wait(self.gather_after_commit if woken else self.gather):
                    return
                self._wake.clear()  # what committed until now is in this step; later commits wake the next
                sequence_all(self._instance)
            except Exception:
                logger.exception("log sequencer step failed; retrying")
                time.sleep(self.interval)


#: Call a function after each commit that wrote log entries (this process only); returns its unsubscriber.
on_commit_of_entries = ENTRIES_COMMITTED.subscribe
