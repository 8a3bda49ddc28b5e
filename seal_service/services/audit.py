"""The tamper-evident audit log: record an event, verify the chain, sign checkpoints, export for auditors.

Example::

    >>> with instance.writer.begin() as session:
    ...     record(session, at=now, actor="security-officer:k1a2b3c4d5e6", action="seal.rotate",
    ...            seal_id="jc-bureau-approval", details={"certificate_serial": "5f1c..."})   # doctest: +SKIP
    >>> checkpoint(instance, at=now)                                                         # doctest: +SKIP
    >>> verify_log(instance).entries                                                         # doctest: +SKIP

Every admin action and every use of a seal is one entry. Entries are hash-chained (rules and the one place the
chain is extended: :mod:`seal_service.storage.keys_models`), so changing, deleting, inserting or reordering an
entry breaks the chain at that entry; checkpoints signed with the service's audit key (a dedicated certificate
issued by the root) make even a full rewrite of the chain by someone with database access detectable.

Entries never carry secrets or full personal data: a seal use names the seal, the item, the licence identifier
and the document hash, never the holder's name or ID number.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from seal_service.errors import AuditLogBroken, InvalidInput
from seal_service.storage.keys_models import (
    GENESIS_HASH,
    AuditChainHead,
    AuditCheckpoint,
    canonical_entry,
    canonical_json,
    chain_hash,
    entry_hash_of,
)
from seal_service.storage.models import AuditEntry

log = logging.getLogger(__name__)

#: Entries read per round trip while verifying or exporting.
_BATCH = 2000


def record(
    session: Session,
    *,
    at: datetime,
    actor: str,
    action: str,
    seal_id: str | None = None,
    licence_id: str | None = None,
    details: dict[str, Any] | None = None,
    note: str | None = None,
) -> AuditEntry:
    """Append one entry to the audit log inside the caller's transaction; returns it with its chain position.

    Call it last in a transaction: appending locks the chain head until the transaction ends, which is what keeps
    concurrent appends in one line. ``details`` must be JSON (no secrets, no personal data).
    """
    if at.tzinfo is None:
        raise InvalidInput("audit time must be timezone-aware")
    entry = AuditEntry(
        at=at,
        actor=actor,
        action=action,
        seal_id=seal_id,
        licence_id=licence_id,
        details=dict(details or {}),
        note=note,
    )
    session.add(entry)
    session.flush()
    return entry


class AuditBatch:
    """Audit entries of one transaction appended through prebuilt Core statements, the chain head read (and
    locked) once at the first entry and moved once, by :meth:`close`, before the caller commits.

    The same chain as :func:`record` (the same head row, ``seq``, ``prev_hash`` and ``entry_hash`` by the same rules,
    details normalised through the same canonical JSON), without an ORM object and flush per entry: archive
    renewal appends one entry per licence, up to a batch of them in one transaction. Use it only where nothing
    else in the transaction appends through :func:`record` (the head row is moved at :meth:`close` only).

    Savepoints: take :meth:`mark` before a savepoint and :meth:`reset` to it when the savepoint is rolled back, so
    the entries rolled back leave no gap in the chain.

    Example::

        >>> batch = AuditBatch(session)                                                 # doctest: +SKIP
        >>> batch.append(at=now, actor="archive-renewal", action="licence.renew", licence_id=..., details={...})
        >>> batch.close()          # before the commit                                   # doctest: +SKIP
    """

    def __init__(self, session: Session) -> None:
        self._session = session
        self._head: tuple[int, str] | None = None
        self._read: tuple[int, str] | None = None

    def mark(self) -> tuple[int, str] | None:
        """The chain position now (for :meth:`reset`)."""
        return self._head

    def reset(self, mark: tuple[int, str] | None) -> None:
        """Back to ``mark``: the entries appended since were rolled back with their savepoint. When the head was
        first read inside that savepoint, its lock (and a head row it inserted) went with it: read it again."""
        self._head = mark
        if mark is None:
            self._read = None

    def append(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        seal_id: str | None = None,
        licence_id: str | None = None,
        details: dict[str, Any] | None = None,
        note: str | None = None,
    ) -> int:
        """:func:`record` through Core; returns the entry's ``seq``."""
        return self.append_many(
            [
                {
                    "at": at,
                    "actor": actor,
                    "action": action,
                    "seal_id": seal_id,
                    "licence_id": licence_id,
                    "details": details,
                    "note": note,
                }
            ]
        )[0]

    def append_many(self, entries: Sequence[Mapping[str, Any]]) -> list[int]:
        """:meth:`append` for several entries, in order, written by one statement (executemany); returns their
        ``seq``. Each of ``entries`` has :meth:`append`'s keyword arguments (``at``, ``actor``, ``action`` required).
        The chain (each entry's ``prev_hash`` and ``entry_hash``) is computed here, in order, before the write."""
        for entry in entries:
            if entry["at"].tzinfo is None:
                raise InvalidInput("audit time must be timezone-aware")
        if not entries:
            return []
        connection = self._session.connection()
        if self._head is None:
            row = connection.execute(_LOCK_HEAD).first()
            if row is None:
                connection.execute(_INSERT_HEAD, {"id": 1, "last_seq": 0, "last_hash": GENESIS_HASH})
                self._read = (0, GENESIS_HASH)
            else:
                self._read = (int(row.last_seq), str(row.last_hash))
            self._head = self._read
        last_seq, last_hash = self._head
        rows: list[dict[str, Any]] = []
        for entry in entries:
            details = entry.get("details")
            stored = json.loads(canonical_json(details if details is not None else {}))
            seq = last_seq + 1
            fields = {
                "at": entry["at"],
                "actor": entry["actor"],
                "action": entry["action"],
                "seal_id": entry.get("seal_id"),
                "licence_id": entry.get("licence_id"),
                "note": entry.get("note"),
            }
            entry_hash = chain_hash(last_hash, canonical_entry(seq=seq, details=stored, **fields))
            rows.append({**fields, "details": stored, "seq": seq, "prev_hash": last_hash, "entry_hash": entry_hash})
            last_seq, last_hash = seq, entry_hash
        connection.execute(_INSERT_ENTRY, rows[0] if len(rows) == 1 else rows)
        self._head = (last_seq, last_hash)
        return [row["seq"] for row in rows]

    def close(self) -> None:
        """Move the chain head to the last entry appended (nothing when none was, or all were rolled back)."""
        if self._head is not None and self._head != self._read:
            self._session.connection().execute(_MOVE_HEAD, {"last_seq": self._head[0], "last_hash": self._head[1]})
            self._read = self._head


