"""recoverable idempotency claims: who holds a claim and until when

Adds ``holder`` (the process that claimed the key: host, process id and start time) and ``lease_until`` to
idempotency_records. A claim whose holder is gone (a dead process on this host) or whose lease has run out may be
taken over by a retry; claims made before this revision have neither and count as expired.

Revision ID: 0005_crash
Revises: 0004_keys_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_crash"
down_revision = "0004_keys_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_records") as batch:
        batch.add_column(sa.Column("holder", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("idempotency_records") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("holder")
