"""Sealing a licence: the record, the refusals, and nothing half-issued — on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from io import BytesIO

import pikepdf
import pytest
from sqlalchemy import func, select

from seal_service.errors import InvalidDocument, InvalidInput, NotAuthorised, NotFound, SealNotUsable
from seal_service.identifiers import check_licence_identifier
from seal_service.services.registry import list_seals, revoke_seal
from seal_service.services.sealing import LicenceRequest, get_licence, get_licence_pdf, seal_licence
from seal_service.signing.sealer import PadesLevel
from seal_service.storage.models import AuditEntry, Licence, SerialCounter
from tests.support.pdfs import sample_licence_pdf


def _request(**changes: object) -> LicenceRequest:
    fields: dict[str, object] = {
        "item_code": "JC-001",
        "holder_name": "晋城市示例餐饮有限公司",
        "seal_id": "jc-bureau-approval",
        "level": PadesLevel.B_B,
        "holder_code": "11430000006122244L",
        "holder_code_type": "001",
    }
    fields.update(changes)
    return LicenceRequest(**fields)  # type: ignore[arg-type]


def _counts(instance) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with instance.sessions() as session:
        licences = session.scalar(select(func.count()).select_from(Licence))
        audits = session.scalar(select(func.count()).select_from(AuditEntry))
        serials = session.scalar(select(func.coalesce(func.sum(SerialCounter.last_value), 0)))
    return int(licences or 0), int(audits or 0), int(serials or 0)


def test_sealing_records_the_licence_exactly_as_handed_out(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    sealed = seal_licence(db_instance, licence_pdf, _request(), actor="test", at=datetime.now(UTC))
    assert sealed.document_sha256 == hashlib.sha256(sealed.pdf).hexdigest()
    assert get_licence_pdf(db_instance, sealed.licence_id) == sealed.pdf
    record = get_licence(db_instance, sealed.licence_id)
    assert record.identifier == sealed.identifier
    check_licence_identifier(record.identifier)
    assert record.identifier.split(".")[6] == "11140500MB01234568"  # the bureau's credit code
    assert record.holder_name == "晋城市示例餐饮有限公司" and record.status == "valid"
    assert sealed.verify_url == f"{db_instance.settings.public_url}/v/{sealed.licence_id}"
    assert sealed.pdf.startswith(licence_pdf)  # an incremental update: the original bytes are untouched
    with db_instance.sessions() as session:
        audit = session.scalar(select(AuditEntry).where(AuditEntry.licence_id == sealed.licence_id))
    assert audit is not None and audit.action == "seal.use" and audit.seal_id == "jc-bureau-approval"
    assert audit.details["document_sha256"] == sealed.document_sha256
    assert "holder" not in str(audit.details)  # no personal data in the audit trail


def test_serials_and_identifiers_are_unique_and_increasing(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    made = [seal_licence(db_instance, licence_pdf, _request(), actor="test", at=datetime.now(UTC)) for _ in range(3)]
    serials = [int(m.identifier.split(".")[7]) for m in made]
    assert serials == sorted(serials) and len(set(serials)) == 3
    assert len({m.licence_id for m in made}) == 3


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"item_code": "NOPE"}, NotFound, "unknown approval item"),
        ({"seal_id": "nope"}, NotFound, "unknown seal"),
        # The department's seal after its items moved to the bureau (cut-over 2019-04-28).
        ({"seal_id": "jc-market-approval"}, NotAuthorised, "sealed by jc-bureau"),
        # The bureau's seal on an item not yet transferred.
        ({"item_code": "JC-004"}, NotAuthorised, "sealed by jc-market"),
        # Another jurisdiction's bureau.
        ({"seal_id": "zz-bureau-approval"}, NotAuthorised, "not by zz-bureau"),
        ({"holder_name": "  "}, Exception, "holder name is required"),
        ({"holder_code_type": "999"}, Exception, "holder code type"),
        ({"holder_code": "123", "holder_code_type": "001"}, InvalidInput, "not a unified social credit code"),
        ({"holder_code": "11010519491231002X", "holder_code_type": "001"}, InvalidInput, "GB 32100"),
        ({"holder_code": "11430000006122244L", "holder_code_type": "111"}, InvalidInput, "GB 11643"),
    ],
)
def test_refusals_leave_nothing_behind(db_instance, licence_pdf, changes, error, message) -> None:  # type: ignore[no-untyped-def]
    before = _counts(db_instance)
    with pytest.raises(error, match=message):
        seal_licence(db_instance, licence_pdf, _request(**changes), actor="test", at=datetime.now(UTC))
    assert _counts(db_instance) == before


def test_department_seal_seals_before_its_cut_over(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    # JC-004 has not moved to the bureau: the department still seals it ("先立后破").
    sealed = seal_licence(
        db_instance,
        licence_pdf,
        _request(item_code="JC-004", seal_id="jc-market-approval"),
        actor="t",
        at=datetime.now(UTC),
    )
    assert get_licence(db_instance, sealed.licence_id).seal_id == "jc-market-approval"


def _encrypted(pdf: bytes) -> bytes:
    out = BytesIO()
    with pikepdf.open(BytesIO(pdf)) as doc:
        doc.save(out, encryption=pikepdf.Encryption(owner="o", user="u"))
    return out.getvalue()


def _with_javascript(pdf: bytes) -> bytes:
    out = BytesIO()
    with pikepdf.open(BytesIO(pdf)) as doc:
        doc.Root.OpenAction = pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)"))
        doc.save(out)
    return out.getvalue()


def _with_attachment(pdf: bytes) -> bytes:
    out = BytesIO()
    with pikepdf.open(BytesIO(pdf)) as doc:
        doc.attachments["payload.exe"] = pikepdf.AttachedFileSpec(doc, b"MZ...", mime_type="application/octet-stream")
        doc.save(out)
    return out.getvalue()


BAD_DOCUMENTS = {
    "empty": (lambda pdf: b"", "empty"),
    "not a PDF": (lambda pdf: b"GIF89a" + b"\0" * 100, "not a PDF"),
    "truncated": (lambda pdf: pdf[: len(pdf) // 2], "damaged|truncated"),
    "encrypted": (_encrypted, "encrypted"),
    "javascript": (_with_javascript, "active content"),
    "attachment": (_with_attachment, "embedded files"),
    "trailing data": (lambda pdf: pdf + b"\nGARBAGE AFTER EOF", "after its last %%EOF"),
}


@pytest.mark.parametrize("case", list(BAD_DOCUMENTS))
def test_bad_documents_are_refused_with_a_reason(db_instance, licence_pdf, case) -> None:  # type: ignore[no-untyped-def]
    make, message = BAD_DOCUMENTS[case]
    before = _counts(db_instance)
    with pytest.raises(InvalidDocument, match=message):
        seal_licence(db_instance, make(licence_pdf), _request(), actor="test", at=datetime.now(UTC))
    assert _counts(db_instance) == before


def test_an_already_sealed_document_is_refused(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    sealed = seal_licence(db_instance, licence_pdf, _request(), actor="test", at=datetime.now(UTC))
    with pytest.raises(InvalidDocument, match="already signed"):
        seal_licence(db_instance, sealed.pdf, _request(), actor="test", at=datetime.now(UTC))


def test_oversize_documents_are_refused(db_instance) -> None:  # type: ignore[no-untyped-def]
    big = sample_licence_pdf(pages=1)
    limit = db_instance.settings.max_upload_bytes
    with pytest.raises(InvalidDocument, match="limit"):
        seal_licence(db_instance, big + b" " * (limit + 1), _request(), actor="test", at=datetime.now(UTC))


def test_a_failure_while_signing_leaves_no_licence(db_instance, licence_pdf, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(*args: object, **kwargs: object) -> bytes:
        raise RuntimeError("HSM unplugged")

    before_licences = _counts(db_instance)[0]
    monkeypatch.setattr(db_instance.sealer, "seal_pdf", broken)
    with pytest.raises(RuntimeError):
        seal_licence(db_instance, licence_pdf, _request(), actor="test", at=datetime.now(UTC))
    assert _counts(db_instance)[0] == before_licences


def test_expired_certificate_cannot_seal(db_instance, licence_pdf) -> None:  # type: ignore[no-untyped-def]
    far_future = datetime.now(UTC) + timedelta(days=20 * 365)
    with pytest.raises(SealNotUsable, match="no current certificate"):
        seal_licence(db_instance, licence_pdf, _request(), actor="test", at=far_future)


@pytest.mark.parametrize("level", list(PadesLevel), ids=[lv.value for lv in PadesLevel])
def test_a_revoked_seal_is_refused_at_every_level(db_instance, licence_pdf, level) -> None:  # type: ignore[no-untyped-def]
    # jc-housing still seals JC-005; revoke it (once) and every level must refuse.
    request = _request(item_code="JC-005", seal_id="jc-housing-approval", level=level)
    revoked = next(s for s in list_seals(db_instance) if s.id == "jc-housing-approval").status == "revoked"
    if not revoked:
        revoke_seal(db_instance, "jc-housing-approval", reason="keyCompromise", at=datetime.now(UTC))
    before = _counts(db_instance)
    with pytest.raises(SealNotUsable, match="jc-housing-approval is revoked"):
        seal_licence(db_instance, licence_pdf, request, actor="test", at=datetime.now(UTC))
    assert _counts(db_instance) == before
