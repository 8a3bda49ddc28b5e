"""key custody and tamper-evident audit: dual-control requests, pending keys, seal history, audit hash chain

Adds the hash-chain columns to audit_entries and chains the entries already there (in id order), the
rotation columns to seal_certificates (successor_of, superseded_at), and the tables key_requests,
pending_keys, seal_events, audit_chain_head and audit_checkpoints.

Revision ID: 0004_keys_audit
Revises: 0002_api_keys
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004_keys_audit"
down_revision = "0002_api_keys"
branch_labels = None
depends_on = None

GENESIS_HASH = "0" * 64


def _canonical_v1(row: sa.Row, seq: int) -> bytes:
    # A frozen copy of version 1 of the chain rules (seal_service.storage.keys_models.canonical_entry), so this
    # migration keeps producing the same hashes whatever later versions of the code do.
    at: datetime = row.at
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    details = row.details if row.details is not None else {}
    body = {
        "v": 1,
        "seq": seq,
        "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": row.actor,
        "action": row.action,
        "seal_id": row.seal_id,
        "licence_id": row.licence_id,
        "details": details,
        "note": row.note,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def upgrade() -> None:
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("entry_hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_audit_entries_seq"), ["seq"])

    with op.batch_alter_table("seal_certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("successor_of", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_seal_certificates_successor_of_seal_certificates"),
            "seal_certificates",
            ["successor_of"],
            ["id"],
        )

    op.create_table(
        "key_requests",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("seal_id", sa.String(length=64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=24), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=24), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_requests")),
    )
    with op.batch_alter_table("key_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_key_requests_seal_id"), ["seal_id"], unique=False)

    op.create_table(
        "pending_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seal_id", sa.String(length=64), nullable=False),
        sa.Column("key_ref", sa.String(length=300), nullable=False),
        sa.Column("public_key_sha256", sa.String(length=64), nullable=False),
        sa.Column("csr_pem", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=24), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["seal_certificates.id"],
            name=op.f("fk_pending_keys_certificate_id_seal_certificates"),
        ),
        sa.ForeignKeyConstraint(["seal_id"], ["seals.id"], name=op.f("fk_pending_keys_seal_id_seals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_keys")),
    )
    with op.batch_alter_table("pending_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pending_keys_seal_id"), ["seal_id"], unique=False)

    op.create_table(
        "seal_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seal_id", sa.String(length=64), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.Column("request_id", sa.String(length=24), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seal_events")),
    )
    with op.batch_alter_table("seal_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_seal_events_seal_id"), ["seal_id"], unique=False)

    head = op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed_data", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("certificate_serial", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
        sa.UniqueConstraint("seq", name=op.f("uq_audit_checkpoints_seq")),
    )

    # Chain the entries written before this migration, oldest first, and point the head at the last one.
    entries = sa.table(
        "audit_entries",
        sa.column("id", sa.Integer()),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("actor", sa.String()),
        sa.column("action", sa.String()),
        sa.column("seal_id", sa.String()),
        sa.column("licence_id", sa.String()),
        sa.column("details", sa.JSON()),
        sa.column("note", sa.Text()),
        sa.column("seq", sa.BigInteger()),
        sa.column("prev_hash", sa.String()),
        sa.column("entry_hash", sa.String()),
    )
    bind = op.get_bind()
    prev, seq = GENESIS_HASH, 0
    rows = bind.execute(sa.select(entries).order_by(entries.c.id)).all()
    for row in rows:
        seq += 1
        digest = hashlib.sha256(bytes.fromhex(prev) + _canonical_v1(row, seq)).hexdigest()
        bind.execute(
            sa.update(entries)
            .where(entries.c.id == row.id)
            .values(seq=seq, prev_hash=prev, entry_hash=digest, details=row.details if row.details is not None else {})
        )
        prev = digest
    op.bulk_insert(head, [{"id": 1, "last_seq": seq, "last_hash": prev}])


def downgrade() -> None:
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("seal_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_seal_events_seal_id"))
    op.drop_table("seal_events")
    with op.batch_alter_table("pending_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pending_keys_seal_id"))
    op.drop_table("pending_keys")
    with op.batch_alter_table("key_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_key_requests_seal_id"))
    op.drop_table("key_requests")
    with op.batch_alter_table("seal_certificates", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_seal_certificates_successor_of_seal_certificates"), type_="foreignkey")
        batch_op.drop_column("superseded_at")
        batch_op.drop_column("successor_of")
    with op.batch_alter_table("audit_entries", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_entries_seq"), type_="unique")
        batch_op.drop_column("entry_hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