_HEAD = cast(Table, AuditChainHead.__table__)
_LOCK_HEAD = select(_HEAD.c.last_seq, _HEAD.c.last_hash).where(_HEAD.c.id == 1).with_for_update()
_INSERT_HEAD = _HEAD.insert()
_MOVE_HEAD = _HEAD.update().where(_HEAD.c.id == 1)
_INSERT_ENTRY = cast(Table, AuditEntry.__table__).insert()


# ---- verification -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditProblem:
    """One finding of :func:`verify_log`."""

    seq: int | None
    """Position in the chain where the problem shows (None for an entry outside the chain)."""
    entry_id: int | None
    """Database id of the entry concerned, when there is one."""
    kind: str
    """modified, missing, out-of-order, outside-chain, truncated, checkpoint."""
    message: str


@dataclass(frozen=True)
class AuditReport:
    """What :func:`verify_log` checked, when the log is intact."""

    entries: int
    last_seq: int
    last_hash: str
    checkpoints: int
    """Signed checkpoints whose signature and entry hash were verified."""
    last_checkpoint_seq: int | None
    last_checkpoint_at: datetime | None


def _verify_signature(cert: x509.Certificate, signature: bytes, data: bytes) -> None:
    public = cert.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    elif isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
    else:
        raise InvalidSignature("unsupported audit key type")


def _sign(key: Any, data: bytes) -> bytes:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(data, ec.ECDSA(hashes.SHA256()))
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def _checkpoint_problems(
    instance: Any, session: Session
) -> tuple[dict[int, tuple[AuditCheckpoint, str]], list[AuditProblem]]:
    """Checkpoints with a valid signature (by seq: row, signed hash) and problems with the others."""
    from seal_service.instance import PkiRole

    problems: list[AuditProblem] = []
    good: dict[int, tuple[AuditCheckpoint, str]] = {}
    rows = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).all()
    if not rows:
        return good, problems
    cert = instance.pki.certificate(PkiRole.AUDIT)
    # (1) the audit certificate is the root's.
    cert.verify_directly_issued_by(instance.pki.certificate(PkiRole.ROOT))
    serial = format(cert.serial_number, "x")
    for row in rows:
        # (2) the checkpoint is signed by the audit key, and (3) its columns say what was signed.
        try:
            if row.certificate_serial != serial:
                raise InvalidSignature("signed by another certificate")
            _verify_signature(cert, row.signature, row.signed_data)
            signed = json.loads(row.signed_data)
            if signed.get("seq") != row.seq or signed.get("entry_hash") != row.entry_hash:
                raise InvalidSignature("columns differ from the signed data")
        except (InvalidSignature, ValueError) as exc:
            problems.append(
                AuditProblem(row.seq, None, "checkpoint", f"checkpoint {row.id} at entry {row.seq} is not valid: {exc}")
            )
            continue
        good[row.seq] = (row, str(signed["entry_hash"]))
    return good, problems


