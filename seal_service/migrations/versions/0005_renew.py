"""archive renewal: licence_versions (renewed PDFs) and retired_tsa_certificates (TSA rotation history)

Existing licences stay version 1 (their bytes in licence_documents); nothing is copied.

Revision ID: 0005_renew
Revises: 0004_keys_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_renew"
down_revision = "0004_keys_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "licence_versions",
        sa.Column("licence_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verifiable_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tsa_serial", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["licence_id"], ["licences.id"], name=op.f("fk_licence_versions_licence_id_licences")),
        sa.PrimaryKeyConstraint("licence_id", "version", name=op.f("pk_licence_versions")),
    )
    op.create_table(
        "retired_tsa_certificates",
        sa.Column("serial_number", sa.String(length=64), nullable=False),
        sa.Column("certificate_der", sa.LargeBinary(), nullable=False),
        sa.Column("key_ref", sa.String(length=300), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("successor_serial", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("serial_number", name=op.f("pk_retired_tsa_certificates")),
    )


def downgrade() -> None:
    op.drop_table("retired_tsa_certificates")
    op.drop_table("licence_versions")
