"""Licence versions through the API and the QR page: the newest PDF by default, ``?version=N`` an older one, every
version's SHA-256 and time on the record, and "last renewed" on the public page (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from seal_service.archive import ArchiveRenewer, RenewalOutcomeKind, commit_renewal, renew_licence
from seal_service.storage.models import AuditEntry
from tests.support.archive import stored_versions
from verifier.registry import revision_hashes

FIELDS = {"item_code": "JC-001", "holder_name": "晋城市示例餐饮有限公司", "level": "B-LTA"}


def _problem(response, status: int, field: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in response.text, response.text


def test_versions_download_and_record(api, keys, db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    created = api.post(
        "/v1/licences", headers=keys.city, data=FIELDS, files={"pdf": ("l.pdf", licence_pdf, "application/pdf")}
    )
    assert created.status_code == 201, created.text
    licence_id = created.json()["id"]
    issued = api.get(f"/v1/licences/{licence_id}/pdf", headers=keys.city).content
    assert created.json()["versions"] == [
        {
            "version": 1,
            "sha256": hashlib.sha256(issued).hexdigest(),
            "created_at": created.json()["sealed_at"],
            "renewal": False,
        }
    ]

    # A renewal (made and committed as renew_licence does; this shared instance's TSA is not rotated, so the
    # renewal policy itself would wait for a newer TSA certificate).
    at = datetime.now(UTC) + timedelta(minutes=5)
    renewed = ArchiveRenewer(db_instance).renew_pdf(issued, at=at)
    assert commit_renewal(db_instance, licence_id, base_version=1, renewed=renewed, at=at, actor="test") == 2
    waiting = renew_licence(db_instance, licence_id, at=at, horizon=timedelta(days=6 * 365))
    assert waiting.kind is RenewalOutcomeKind.NO_NEWER_TSA and waiting.version == 2

    record = api.get(f"/v1/licences/{licence_id}", headers=keys.city).json()
    assert [v["version"] for v in record["versions"]] == [1, 2]
    assert record["versions"][1]["renewal"] is True
    assert datetime.fromisoformat(record["versions"][1]["created_at"]) == at.replace(microsecond=0)
    # The record's document hash stays the issued one (a holder's version-1 file still matches it).
    assert record["document_sha256"] == hashlib.sha256(issued).hexdigest()

    newest = api.get(f"/v1/licences/{licence_id}/pdf", headers=keys.city)
    assert newest.status_code == 200 and newest.headers["licence-version"] == "2"
    assert hashlib.sha256(newest.content).hexdigest() == record["versions"][1]["sha256"]
    assert newest.headers["digest"] == f"sha-256={record['versions'][1]['sha256']}"
    assert newest.content.startswith(issued)  # an incremental update: the issued bytes untouched
    # The online record check (verifier/registry.py) still recognises the renewed file as the issued document.
    assert record["document_sha256"] in revision_hashes(newest.content)
    old = api.get(f"/v1/licences/{licence_id}/pdf?version=1", headers=keys.city)
    assert old.status_code == 200 and old.content == issued

    # Old bytes kept in storage, each version's recorded hash matches its bytes.
    versions = stored_versions(db_instance, licence_id)
    assert [v for v, _, _ in versions] == [1, 2]
    assert all(hashlib.sha256(data).hexdigest() == digest for _, data, digest in versions)

    # One audit entry for the renewal.
    with db_instance.sessions() as session:
        entries = session.query(AuditEntry).filter_by(licence_id=licence_id, action="licence.renew").all()
    assert len(entries) == 1 and entries[0].details["version"] == 2

    # The public page says when the licence was last renewed.
    page = api.get(f"/v/{licence_id}").text
    assert "最近续期" in page and "Last renewed" in page
    assert at.astimezone().strftime("%Y") in page


def test_bad_and_unknown_versions(api, keys, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    created = api.post(
        "/v1/licences", headers=keys.city, data=FIELDS, files={"pdf": ("l.pdf", licence_pdf, "application/pdf")}
    )
    licence_id = created.json()["id"]
    _problem(api.get(f"/v1/licences/{licence_id}/pdf?version=7", headers=keys.city), 404, "version")
    for bad in ("0", "-1", "two", "1.5"):
        _problem(api.get(f"/v1/licences/{licence_id}/pdf?version={bad}", headers=keys.city), 422, "version")
    # Another authority's caller learns nothing about the versions either.
    assert api.get(f"/v1/licences/{licence_id}/pdf?version=1", headers=keys.county).status_code == 404
    # The page of a never-renewed licence has no "last renewed" line.
    assert "最近续期" not in api.get(f"/v/{licence_id}").text
