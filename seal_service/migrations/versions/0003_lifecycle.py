"""seal lifecycle: handover memoranda, published CRLs, trust bundles

Revision ID: 0003_lifecycle
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_lifecycle"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "memoranda",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_code", sa.String(length=64), nullable=False),
        sa.Column("bureau_code", sa.String(length=64), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("item_codes", sa.JSON(), nullable=False),
        sa.Column("whole_department", sa.Boolean(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=120), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memoranda")),
    )
    with op.batch_alter_table("memoranda", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_memoranda_department_code"), ["department_code"], unique=False)
    op.create_table(
        "published_crls",
        sa.Column("issuer_role", sa.String(length=40), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("this_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("entries_sha256", sa.String(length=64), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("issuer_role", "number", name=op.f("pk_published_crls")),
    )
    op.create_table(
        "trust_bundles",
        sa.Column("version", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_update", sa.DateTime(timezone=True), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("document", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_trust_bundles")),
    )


def downgrade() -> None:
    op.drop_table("trust_bundles")
    op.drop_table("published_crls")
    with op.batch_alter_table("memoranda", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memoranda_department_code"))
    op.drop_table("memoranda")
