"""Database models of key custody: dual-control requests, pending keys, seal history, and the audit hash chain.

The audit log (``audit_entries``) is a hash chain: every entry commits to the one before it,

    entry_hash = SHA-256(prev_hash (32 bytes) || canonical JSON of the entry)

where the canonical JSON holds the entry's position ``seq`` and every field (see :func:`canonical_entry`). The
chain is extended in exactly one place, :func:`_chain_entry`, which runs for every ``AuditEntry`` inserted through
the ORM: it locks the single chain-head row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write lock,
taken up front by the writer sessions, serialises the same way), links the new entry to the head and moves the
head. So the chain cannot fork, whatever code adds the entry and however many sealings run at once, and the
unique ``seq`` column is a last guard. (One other writer follows the same rules through Core statements:
``services.audit.AuditBatch``, for archive renewal's batches: it locks the same head row at its first entry and
moves it before its transaction commits.)

Checkpoints (``audit_checkpoints``) are signatures of the service's audit key over (seq, entry hash, time): an
attacker with write access to the database can recompute hashes but cannot forge a checkpoint.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, LargeBinary, String, Text, event, select, update
from sqlalchemy.orm import Mapped, mapped_column

from seal_service.storage.models import AuditEntry, Base, UtcDateTime

#: ``prev_hash`` of the first entry.
GENESIS_HASH = "0" * 64
#: Version of the canonical form; part of every hashed entry so the rules can change without ambiguity.
CHAIN_VERSION = 1


class KeyRequestAction(StrEnum):
    """Key operations that need two security officers (one requests, another approves)."""

    GENERATE = "generate"
    """A new seal for an authority, with its first key and certificate."""
    ROTATE = "rotate"
    """A new key and certificate for an existing seal; the old certificate is superseded, not revoked."""
    REVOKE = "revoke"
    """Revoke every certificate of a seal (e.g. cessation of operation)."""
    COMPROMISE = "compromise"
    """The seal's key is compromised: revoke with reason keyCompromise and the invalidity date."""
    RETIRE_KEY = "retire-key"
    """Destroy the private key of a superseded or revoked certificate (the certificate keeps verifying)."""
    ROTATE_TSA = "rotate-tsa"
    """A new key and certificate for the time-stamp authority (``seal_id`` is ``tsa``); the old one stays published."""


class KeyRequestStatus(StrEnum):
    """Lifecycle of a dual-control request."""

    PENDING = "pending"
    EXECUTING = "executing"
    EXECUTED = "executed"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class KeyRequest(Base):
    """A key operation requested by one security officer, waiting for (or decided by) a second one."""

    __tablename__ = "key_requests"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    """Public id, ``REQ-`` and 12 hex digits."""
    action: Mapped[str] = mapped_column(String(20))
    seal_id: Mapped[str] = mapped_column(String(64), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Action parameters (reason, invalidity date, CSR mode, authority of a new seal); never a secret."""
    status: Mapped[str] = mapped_column(String(20), default=KeyRequestStatus.PENDING.value)
    requested_by: Mapped[str] = mapped_column(String(24))
    """API key id of the requesting officer."""
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(24), nullable=True)
    """API key id of the approving (or cancelling) officer."""
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)


class PendingKey(Base):
    """A seal key generated for rotation with an external CA: waiting for its certificate (``import-cert``)."""

    __tablename__ = "pending_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seal_id: Mapped[str] = mapped_column(ForeignKey("seals.id"), index=True)
    key_ref: Mapped[str] = mapped_column(String(300))
    public_key_sha256: Mapped[str] = mapped_column(String(64))
    """SHA-256 of the DER SubjectPublicKeyInfo; an imported certificate must carry exactly this key."""
    csr_pem: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(24), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    """pending, imported or abandoned."""
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("seal_certificates.id"), nullable=True)


class SealEvent(Base):
    """One step in a seal's history: key generated, certificate issued, rotated, superseded, revoked...

    The trust bundle and auditors read it (``seal_service.services.rotation.seal_history``).
    """

    __tablename__ = "seal_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seal_id: Mapped[str] = mapped_column(String(64), index=True)
    certificate_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    event: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    actor: Mapped[str] = mapped_column(String(120))
    request_id: Mapped[str | None] = mapped_column(String(24), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class AuditChainHead(Base):
    """The single row naming the last entry of the audit chain; appends lock it."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)


class AuditCheckpoint(Base):
    """A signature of the service's audit key over the chain head at one moment."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    entry_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UtcDateTime())
    signed_data: Mapped[bytes] = mapped_column(LargeBinary)
    """Exactly the bytes signed (canonical JSON of seq, hash, time)."""
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    certificate_serial: Mapped[str] = mapped_column(String(64))
    """Serial (hex) of the audit certificate whose key signed."""


# ---- Hash chain rules -------------------------------------------------------------------------------------


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("audit entry time must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: object) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def canonical_entry(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    seal_id: str | None,
    licence_id: str | None,
    details: object,
    note: str | None,
) -> bytes:
    """The bytes of one entry that its hash commits to."""
    return canonical_json(
        {
            "v": CHAIN_VERSION,
            "seq": seq,
            "at": _iso(at),
            "actor": actor,
            "action": action,
            "seal_id": seal_id,
            "licence_id": licence_id,
            "details": details,
            "note": note,
        }
    )


def chain_hash(prev_hash: str, canonical: bytes) -> str:
    """``SHA-256(prev_hash || canonical)`` in lower-case hex."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical).hexdigest()


def entry_hash_of(entry: AuditEntry, prev_hash: str) -> str:
    """The hash ``entry`` must carry when it follows an entry whose hash is ``prev_hash``."""
    assert entry.seq is not None
    return chain_hash(
        prev_hash,
        canonical_entry(
            seq=entry.seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            seal_id=entry.seal_id,
            licence_id=entry.licence_id,
            details=entry.details,
            note=entry.note,
        ),
    )


@event.listens_for(AuditEntry, "before_insert")
def _chain_entry(_mapper: Any, connection: Any, target: AuditEntry) -> None:
    """Link a new entry to the chain head and move the head (runs inside the inserting transaction)."""
    if target.seq is not None:
        raise ValueError("audit entries are positioned by the chain; do not set seq")
    # What is stored must be exactly what is hashed: normalise details through canonical JSON first.
    target.details = json.loads(canonical_json(target.details if target.details is not None else {}))
    head_table = AuditChainHead.__table__
    head = connection.execute(
        select(head_table.c.last_seq, head_table.c.last_hash).where(head_table.c.id == 1).with_for_update()
    ).first()
    if head is None:
        connection.execute(head_table.insert().values(id=1, last_seq=0, last_hash=GENESIS_HASH))
        last_seq, last_hash = 0, GENESIS_HASH
    else:
        last_seq, last_hash = int(head.last_seq), str(head.last_hash)
    target.seq = last_seq + 1
    target.prev_hash = last_hash
    target.entry_hash = entry_hash_of(target, last_hash)
    connection.execute(
        update(head_table).where(head_table.c.id == 1).values(last_seq=target.seq, last_hash=target.entry_hash)
    )
