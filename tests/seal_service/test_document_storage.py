"""Migration 0007_document_storage: PostgreSQL never tries pglz on sealed PDFs or findings' PDF attachments, which
are compressed already (a failed attempt cost ~3 ms of server CPU per sealing)."""

from __future__ import annotations

import pytest
from sqlalchemy import text


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # a storage setting SQLite does not have
@pytest.mark.parametrize("table", ["licence_documents", "supervision_finding_attachments"])
def test_stored_pdfs_are_kept_uncompressed_out_of_line_on_postgresql(db_instance, table: str) -> None:  # type: ignore[no-untyped-def]
    assert db_instance.engine.dialect.name == "postgresql"
    with db_instance.engine.connect() as connection:
        storage = connection.scalar(
            text("SELECT attstorage FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) AND attname = 'pdf'"),
            {"t": table},
        )
    assert storage == "e"  # EXTERNAL; the default for bytea is "x" (EXTENDED: compression tried first)
