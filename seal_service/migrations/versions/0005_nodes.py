"""no node-local state: batch verification jobs in the database

Adds the tables verification_jobs (state, progress and results of batch verification jobs), which until now were
JSON files under the SEAL_HOME of the node that took the job, so that any node behind a load balancer can answer a
poll, and verification_job_files (the documents of running jobs, so that another node can take over a job whose
node stopped).

Revision ID: 0005_nodes
Revises: 0004_keys_audit
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_nodes"
down_revision = "0004_keys_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verification_jobs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("files", sa.Integer(), nullable=False),
        sa.Column("verified", sa.Integer(), nullable=False),
        sa.Column("node", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("results", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_jobs")),
    )
    with op.batch_alter_table("verification_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_verification_jobs_created_at"), ["created_at"], unique=False)
    op.create_table(
        "verification_job_files",
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=1000), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["verification_jobs.id"],
            name=op.f("fk_verification_job_files_job_id_verification_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "position", name=op.f("pk_verification_job_files")),
    )


def downgrade() -> None:
    op.drop_table("verification_job_files")
    with op.batch_alter_table("verification_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_verification_jobs_created_at"))
    op.drop_table("verification_jobs")
