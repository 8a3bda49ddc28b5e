"""public face: rate-limit counters shared by every API process and node

``public_rate_counts``: one row per (bucket, client, window start) with the number of requests counted in that
fixed window. The limit is checked by one atomic upsert-increment (``INSERT ... ON CONFLICT DO UPDATE ...
RETURNING``), so N processes or N nodes over one database share one limit per client address. ``expires_at``
(the window's end, epoch seconds) is indexed so expired rows are pruned by a cheap range delete.

Revision ID: 0006_public_limits
Revises: 0004_keys_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_public_limits"
down_revision = "0004_keys_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "public_rate_counts",
        sa.Column("bucket", sa.String(20), primary_key=True),
        sa.Column("client", sa.String(64), primary_key=True),
        sa.Column("window_start", sa.BigInteger, primary_key=True),
        sa.Column("hits", sa.Integer, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_public_rate_counts_expires_at", "public_rate_counts", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_public_rate_counts_expires_at", table_name="public_rate_counts")
    op.drop_table("public_rate_counts")
