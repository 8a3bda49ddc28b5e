"""Database models of the issuance log (``seal_service.log``): pending entries, the sequenced entries, the tiles
of the Merkle tree, signed checkpoints, the log's keys, witnesses and their cosignatures.

A pending entry is written in the same transaction as the change it reports; the sequencer moves it into
``log_entries`` (and the tiles) under the lock of the single ``log_state`` row, deleting the pending row in the
same transaction, so an entry is never lost and never sequenced twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from seal_service.storage.models import Base, UtcDateTime

#: BIGINT on PostgreSQL; INTEGER on SQLite, where only ``INTEGER PRIMARY KEY`` autoincrements.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class LogPending(Base):
    """An entry written with its change, waiting for the sequencer."""

    __tablename__ = "log_pending"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    """Canonical entry bytes (verifier.log_entry)."""
    kind: Mapped[str] = mapped_column(String(20))
    licence_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LogEntryRecord(Base):
    """A sequenced entry: leaf ``idx`` of the tree."""

    __tablename__ = "log_entries"

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)
    kind: Mapped[str] = mapped_column(String(20))
    licence_id: Mapped[str | None] = mapped_column(String(40), nullable=True, index=True)
    sequenced_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LogTile(Base):
    """Hashes of one tile (C2SP tlog-tiles), up to 256 x 32 bytes; only ever grows, so every prefix is immutable."""

    __tablename__ = "log_tiles"

    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    n: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hashes: Mapped[bytes] = mapped_column(LargeBinary)


class LogState(Base):
    """The single row (id 1) the sequencer locks: current size, root and latest signed checkpoint."""

    __tablename__ = "log_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    checkpoint: Mapped[bytes] = mapped_column(LargeBinary)
    """The latest checkpoint note, signed by the log key (cosignatures are kept apart)."""
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LogCheckpoint(Base):
    """Every checkpoint the log signed, by tree size (a log signs one checkpoint per size)."""

    __tablename__ = "log_checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    note: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LogKey(Base):
    """An Ed25519 key of the log; the newest unretired one signs, all are published."""

    __tablename__ = "log_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    """Key name = log origin."""
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    key_ref: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class LogWitness(Base):
    """A department's witness key (C2SP tlog-cosignature, Ed25519 type 0x04)."""

    __tablename__ = "log_witnesses"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    department: Mapped[str] = mapped_column(String(64), index=True)
    vkey: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime())


class LogCosignature(Base):
    """A witness's cosignature line on the checkpoint of one tree size."""

    __tablename__ = "log_cosignatures"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    witness: Mapped[str] = mapped_column(String(200), primary_key=True)
    line: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