def find_problems(instance: Any) -> tuple[list[AuditProblem], AuditReport]:
    """Walk the whole chain and the checkpoints; every problem found, and what was checked."""
    problems: list[AuditProblem] = []
    with instance.sessions() as session:
        checkpoints, cp_problems = _checkpoint_problems(instance, session)
        problems += cp_problems
        # (4) entries outside the chain: inserted without going through the chain (or with seq wiped).
        for entry_id in session.scalars(select(AuditEntry.id).where(AuditEntry.seq.is_(None)).order_by(AuditEntry.id)):
            problems.append(
                AuditProblem(None, entry_id, "outside-chain", f"entry id {entry_id} is not in the chain (inserted?)")
            )
        head = session.get(AuditChainHead, 1)
        # (5) every entry in order: no gap, linked to its predecessor, its hash matches its content.
        expected_seq, prev_hash, count, last_seq = 1, GENESIS_HASH, 0, 0
        stmt = select(AuditEntry).where(AuditEntry.seq.is_not(None)).order_by(AuditEntry.seq)
        for entry in session.scalars(stmt.execution_options(yield_per=_BATCH)):
            assert entry.seq is not None
            count += 1
            if entry.seq != expected_seq:
                missing = (
                    f"entry {expected_seq} is missing (deleted?)"
                    if entry.seq == expected_seq + 1
                    else f"entries {expected_seq} to {entry.seq - 1} are missing (deleted?)"
                )
                problems.append(AuditProblem(expected_seq, None, "missing", missing))
            elif entry.prev_hash != prev_hash:
                problems.append(
                    AuditProblem(
                        entry.seq,
                        entry.id,
                        "out-of-order",
                        f"entry {entry.seq} (id {entry.id}) does not follow entry {entry.seq - 1}: "
                        "inserted or reordered",
                    )
                )
            if entry.entry_hash != entry_hash_of(entry, entry.prev_hash or GENESIS_HASH):
                problems.append(
                    AuditProblem(
                        entry.seq,
                        entry.id,
                        "modified",
                        f"entry {entry.seq} (id {entry.id}, {entry.action}) was modified: its hash does not match",
                    )
                )
            signed = checkpoints.get(entry.seq)
            if signed is not None and signed[1] != entry.entry_hash:
                problems.append(
                    AuditProblem(
                        entry.seq,
                        entry.id,
                        "checkpoint",
                        f"entry {entry.seq} differs from the one signed in checkpoint {signed[0].id} "
                        f"({signed[0].at.isoformat()}): the log was rewritten",
                    )
                )
            prev_hash = entry.entry_hash or ""
            expected_seq = entry.seq + 1
            last_seq = entry.seq
        # (6) nothing cut off the end: the head and every checkpoint are within the log.
        if head is not None and (head.last_seq != last_seq or (last_seq and head.last_hash != prev_hash)):
            problems.append(
                AuditProblem(
                    head.last_seq,
                    None,
                    "truncated",
                    f"the chain head names entry {head.last_seq} but the log ends at entry {last_seq} (deleted?)",
                )
            )
        beyond = [seq for seq in checkpoints if seq > last_seq]
        if beyond:
            problems.append(
                AuditProblem(
                    max(beyond),
                    None,
                    "truncated",
                    f"a signed checkpoint covers entry {max(beyond)} but the log ends at entry {last_seq}",
                )
            )
        last_cp = max(checkpoints) if checkpoints else None
        report = AuditReport(
            entries=count,
            last_seq=last_seq,
            last_hash=prev_hash if count else GENESIS_HASH,
            checkpoints=len(checkpoints),
            last_checkpoint_seq=last_cp,
            last_checkpoint_at=checkpoints[last_cp][0].at if last_cp is not None else None,
        )
    return problems, report


def verify_log(instance: Any) -> AuditReport:
    """Verify the whole audit log or raise :class:`~seal_service.errors.AuditLogBroken` naming each bad entry."""
    problems, report = find_problems(instance)
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise AuditLogBroken(f"audit log broken: {first.message}{more}", problems=list(problems))
    return report


# ---- checkpoints --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointView:
    """A signed checkpoint."""

    id: int
    seq: int
    entry_hash: str
    at: datetime
    certificate_serial: str
    created: bool
    """False when the head was already checkpointed (nothing new to sign)."""


