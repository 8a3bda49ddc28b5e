"""Proofs the service hands out: inclusion of a licence's entry, consistency between two sizes, and the offline
receipt (C2SP tlog-proof) of a licence. All are computed from the stored tiles, like any tile client would.

Example::

    >>> receipt = licence_receipt(instance, "L0123...")       # doctest: +SKIP
    >>> Path("L0123.tlog-proof").write_bytes(receipt.encode())  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from seal_service.errors import InvalidInput, NotFound, StateConflict
from seal_service.instance import Instance
from seal_service.log.tiles import hash_reader
from seal_service.storage.log_models import LogCheckpoint, LogCosignature, LogEntryRecord, LogPending, LogState
from verifier.log_entry import EntryKind
from verifier.tlog import TlogProof, consistency_proof, inclusion_proof, parse_note


@dataclass(frozen=True)
class InclusionProof:
    """A licence's "sealed" entry, its index and the proof against a checkpoint of ``size``."""

    licence_id: str
    index: int
    size: int
    entry: bytes
    proof: tuple[bytes, ...]
    checkpoint: bytes
    """The checkpoint note (log signature and the cosignatures the service holds)."""


def current_size(session: Session) -> int:
    """The size of the latest signed checkpoint (0 before init)."""
    state = session.get(LogState, 1)
    return state.size if state is not None else 0


def cosigned_note(session: Session, size: int) -> bytes:
    """The checkpoint note of ``size`` with every stored cosignature appended."""
    note = session.scalar(select(LogCheckpoint.note).where(LogCheckpoint.size == size))
    if note is None:
        raise NotFound(f"the log signed no checkpoint of size {size}", field="size")
    lines = session.scalars(
        select(LogCosignature.line).where(LogCosignature.size == size).order_by(LogCosignature.witness)
    ).all()
    return note + "".join(lines).encode()


def latest_checkpoint(instance: Instance) -> bytes:
    """The newest checkpoint with its cosignatures (``GET /log/checkpoint``)."""
    with instance.sessions() as session:
        return cosigned_note(session, current_size(session))


def _best_size(session: Session, index: int, size: int) -> int:
    # The newest checkpoint covering the entry that has the most cosignatures (witnesses cosign a little after the
    # log signs), else the newest: a receipt should satisfy the strictest witness policy it can.
    row = session.execute(
        select(LogCosignature.size, func.count())
        .where(LogCosignature.size > index, LogCosignature.size <= size)
        .group_by(LogCosignature.size)
        .order_by(func.count().desc(), LogCosignature.size.desc())
        .limit(1)
    ).first()
    return int(row[0]) if row is not None else size


def inclusion_for_licence(instance: Instance, licence_id: str) -> InclusionProof:
    """The inclusion proof of the licence's "sealed" entry (NotFound while it is not yet sequenced)."""
    entry_row = (
        select(LogEntryRecord.idx, LogEntryRecord.entry)
        .where(LogEntryRecord.licence_id == licence_id, LogEntryRecord.kind == EntryKind.SEALED.value)
        .order_by(LogEntryRecord.idx)
        .limit(1)
    )
    with instance.sessions() as session:
        row = session.execute(entry_row).first()
        if row is None:
            waiting = session.scalar(
                select(LogPending.id)
                .where(LogPending.licence_id == licence_id, LogPending.kind == EntryKind.SEALED.value)
                .limit(1)
            )
            if waiting is not None:
                # Sealed a moment ago: in a checkpoint within the sequencing delay. 409: ask again shortly.
                raise StateConflict(f"licence {licence_id!r} is not in a checkpoint yet; try again in a few seconds")
            # On PostgreSQL each statement reads its own snapshot: a step that committed between the two reads
            # above moved the entry from pending to the log (atomically), so look at the log once more before
            # calling the licence absent ("sealed outside the record" is a loud verdict).
            row = session.execute(entry_row).first()
            if row is None:
                raise NotFound(f"licence {licence_id!r} is not in the log", field="licence")
        size = _best_size(session, row.idx, current_size(session))
        reader = hash_reader(session, size, prefetch=(row.idx,))
        proof = tuple(inclusion_proof(row.idx, size, reader.subtree))
        return InclusionProof(
            licence_id=licence_id,
            index=row.idx,
            size=size,
            entry=row.entry,
            proof=proof,
            checkpoint=cosigned_note(session, size),
        )


def consistency_between(instance: Instance, old_size: int, new_size: int) -> tuple[bytes, ...]:
    """The consistency proof from ``old_size`` to ``new_size`` (``new_size`` at most the current size)."""
    with instance.sessions() as session:
        size = current_size(session)
        if not 0 <= new_size <= size:
            raise InvalidInput(f"to must be between 0 and the log size {size}", field="to")
        if not 0 <= old_size <= new_size:
            raise InvalidInput(f"from must be between 0 and to ({new_size})", field="from")
        reader = hash_reader(session, new_size, prefetch=(max(old_size - 1, 0),))
        return tuple(consistency_proof(old_size, new_size, reader.subtree))


def licence_receipt(instance: Instance, licence_id: str) -> TlogProof:
    """The licence's offline receipt: tlog-proof with the entry bytes as its extra data."""
    inclusion = inclusion_for_licence(instance, licence_id)
    parse_note(inclusion.checkpoint)  # never hand out a receipt whose checkpoint would not parse
    return TlogProof(
        index=inclusion.index, proof=inclusion.proof, checkpoint=inclusion.checkpoint, extra=inclusion.entry
    )
