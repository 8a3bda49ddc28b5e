"""supervision link: event outbox and routes, webhook/broker receivers, dead letters, findings

Revision ID: 0005_supervision
Revises: 0004_keys_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_supervision"
down_revision = "0004_keys_audit"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "supervision_event_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_event_head")),
    )
    # The one head row exists from the start, so concurrent first events only ever UPDATE it (row lock).
    head = sa.table("supervision_event_head", sa.column("id", sa.Integer()), sa.column("last_seq", sa.BigInteger()))
    op.bulk_insert(head, [{"id": 1, "last_seq": 0}])
    op.create_table(
        "supervision_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=True),
        sa.Column("time", TZ, nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_supervision_events")),
        sa.UniqueConstraint("id", name=op.f("uq_supervision_events_id")),
    )
    op.create_index(op.f("ix_supervision_events_subject"), "supervision_events", ["subject"], unique=False)
    op.create_table(
        "supervision_event_routes",
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["seq"], ["supervision_events.seq"], name=op.f("fk_supervision_event_routes_seq_supervision_events")
        ),
        sa.PrimaryKeyConstraint("department", "seq", name=op.f("pk_supervision_event_routes")),
    )
    op.create_table(
        "event_receivers",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.String(length=500), nullable=True),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("failing_since", TZ, nullable=True),
        sa.Column("next_attempt_at", TZ, nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("delivered", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(length=80), nullable=True),
        sa.Column("lease_until", TZ, nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_receivers")),
    )
    op.create_index(op.f("ix_event_receivers_department"), "event_receivers", ["department"], unique=False)
    op.create_table(
        "event_dead_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("receiver_id", sa.String(length=24), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["receiver_id"], ["event_receivers.id"], name=op.f("fk_event_dead_letters_receiver_id_event_receivers")
        ),
        sa.ForeignKeyConstraint(
            ["seq"], ["supervision_events.seq"], name=op.f("fk_event_dead_letters_seq_supervision_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_dead_letters")),
    )
    op.create_index(op.f("ix_event_dead_letters_receiver_id"), "event_dead_letters", ["receiver_id"], unique=False)
    op.create_table(
        "supervision_findings",
        sa.Column("id", sa.String(length=24), nullable=False),
        sa.Column("licence_id", sa.String(length=40), nullable=False),
        sa.Column("department", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("inspector_reference", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("filed_at", TZ, nullable=False),
        sa.Column("filed_by", sa.String(length=120), nullable=False),
        sa.Column("resolution", sa.String(length=20), nullable=True),
        sa.Column("resolution_reason", sa.String(length=500), nullable=True),
        sa.Column("resolved_at", TZ, nullable=True),
        sa.Column("resolved_by", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(
            ["licence_id"], ["licences.id"], name=op.f("fk_supervision_findings_licence_id_licences")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_findings")),
    )
    op.create_index(op.f("ix_supervision_findings_licence_id"), "supervision_findings", ["licence_id"], unique=False)
    op.create_index(op.f("ix_supervision_findings_status"), "supervision_findings", ["status"], unique=False)
    op.create_table(
        "supervision_finding_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.String(length=24), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["finding_id"],
            ["supervision_findings.id"],
            name=op.f("fk_supervision_finding_attachments_finding_id_supervision_findings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_supervision_finding_attachments")),
    )
    op.create_index(
        op.f("ix_supervision_finding_attachments_finding_id"),
        "supervision_finding_attachments",
        ["finding_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("supervision_finding_attachments")
    op.drop_table("supervision_findings")
    op.drop_table("event_dead_letters")
    op.drop_table("event_receivers")
    op.drop_table("supervision_event_routes")
    op.drop_table("supervision_events")
    op.drop_table("supervision_event_head")
