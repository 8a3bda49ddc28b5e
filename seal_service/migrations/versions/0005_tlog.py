"""issuance log: pending and sequenced entries, tiles, checkpoints, log keys, witnesses, cosignatures;
licences.log_index

Revision ID: 0005_tlog
Revises: 0004_keys_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_tlog"
down_revision = "0004_keys_audit"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the log tables and the licence's log index."""
    op.create_table(
        "log_pending",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("licence_id", sa.String(40), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_log_pending"),
    )
    op.create_table(
        "log_entries",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("licence_id", sa.String(40), nullable=True),
        sa.Column("sequenced_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("idx", name="pk_log_entries"),
    )
    op.create_index("ix_log_entries_licence_id", "log_entries", ["licence_id"])
    op.create_table(
        "log_tiles",
        sa.Column("level", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("n", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("level", "n", name="pk_log_tiles"),
    )
    op.create_table(
        "log_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("checkpoint", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_log_state"),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("note", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("size", name="pk_log_checkpoints"),
    )
    op.create_table(
        "log_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("key_ref", sa.String(300), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("retired_at", _time(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_log_keys"),
    )
    op.create_table(
        "log_witnesses",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("department", sa.String(64), nullable=False),
        sa.Column("vkey", sa.Text(), nullable=False),
        sa.Column("added_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_log_witnesses"),
    )
    op.create_index("ix_log_witnesses_department", "log_witnesses", ["department"])
    op.create_table(
        "log_cosignatures",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("witness", sa.String(200), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("size", "witness", name="pk_log_cosignatures"),
    )
    with op.batch_alter_table("licences") as batch:
        batch.add_column(sa.Column("log_index", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Drop the log tables and the licence's log index."""
    with op.batch_alter_table("licences") as batch:
        batch.drop_column("log_index")
    for table in (
        "log_cosignatures",
        "log_witnesses",
        "log_keys",
        "log_checkpoints",
        "log_state",
        "log_tiles",
        "log_entries",
        "log_pending",
    ):
        op.drop_table(table)
