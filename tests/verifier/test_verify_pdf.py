"""``verify_pdf`` on real sealed licences and on real tampering, offline, with the clock as a parameter."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from io import BytesIO

import pytest
from cryptography import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from verifier import Indication, InputError, Verdict, VerificationReport, verify_pdf, verify_pdf_async

CONTRACT_KEYS = {"file", "verdict", "indication", "subindication", "seal", "licence", "signed_at", "messages"}


def check(pdf: bytes, roots: list[x509.Certificate], **kwargs: object) -> VerificationReport:
    report = verify_pdf(pdf, trust_roots=roots, **kwargs)  # type: ignore[arg-type]
    assert set(report.to_json()) >= CONTRACT_KEYS
    assert report.messages, "every report explains itself to people"
    return report


def page_content_update(pdf: bytes) -> bytes:
    """A real incremental update (pyHanko's writer) that replaces the first page's content."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    forged = generic.StreamObject(stream_data=b"BT /F1 28 Tf 150 760 Td (Forged Licence) Tj ET")
    page["/Contents"] = writer.add_object(forged)
    writer.update_container(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def annotation_update(pdf: bytes) -> bytes:
    """A real incremental update that adds a text annotation ("sticky note") to the first page."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    page_ref, _ = writer.find_page_for_modification(0)
    page = page_ref.get_object()
    note = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Subtype"): generic.NameObject("/Text"),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(v) for v in (10, 10, 30, 30)]),
            generic.NameObject("/Contents"): generic.TextStringObject("valid until 2099"),
        }
    )
    existing = page.get("/Annots")
    annots = generic.ArrayObject(list(existing.get_object()) if existing is not None else [])
    annots.append(writer.add_object(note))
    page["/Annots"] = annots
    writer.update_container(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def refill_form_field(pdf: bytes, name: str, value: str) -> bytes:
    """A real incremental update that changes the value of the form field ``name``."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    for ref in writer.root["/AcroForm"]["/Fields"]:
        field = ref.get_object()
        if field.get("/T") == name:
            field["/V"] = generic.TextStringObject(value)
            writer.mark_update(ref)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def hand_written_update(pdf: bytes, body: bytes = b"") -> bytes:
    """``pdf`` plus an incremental update written by hand: ``body``, then an xref section listing no object."""
    reader = PdfFileReader(BytesIO(pdf))
    root = reader.trailer.raw_get("/Root")
    prev = int(re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    ids = [value.original_bytes.hex().encode() for value in reader.trailer["/ID"]]
    xref_at = len(pdf) + len(body)
    trailer = b"<< /Size %d /Root %d %d R /Prev %d /ID [<%s> <%s>] >>" % (
        int(reader.trailer["/Size"]),
        root.idnum,
        root.generation,
        prev,
        ids[0],
        ids[1],
    )
    section = b"xref\n0 1\n0000000000 65535 f \ntrailer\n%s\nstartxref\n%d\n%%%%EOF\n" % (trailer, xref_at)
    return pdf + body + section


# --- valid ------------------------------------------------------------------------------------------------------


def test_a_b_lta_licence_is_valid_with_seal_identity_time_and_messages(sealed) -> None:  # type: ignore[no-untyped-def]
    report = check(sealed.b_lta, sealed.roots, file="licence.pdf")
    assert (report.verdict, report.indication, report.subindication) == (Verdict.VALID, Indication.TOTAL_PASSED, None)
    assert report.ok and report.level == "B-LTA" and report.file == "licence.pdf"
    seal = report.seal
    assert seal is not None
    assert seal.name == "晋城市行政审批服务管理局行政审批专用章"
    assert seal.organisation == "晋城市行政审批服务管理局"
    assert seal.seal_id == "jc-bureau-approval"
    assert seal.credit_code and len(seal.credit_code) == 18  # unified social credit code, OID 2.5.4.97
    assert report.signed_at_source == "signature-timestamp"
    assert report.signed_at is not None and abs(report.signed_at - sealed.sealed_at) < timedelta(seconds=2)
    assert str(report.messages[0]) == f"印章有效：{seal.name} / Seal valid: {seal.name}"
    assert any(seal.credit_code in str(m) for m in report.messages)
    as_json = report.to_json()
    assert as_json["verdict"] == "valid" and as_json["indication"] == "TOTAL_PASSED"
    assert as_json["seal"]["seal_id"] == "jc-bureau-approval"
    # The licence the stamp names: the QR code's URL (decoded from the vector modules) and the printed number.
    licence = as_json["licence"]
    assert licence["verify_url"] == f"{licence['service_url']}/v/{licence['id']}" and licence["number"]
    assert [c["name"] for c in as_json["checks"]][:4] == ["structure", "integrity", "coverage", "chain-revocation-time"]
    assert all(c["passed"] for c in as_json["checks"][:4])
    assert datetime.fromisoformat(as_json["signed_at"]) == report.signed_at


@pytest.mark.parametrize("years", [1, 4])
def test_a_b_lta_licence_stays_valid_offline_for_years(sealed, years: int) -> None:  # type: ignore[no-untyped-def]
    # Four years on, the seal's own certificate (3 years) has expired and every CRL in the file is stale:
    # the document time-stamp proves the seal existed while its certificate was good.
    at = sealed.sealed_at + timedelta(days=365 * years)
    report = check(sealed.b_lta, sealed.roots, at=at)
    assert report.verdict is Verdict.VALID, report.details


def test_before_it_was_sealed_a_licence_is_not_valid(sealed) -> None:  # type: ignore[no-untyped-def]
    report = check(sealed.b_lta, sealed.roots, at=sealed.sealed_at - timedelta(days=1))
    assert report.verdict is not Verdict.VALID
    assert any("before the time the document was sealed" in str(m) for m in report.messages)


def test_whitespace_after_eof_and_an_empty_update_are_harmless(sealed) -> None:  # type: ignore[no-untyped-def]
    assert check(sealed.b_lta + b"\r\n  \n", sealed.roots).verdict is Verdict.VALID
    assert check(hand_written_update(sealed.b_lta), sealed.roots).verdict is Verdict.VALID


# --- invalid and modified ---------------------------------------------------------------------------------------


def test_tampered_content_is_invalid_hash_failure(sealed) -> None:  # type: ignore[no-untyped-def]
    assert sealed.b_lta.count(b"Food Business Licence") == 1
    tampered = sealed.b_lta.replace(b"Food Business Licence", b"Fake Business Licence")
    report = check(tampered, sealed.roots)
    assert (report.verdict, report.indication, report.subindication) == (
        Verdict.INVALID,
        Indication.TOTAL_FAILED,
        "HASH_FAILURE",
    )
    assert "altered after sealing" in str(report.messages[0]) and "篡改" in str(report.messages[0])


def test_a_refilled_form_field_is_modified(sealed) -> None:  # type: ignore[no-untyped-def]
    # pyHanko on its own calls this fine (FORM_FILLING is allowed by default DocMDP): pitfall 10.
    assert check(sealed.b_lta_form, sealed.roots).verdict is Verdict.VALID
    report = check(refill_form_field(sealed.b_lta_form, "holder", "Mallory"), sealed.roots)
    assert (report.verdict, report.indication) == (Verdict.MODIFIED, Indication.TOTAL_FAILED)
    assert any("FORM_FILLING" in d and "holder" in d for d in report.details)
    assert "form fields" in str(report.messages[1]) and "表单字段" in str(report.messages[1])


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (page_content_update, "/Contents"),
        (annotation_update, "annotation"),
    ],
    ids=["page-content", "annotation"],
)
def test_an_incremental_update_after_sealing_is_modified(sealed, change, detail: str) -> None:  # type: ignore[no-untyped-def]
    report = check(change(sealed.b_lta), sealed.roots)
    assert (report.verdict, report.indication) == (Verdict.MODIFIED, Indication.TOTAL_FAILED)
    assert str(report.messages[0]) == "文件在盖章后被修改 / The document was changed after sealing"
    assert any(detail in d for d in report.details)
    assert report.seal is not None and report.seal.seal_id == "jc-bureau-approval"  # still says whose seal


@pytest.mark.parametrize(
    "tail",
    [
        b"garbage after the end",
        b"99 0 obj\n(hidden)\nendobj\n",  # an update without xref, no %%EOF
        b"99 0 obj\n(hidden)\nendobj\n%%EOF\n",  # an update without xref, with %%EOF
        b"99 0 obj\n(hidden)\nendobj\nstartxref\n{last}\n%%EOF\n",  # ... pointing back at the real xref
    ],
    ids=["garbage", "xrefless", "xrefless-eof", "xrefless-old-startxref"],
)
def test_bytes_appended_after_eof_are_modified(sealed, tail: bytes) -> None:  # type: ignore[no-untyped-def]
    last = re.findall(rb"startxref\s+(\d+)", sealed.b_lta)[-1]
    report = check(sealed.b_lta + tail.replace(b"{last}", last), sealed.roots)
    assert (report.verdict, report.indication, report.subindication) == (
        Verdict.MODIFIED,
        Indication.TOTAL_FAILED,
        "FORMAT_FAILURE",
    )


def test_an_update_hiding_an_object_its_xref_does_not_list_is_modified(sealed) -> None:  # type: ignore[no-untyped-def]
    report = check(hand_written_update(sealed.b_lta, b"99 0 obj\n(hidden)\nendobj\n"), sealed.roots)
    assert report.verdict is Verdict.MODIFIED
    assert any("object 99 0" in d for d in report.details)


def test_a_byte_range_not_starting_at_zero_is_invalid(sealed) -> None:  # type: ignore[no-untyped-def]
    # Dual-sealed: the national seal's ByteRange comes first in the file, then the PAdES seal's and the time-stamp's.
    assert sealed.b_lta.count(b"/ByteRange [0 ") == 3
    pades = sealed.b_lta.index(b"/ByteRange [0 ", sealed.b_lta.index(b"/ByteRange [0 ") + 1)
    broken = sealed.b_lta[:pades] + b"/ByteRange [1 " + sealed.b_lta[pades + len(b"/ByteRange [0 ") :]
    report = check(broken, sealed.roots)
    assert (report.verdict, report.subindication) == (Verdict.INVALID, "FORMAT_FAILURE")
    assert any("does not start at 0" in d for d in report.details)


def test_an_unsigned_pdf_is_invalid_no_signature(sealed) -> None:  # type: ignore[no-untyped-def]
    report = check(sealed.unsigned, sealed.roots)
    assert (report.verdict, report.indication, report.subindication) == (
        Verdict.INVALID,
        Indication.TOTAL_FAILED,
        "FORMAT_FAILURE",
    )
    assert "no signature" in str(report.messages[0]) and "没有电子印章" in str(report.messages[0])
    assert report.seal is None


@pytest.mark.parametrize("data", [b"", b"hello, not a PDF", b"%PDF-1.7\n%%EOF\n"], ids=["empty", "text", "header"])
def test_a_file_that_is_not_a_pdf_is_invalid_format_failure(sealed, data: bytes) -> None:  # type: ignore[no-untyped-def]
    report = check(data, sealed.roots)
    assert (report.verdict, report.indication, report.subindication) == (
        Verdict.INVALID,
        Indication.TOTAL_FAILED,
        "FORMAT_FAILURE",
    )


# --- indeterminate ----------------------------------------------------------------------------------------------


def test_a_root_that_did_not_issue_the_seal_is_not_trusted(sealed, foreign_root) -> None:  # type: ignore[no-untyped-def]
    report = check(sealed.b_lta, [foreign_root])
    assert report.verdict is Verdict.INDETERMINATE and report.indication is Indication.INDETERMINATE
    assert report.subindication == "NO_CERTIFICATE_CHAIN_FOUND"
    assert "trusted root" in str(report.messages[0]) and "受信任" in str(report.messages[0])


def test_a_root_with_our_roots_exact_name_and_another_key_is_a_forgery(sealed, lookalike_root) -> None:  # type: ignore[no-untyped-def]
    # The lookalike names itself with our root's name bytes: trusting it instead of ours makes our seal CA
    # "issued by the trusted root" by name, but that root's key did not sign it. Not merely unknown: forged.
    report = check(sealed.b_lta, [lookalike_root])
    assert report.verdict is Verdict.INVALID and report.indication is Indication.TOTAL_FAILED
    assert "impersonates" in str(report.messages[0]) and "冒用" in str(report.messages[0])
    # A whole lookalike chain (root, CA and seal certificate): tests/verifier/test_lookalike_chain.py.


def test_the_right_root_among_others_is_enough(sealed, foreign_root) -> None:  # type: ignore[no-untyped-def]
    assert check(sealed.b_lta, [foreign_root, sealed.root]).verdict is Verdict.VALID


def test_a_b_b_seal_without_revocation_data_is_indeterminate_in_plain_words(sealed) -> None:  # type: ignore[no-untyped-def]
    # Offline, nothing says whether the seal's certificate is revoked now (B-LT and B-T: tests/verifier/test_levels.py).
    report = check(sealed.b_b, sealed.roots)
    assert (report.verdict, report.indication) == (Verdict.INDETERMINATE, Indication.INDETERMINATE)
    assert report.level == "B-B"
    assert report.subindication == "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    text = " ".join(str(m) for m in report.messages)
    assert "carries no revocation status" in text and "不含证书吊销状态信息" in text and "--crl" in text
    assert report.messages[0].zh.startswith("无法确认印章有效")
    assert report.seal is not None and report.seal.seal_id == "jc-bureau-approval"


def test_b_b_reports_the_claimed_signing_time_as_claimed(sealed) -> None:  # type: ignore[no-untyped-def]
    report = check(sealed.b_b, sealed.roots)
    assert report.signed_at_source == "signing-time"
    assert report.signed_at is not None and abs(report.signed_at - sealed.sealed_at) < timedelta(seconds=2)


# --- arguments --------------------------------------------------------------------------------------------------


def test_bad_arguments_are_input_errors(sealed) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InputError, match="at least one trust root"):
        verify_pdf(sealed.b_lta, trust_roots=[])
    with pytest.raises(InputError, match="timezone-aware"):
        verify_pdf(sealed.b_lta, trust_roots=sealed.roots, at=datetime(2030, 1, 1))


def test_the_async_entry_point_works_inside_a_running_loop(sealed) -> None:  # type: ignore[no-untyped-def]
    async def inside() -> VerificationReport:
        return await verify_pdf_async(sealed.b_lta, trust_roots=sealed.roots, file="a.pdf")

    assert asyncio.run(inside()).verdict is Verdict.VALID
