"""national cryptography: SM2 PKI, seal SM2 material with SES_Seal data, licences carrying an SES_Signature

Revision ID: 0005_gm
Revises: 0004_keys_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_gm"
down_revision = "0004_keys_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gm_pki_certificates",
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("certificate_der", sa.LargeBinary(), nullable=False),
        sa.Column("key_ref", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("role", name=op.f("pk_gm_pki_certificates")),
    )
    op.create_table(
        "gm_seal_materials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seal_id", sa.String(length=64), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("certificate_der", sa.LargeBinary(), nullable=False),
        sa.Column("key_ref", sa.String(length=300), nullable=False),
        sa.Column("ses_seal_der", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["seal_id"], ["seals.id"], name=op.f("fk_gm_seal_materials_seal_id_seals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gm_seal_materials")),
    )
    op.create_index(op.f("ix_gm_seal_materials_seal_id"), "gm_seal_materials", ["seal_id"])
    op.create_table(
        "gm_licence_seals",
        sa.Column("licence_id", sa.String(length=40), nullable=False),
        sa.Column("material_id", sa.Integer(), nullable=False),
        sa.Column("ses_signature_sm3", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["licence_id"], ["licences.id"], name=op.f("fk_gm_licence_seals_licence_id_licences")),
        sa.ForeignKeyConstraint(
            ["material_id"], ["gm_seal_materials.id"], name=op.f("fk_gm_licence_seals_material_id_gm_seal_materials")
        ),
        sa.PrimaryKeyConstraint("licence_id", name=op.f("pk_gm_licence_seals")),
    )


def downgrade() -> None:
    op.drop_table("gm_licence_seals")
    op.drop_index(op.f("ix_gm_seal_materials_seal_id"), table_name="gm_seal_materials")
    op.drop_table("gm_seal_materials")
    op.drop_table("gm_pki_certificates")