def checkpoint(instance: Any, *, at: datetime) -> CheckpointView:
    """Sign the current head of the log (seq, hash, time) with the audit key; idempotent for an unchanged head."""
    from seal_service.instance import PkiRole

    if at.tzinfo is None:
        raise InvalidInput("checkpoint time must be timezone-aware")
    cert = instance.pki.certificate(PkiRole.AUDIT)
    key = instance.pki.key(PkiRole.AUDIT)
    serial = format(cert.serial_number, "x")
    with instance.writer.begin() as session:
        # Lock the head so that the signed (seq, hash) is the head at commit time.
        head = session.scalar(select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update())
        seq = head.last_seq if head is not None else 0
        entry_hash = head.last_hash if head is not None else GENESIS_HASH
        existing = session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.seq == seq))
        if existing is not None:
            return CheckpointView(
                existing.id, existing.seq, existing.entry_hash, existing.at, existing.certificate_serial, False
            )
        data = canonical_json({"v": 1, "seq": seq, "entry_hash": entry_hash, "at": at.isoformat()})
        row = AuditCheckpoint(
            seq=seq,
            entry_hash=entry_hash,
            at=at,
            signed_data=data,
            signature=_sign(key, data),
            certificate_serial=serial,
        )
        session.add(row)
        session.flush()
        view = CheckpointView(row.id, seq, entry_hash, at, serial, True)
    _last_checkpointed[instance] = seq
    return view


_last_checkpointed: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
_checkpointing: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_schedule_lock = threading.Lock()


def checkpoint_if_due(instance: Any, seq: int | None, *, at: datetime) -> CheckpointView | None:
    """Sign a checkpoint when ``seq`` is ``SEAL_AUDIT_CHECKPOINT_EVERY`` entries past the last one.

    Called after a sealing commits; never raises (the licence is already issued): a failure is logged and the
    next call tries again. Costs nothing unless a checkpoint is due.
    """
    if seq is None:
        return None
    every = instance.settings.audit_checkpoint_every
    try:
        last = _last_checkpointed.get(instance)
        if last is None:
            with instance.sessions() as session:
                last = int(session.scalar(select(func.coalesce(func.max(AuditCheckpoint.seq), 0))) or 0)
            _last_checkpointed[instance] = last
        if seq - last < every:
            return None
        with _schedule_lock:
            lock = _checkpointing.setdefault(instance, threading.Lock())
        if not lock.acquire(blocking=False):
            return None  # another thread is signing one right now
        try:
            return checkpoint(instance, at=at)
        finally:
            lock.release()
    except Exception:
        log.exception("audit checkpoint failed; will retry after the next entry")
        return None


def list_checkpoints(instance: Any) -> list[CheckpointView]:
    """Every checkpoint, oldest first."""
    with instance.sessions() as session:
        rows = session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).all()
        return [CheckpointView(r.id, r.seq, r.entry_hash, r.at, r.certificate_serial, False) for r in rows]


# ---- export -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRecord:
    """One exported entry, with what an auditor needs to re-check its place in the chain."""

    seq: int | None
    id: int
    at: datetime
    actor: str
    action: str
    seal_id: str | None
    licence_id: str | None
    details: dict[str, Any]
    note: str | None
    prev_hash: str | None
    entry_hash: str | None


def export_entries(
    instance: Any,
    *,
    seal_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    action: str | None = None,
    limit: int | None = None,
) -> list[AuditRecord]:
    """Entries in chain order, filtered by seal, action prefix and time range ``[start, end)``."""
    for name, value in (("from", start), ("to", end)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput(f"'{name}' must be a timezone-aware time", field=name)
    stmt = select(AuditEntry).order_by(AuditEntry.seq, AuditEntry.id)
    if seal_id is not None:
        stmt = stmt.where(AuditEntry.seal_id == seal_id)
    if start is not None:
        stmt = stmt.where(AuditEntry.at >= start)
    if end is not None:
        stmt = stmt.where(AuditEntry.at < end)
    if action is not None:
        stmt = stmt.where(AuditEntry.action.startswith(action))
    if limit is not None:
        stmt = stmt.limit(limit)
    with instance.sessions() as session:
        return [
            AuditRecord(
                seq=e.seq,
                id=e.id,
                at=e.at,
                actor=e.actor,
                action=e.action,
                seal_id=e.seal_id,
                licence_id=e.licence_id,
                details=dict(e.details or {}),
                note=e.note,
                prev_hash=e.prev_hash,
                entry_hash=e.entry_hash,
            )
            for e in session.scalars(stmt.execution_options(yield_per=_BATCH))
        ]


EXPORT_FIELDS = [
    "seq",
    "id",
    "at",
    "actor",
    "action",
    "seal_id",
    "licence_id",
    "details",
    "note",
    "prev_hash",
    "entry_hash",
]


def render_export(records: list[AuditRecord], fmt: str) -> str:
    """``json`` (an array) or ``csv`` (details as a JSON column) text of exported entries."""
    if fmt == "json":
        rows = [{**asdict(r), "at": r.at.isoformat()} for r in records]
        return json.dumps(rows, ensure_ascii=False, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        for r in records:
            row = asdict(r)
            row["at"] = r.at.isoformat()
            row["details"] = json.dumps(r.details, ensure_ascii=False, sort_keys=True)
            writer.writerow(row)
        return out.getvalue()
    raise InvalidInput(f"unknown export format {fmt!r}; use json or csv", field="format")
