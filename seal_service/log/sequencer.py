"""The sequencer: moves pending entries into the tree, in batches, and signs a checkpoint for each new size.

Example::

    >>> result = sequence_once(instance, at=now)          # doctest: +SKIP
    >>> result.appended, result.size                      # doctest: +SKIP
    (3, 42)

Never loses or duplicates an entry, on any number of nodes: the whole step runs in one transaction that first
locks the single ``log_state`` row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write transaction takes the
database lock up front), appends the pending rows it read to ``log_entries`` and the tiles, deletes those pending
rows, moves the state and stores the signed checkpoint. Another node's sequencer waits on the lock and then sees
none of those rows. A pending row committed by a sealing transaction while a step runs is taken by the next step.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.orm import Session

from seal_service.errors import ConfigurationError
from seal_service.instance import Instance
from seal_service.log.keys import LogSigningKey, signing_key
from seal_service.log.tiles import append_hashes, hash_reader
from seal_service.storage.log_models import LogCheckpoint, LogEntryRecord, LogPending, LogState
from seal_service.storage.models import Licence
from verifier.log_entry import EntryKind
from verifier.tlog import EMPTY_ROOT, Checkpoint, Note, leaf_hash, sign_note

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
    return Note(text, (sign_note(text, signer.verifier.name, signer.private_key),)).encode()


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


def _locked_state(session: Session) -> LogState:
    state = session.scalars(select(LogState).where(LogState.id == 1).with_for_update()).one_or_none()
    if state is None:
        raise ConfigurationError("the issuance log is not initialised; run `seal-service init`")
    return state


def sequence_once(instance: Instance, *, at: datetime, max_batch: int = MAX_BATCH) -> SequenceResult:
    """Sequence up to ``max_batch`` pending entries (oldest first) and sign the new checkpoint."""
    signer = signing_key(instance)
    with instance.writer.begin() as session:
        # (1) the lock every sequencer takes first.
        state = _locked_state(session)
        pending = session.execute(
            select(LogPending.id, LogPending.entry, LogPending.kind, LogPending.licence_id)
            .order_by(LogPending.id)
            .limit(max_batch)
        ).all()
        if not pending:
            return SequenceResult(appended=0, size=state.size, root=state.root)
        old_size = state.size
        hashes = [leaf_hash(row.entry) for row in pending]
        # (2) the entries, and the pending rows gone, in this one transaction.
        rows = [(old_size + i, row.entry, hashes[i], row.kind, row.licence_id, at) for i, row in enumerate(pending)]
        _insert_entries(session, rows)
        ids = [row.id for row in pending]
        if session.connection().dialect.name == "postgresql":
            # One array parameter instead of 20,000 expanded ones. Only the rows read above: a pending row
            # committed since then (any id) is not touched and goes into the next step.
            session.execute(text("DELETE FROM log_pending WHERE id = ANY(:ids)"), {"ids": ids})
        else:
            for i in range(0, len(ids), 500):
                session.execute(delete(LogPending).where(LogPending.id.in_(ids[i : i + 500])))
        # The licences' own index: one statement for the whole batch (UPDATE ... FROM works on both databases).
        if any(row.kind == EntryKind.SEALED.value and row.licence_id is not None for row in pending):
            session.flush()
            licences, entries = Licence.__table__, LogEntryRecord.__table__
            session.execute(
                update(licences)
                .values(log_index=entries.c.idx)
                .where(
                    entries.c.licence_id == licences.c.id,
                    entries.c.kind == EntryKind.SEALED.value,
                    entries.c.idx >= old_size,
                    licences.c.log_index.is_(None),
                )
            )
        # (3) tiles, root, checkpoint, state.
        written = append_hashes(session, old_size, hashes)
        new_size = old_size + len(pending)
        root = hash_reader(session, new_size, written).root()
        note = signed_checkpoint(signer, new_size, root)
        session.add(LogCheckpoint(size=new_size, note=note, created_at=at))
        state.size, state.root, state.checkpoint, state.updated_at = new_size, root, note, at
        return SequenceResult(appended=len(pending), size=new_size, root=root)


_ENTRY_COLUMNS = ("idx", "entry", "leaf_hash", "kind", "licence_id", "sequenced_at")


def _insert_entries(session: Session, rows: list[tuple[object, ...]]) -> None:
    """Insert sequenced entries: COPY on PostgreSQL (an executemany of 20,000 rows is the step's main cost
    otherwise), an executemany on SQLite (already fast there)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(f"COPY log_entries ({', '.join(_ENTRY_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    session.execute(insert(LogEntryRecord), [dict(zip(_ENTRY_COLUMNS, row, strict=True)) for row in rows])


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
    with instance.sessions() as session:
        return session.scalar(select(LogPending.id).limit(1)) is not None


class BackgroundSequencer:
    """A daemon thread that polls at a quarter of the delay bound and sequences what is pending once it has
    gathered for half the bound (a step costs about 20 ms of CPU whatever its size, so a batch of several licences
    costs little more than one). An entry waits at most one poll, the gathering time and a step: within the bound.
    """

    def __init__(self, instance: Instance) -> None:
        self._instance = instance
        self._stop = threading.Event()
        delay = instance.settings.log_sequence_delay_seconds
        self.interval = min(max(delay / 4, 0.02), 1.0)
        self.gather = max(delay - 2 * self.interval, 0.0)
        """Seconds between first seeing an entry pending and sequencing it."""
        self._thread = threading.Thread(target=self._run, name="log-sequencer", daemon=True)

    def start(self) -> BackgroundSequencer:
        """Start polling."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop after the current step."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        seen: float | None = None  # when this thread first saw an entry pending (monotonic)
        while not self._stop.wait(self.interval):
            try:
                if not has_pending(self._instance):
                    seen = None
                    continue
                now = time.monotonic()
                seen = now if seen is None else seen
                if now - seen + 1e-3 >= self.gather:
                    sequence_all(self._instance)
                    seen = None
            except Exception:
                logger.exception("log sequencer step failed; retrying")
                time.sleep(self.interval)
