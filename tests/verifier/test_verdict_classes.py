"""``modified`` versus ``invalid`` (issue 11): a later revision changing the document while the sealed revision is
intact is ``modified``; damage to the sealed revision itself is ``invalid``. One test per case, on real licences.
"""

from __future__ import annotations

import re

import pikepdf
import pytest

from tests.support import forgeries
from tests.verifier.test_verify_pdf import annotation_update, check
from verifier import Verdict


def _relocate_signature(pdf: bytes) -> bytes:
    """An update that moves the seal's signature dictionary, unchanged, to a new object and points the field at it:
    same /ByteRange, same /Contents, the signed bytes untouched."""
    from io import BytesIO

    document = pikepdf.open(BytesIO(pdf))
    field = next(f for f in document.Root.AcroForm.Fields if f.get("/T") == "ApprovalSeal")
    size = int(document.trailer.Size)
    signature = forgeries._serialise(field.V)
    moved_field = re.sub(rb"/V\s+\d+\s+0\s+R", b"/V %d 0 R" % size, forgeries._serialise(field))
    assert moved_field != forgeries._serialise(field)
    return forgeries.append_update(pdf, {size: signature, field.objgen[0]: moved_field})


def _sealed_end(pdf: bytes) -> int:
    _, _, start2, len2 = forgeries.main_signature_range(pdf)
    return start2 + len2


# --- modified: the sealed revision is intact -------------------------------------------------------------------


def test_an_annotation_added_in_a_later_revision_is_modified(sealed) -> None:  # type: ignore[no-untyped-def]
    report = check(annotation_update(sealed.b_lta), sealed.roots)
    assert report.verdict is Verdict.MODIFIED


def test_bytes_appended_after_the_sealed_file_are_modified(sealed) -> None:  # type: ignore[no-untyped-def]
    report = check(sealed.b_lta + b"\n% appended later\n", sealed.roots)
    assert report.verdict is Verdict.MODIFIED


def test_an_incomplete_later_update_after_an_intact_sealed_revision_is_modified(sealed) -> None:  # type: ignore[no-untyped-def]
    # The B-T file (the sealed revision alone) followed by the start of an update that never got its xref.
    intact = forgeries.signed_revision(sealed.b_lta)
    report = check(intact + b"\n99 0 obj\n<< /Type /Annot /Subtype /Text", sealed.roots)
    assert report.verdict is Verdict.MODIFIED


# --- invalid: the sealed revision itself is damaged --------------------------------------------------------------


@pytest.mark.parametrize("where", ["inside-first-range", "end-of-sealed-revision", "inside-the-seal-update"])
def test_signed_bytes_cut_off_are_invalid(sealed, where: str) -> None:  # type: ignore[no-untyped-def]
    pdf = sealed.b_lta
    _, len1, _, _ = forgeries.main_signature_range(pdf)
    end = _sealed_end(pdf)
    cut = {
        "inside-first-range": pdf[: len1 // 2] + pdf[len1 // 2 + 100 :],  # a slice removed from the middle
        "end-of-sealed-revision": pdf[: end - 10],  # the file stops just before the sealed revision's end
        "inside-the-seal-update": forgeries.truncate(pdf, 0.6),  # a broken download
    }[where]
    report = check(cut, sealed.roots)
    assert report.verdict is Verdict.INVALID, (where, report.messages)
    assert report.subindication == "FORMAT_FAILURE"


@pytest.mark.parametrize("where", ["before-the-signed-bytes", "inside-the-signed-bytes"])
def test_signed_bytes_moved_are_invalid(sealed, where: str) -> None:  # type: ignore[no-untyped-def]
    pdf = sealed.b_lta
    at = 0 if where == "before-the-signed-bytes" else 300
    moved = pdf[:at] + b"%moved\n" + pdf[at:]
    report = check(moved, sealed.roots)
    assert report.verdict is Verdict.INVALID, report.messages
    assert "cut off, moved or overwritten" in str(report.messages[0])


def test_signed_bytes_overwritten_are_invalid(sealed) -> None:  # type: ignore[no-untyped-def]
    pdf = sealed.b_lta
    position = pdf.index(b"Food Business Licence")
    overwritten = pdf[:position] + b"Fake" + pdf[position + 4 :]
    report = check(overwritten, sealed.roots)
    assert (report.verdict, report.subindication) == (Verdict.INVALID, "HASH_FAILURE")


def test_a_byte_range_that_no_longer_matches_the_file_is_invalid(sealed) -> None:  # type: ignore[no-untyped-def]
    pdf = sealed.b_lta
    _, len1, start2, len2 = forgeries.main_signature_range(pdf)
    entry = re.search(rb"/ByteRange\s*\[\s*0\s+%d\s+%d\s+%d\s*\]" % (len1, start2, len2), pdf)
    assert entry is not None
    shifted = forgeries._same_length(b"/ByteRange [0 %d %d %d]" % (len1 - 2, start2 - 2, len2), len(entry.group(0)))
    report = check(pdf[: entry.start()] + shifted + pdf[entry.end() :], sealed.roots)
    assert report.verdict is Verdict.INVALID, report.messages


@pytest.mark.parametrize("level", ["b_lta", "b_b"])
def test_a_signature_relocated_elsewhere_in_the_file_is_invalid(sealed, level: str) -> None:  # type: ignore[no-untyped-def]
    report = check(_relocate_signature(getattr(sealed, level)), sealed.roots)
    assert (report.verdict, report.subindication) == (Verdict.INVALID, "FORMAT_FAILURE"), report.messages
    assert "moved or rewritten after sealing" in str(report.messages[0])
    assert any("relocated or rewritten" in detail for detail in report.details)


def test_signature_wrapping_moving_the_signed_bytes_is_invalid(sealed) -> None:  # type: ignore[no-untyped-def]
    report = check(forgeries.signature_wrapping(sealed.b_lta), sealed.roots)
    assert report.verdict is Verdict.INVALID
