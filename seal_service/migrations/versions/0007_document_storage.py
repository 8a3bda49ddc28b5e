"""The sealed PDFs and the findings' PDF attachments stored without compression on PostgreSQL (STORAGE EXTERNAL)

As for renewed PDFs (0006_renew_storage): a sealed licence is already compressed (Flate streams), so PostgreSQL's
default (EXTENDED: try pglz, then store out of line) spent server CPU on a compression that saves nothing. Measured
on a sealed 157 KB licence, rows inserted 16 per transaction: 3.6-3.8 ms of backend CPU per row with EXTENDED,
0.5-0.6 ms with EXTERNAL, the same size on disk (docs/performance.md, "PostgreSQL: sealed PDFs stored
uncompressed"). Every sealing inserts one such row. Only new rows are affected; nothing is rewritten. SQLite has
no such setting: nothing to do.

Revision ID: 0007_document_storage
Revises: 0006_webhook_secrets
"""

from __future__ import annotations

from alembic import op

revision = "0007_document_storage"
down_revision = "0006_webhook_secrets"
branch_labels = None
depends_on = None

COLUMNS = (("licence_documents", "pdf"), ("supervision_finding_attachments", "pdf"))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, column in COLUMNS:
            op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET STORAGE EXTENDED")
