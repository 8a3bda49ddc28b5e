"""public face: licence numbers unique across the instance, register indexes, complaints

- ``licence_number_counters``: licence numbers are drawn per jurisdiction and year (not per authority), so the
  bureau and a department of one jurisdiction can no longer both issue ``140500-20260000001``. Each counter starts
  after the highest serial any authority of the jurisdiction has used that year, so new numbers never meet old ones.
- Duplicates already issued are fixed and flagged: the earliest licence keeps the number; each later one gets the
  number with a suffix (``-2``, ``-3``...) and a row in ``licence_number_changes`` that keeps the number printed on
  its PDF. Then ``licences.number`` gets a unique index.
- Indexes for every filter of the public register (item, authority, status, issue date, holder code, holder name
  prefix), each with the register's order (sealed_at, id) where it filters.
- ``complaints``: complaints filed by the public, with their routing and answer.

Revision ID: 0005_public
Revises: 0004_keys_audit
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005_public"
down_revision = "0004_keys_audit"
branch_labels = None
depends_on = None


def _fix_duplicate_numbers(bind: sa.engine.Connection) -> None:
    licences = sa.table(
        "licences", sa.column("id", sa.String), sa.column("number", sa.String), sa.column("sealed_at", sa.DateTime)
    )
    changes = sa.table(
        "licence_number_changes",
        sa.column("licence_id", sa.String),
        sa.column("printed_number", sa.String),
        sa.column("number", sa.String),
        sa.column("kept_by", sa.String),
        sa.column("changed_at", sa.DateTime(timezone=True)),
    )
    duplicated = bind.execute(
        sa.select(licences.c.number).group_by(licences.c.number).having(sa.func.count() > 1)
    ).scalars()
    now = datetime.now(UTC)
    for number in list(duplicated):
        rows = bind.execute(
            sa.select(licences.c.id).where(licences.c.number == number).order_by(licences.c.sealed_at, licences.c.id)
        ).scalars()
        kept, *later = list(rows)
        suffix = 2
        for licence_id in later:
            while True:
                candidate = f"{number}-{suffix}"
                suffix += 1
                taken = bind.execute(sa.select(licences.c.id).where(licences.c.number == candidate)).first()
                if taken is None and len(candidate) <= 100:
                    break
            bind.execute(sa.update(licences).where(licences.c.id == licence_id).values(number=candidate))
            bind.execute(
                sa.insert(changes).values(
                    licence_id=licence_id, printed_number=number, number=candidate, kept_by=kept, changed_at=now
                )
            )


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "licence_number_counters",
        sa.Column("jurisdiction_code", sa.String(6), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("jurisdiction_code", "year", name="pk_licence_number_counters"),
    )
    # Start each jurisdiction's counter after every serial its authorities have used (the old numbers were
    # "<jurisdiction>-<year><serial>" with per-authority serials).
    bind.execute(
        sa.text(
            "INSERT INTO licence_number_counters (jurisdiction_code, year, last_value) "
            "SELECT a.jurisdiction_code, s.year, MAX(s.last_value) FROM serial_counters s "
            "JOIN authorities a ON a.id = s.authority_id GROUP BY a.jurisdiction_code, s.year"
        )
    )
    op.create_table(
        "licence_number_changes",
        sa.Column(
            "licence_id",
            sa.String(40),
            sa.ForeignKey("licences.id", name="fk_licence_number_changes_licence_id_licences"),
            nullable=False,
        ),
        sa.Column("printed_number", sa.String(100), nullable=False),
        sa.Column("number", sa.String(100), nullable=False),
        sa.Column("kept_by", sa.String(40), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("licence_id", name="pk_licence_number_changes"),
    )
    op.create_index("ix_licence_number_changes_printed_number", "licence_number_changes", ["printed_number"])
    _fix_duplicate_numbers(bind)
    op.create_index("uq_licences_number", "licences", ["number"], unique=True)
    # The register's order is (sealed_at DESC, id DESC); each filter has an index that also serves that order.
    op.create_index("ix_licences_sealed_at_id", "licences", ["sealed_at", "id"])
    op.create_index("ix_licences_item_sealed", "licences", ["item_code", "sealed_at", "id"])
    op.create_index("ix_licences_authority_sealed", "licences", ["authority_id", "sealed_at", "id"])
    op.create_index("ix_licences_status_sealed", "licences", ["status", "sealed_at", "id"])
    op.create_index("ix_licences_issue_date", "licences", ["issue_date", "sealed_at", "id"])
    op.create_index("ix_licences_holder_code", "licences", ["holder_code"])
    # Prefix search (LIKE 'abc%') uses a b-tree only with the pattern operator class on PostgreSQL.
    op.create_index(
        "ix_licences_holder_name_prefix",
        "licences",
        ["holder_name"],
        postgresql_ops={"holder_name": "text_pattern_ops"},
    )
    op.create_table(
        "complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("receipt", sa.String(20), nullable=False),
        sa.Column("category", sa.String(20), nullable=False),
        sa.Column("licence_id", sa.String(40), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("contact", sa.String(200), nullable=True),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("routed_to", sa.String(64), nullable=False),
        sa.Column("route", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.String(120), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_complaints"),
        sa.UniqueConstraint("receipt", name="uq_complaints_receipt"),
    )
    op.create_index("ix_complaints_routed", "complaints", ["routed_to", "status", "filed_at"])


def downgrade() -> None:
    op.drop_index("ix_complaints_routed", table_name="complaints")
    op.drop_table("complaints")
    for name in (
        "ix_licences_holder_name_prefix",
        "ix_licences_holder_code",
        "ix_licences_issue_date",
        "ix_licences_status_sealed",
        "ix_licences_authority_sealed",
        "ix_licences_item_sealed",
        "ix_licences_sealed_at_id",
        "uq_licences_number",
    ):
        op.drop_index(name, table_name="licences")
    op.drop_index("ix_licence_number_changes_printed_number", table_name="licence_number_changes")
    op.drop_table("licence_number_changes")
    op.drop_table("licence_number_counters")
