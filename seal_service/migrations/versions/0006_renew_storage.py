"""licence_versions.pdf stored out of line without compression on PostgreSQL (STORAGE EXTERNAL)

A renewed PDF is already compressed (its streams are Flate-encoded), so PostgreSQL's default (EXTENDED: try pglz,
then store out of line) spent server CPU on a compression that saves next to nothing: about 4.7 of 7.5 ms per
renewed licence in ``bench/renew.py`` on PostgreSQL went to that insert, 1.0 ms with EXTERNAL (docs/performance.md,
"Archive renewal"). Only new rows are affected; nothing is rewritten. SQLite has no such setting: nothing to do.

Revision ID: 0006_renew_storage
Revises: 0005_renew
"""

from __future__ import annotations

from alembic import op

revision = "0006_renew_storage"
down_revision = "0005_renew"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE licence_versions ALTER COLUMN pdf SET STORAGE EXTERNAL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE licence_versions ALTER COLUMN pdf SET STORAGE EXTENDED")
