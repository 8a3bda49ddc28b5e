"""Checks a PDF must pass before it is sealed: a real, intact, unencrypted, unsigned PDF without active content.

Example::

    >>> facts = inspect_pdf(data, max_bytes=20 * 1024 * 1024)   # doctest: +SKIP
    >>> facts.page_count                                          # doctest: +SKIP
    1

A sealed licence must show the same thing in every viewer, so scripts, launch actions and embedded files are
refused; so is a document that already carries signatures (sealing on top of them is a separate decision).
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

import pikepdf

from seal_service.errors import InvalidDocument

_ACTIVE_ACTIONS = {
    "/JavaScript",
    "/Launch",
    "/ImportData",
    "/SubmitForm",
    "/ResetForm",
    "/Rendition",
    "/Sound",
    "/Movie",
}


@dataclass(frozen=True)
class PdfFacts:
    """What the checks learnt about an acceptable PDF."""

    page_count: int
    pdf_version: str


#: Errors qpdf and pikepdf raise on a damaged file, at open or later when an object is first read: qpdf's C++
#: runtime errors arrive as RuntimeError subclasses (QpdfRuntimeError is not a PdfError), a number too large for
#: 64 bits as ValueError or OverflowError (all found by fuzzing: tests/fuzz/regressions/pdf_checks/).
_DAMAGED = (pikepdf.PdfError, pikepdf.exceptions.PikepdfError, RuntimeError, RecursionError, ValueError, OverflowError)
#: Actions followed through /Next chains before the document is refused as too convoluted to check.
_MAX_ACTIONS = 10_000


def _has_active_action(obj: pikepdf.Object | None) -> bool:
    # /Next chains may branch and loop back (a cycle makes a naive recursion run forever): walk them with a visited
    # set and a bound instead.
    pending: list[pikepdf.Object | None] = [obj]
    seen: set[tuple[int, int]] = set()
    visited = 0
    while pending:
        item = pending.pop()
        if isinstance(item, pikepdf.Array):
            pending.extend(item)
            continue
        if not isinstance(item, pikepdf.Dictionary):
            continue
        if item.is_indirect:
            if item.objgen in seen:
                continue
            seen.add(item.objgen)
        visited += 1
        if visited > _MAX_ACTIONS:
            raise InvalidDocument("the PDF chains too many actions to check; active content is refused", field="pdf")
        if item.get("/S") in _ACTIVE_ACTIONS or "/JS" in item:
            return True
        pending.append(item.get("/Next"))
    return False


def _additional_actions(obj: pikepdf.Object) -> bool:
    actions = obj.get("/AA") if isinstance(obj, pikepdf.Dictionary) else None
    if not isinstance(actions, pikepdf.Dictionary):
        return False
    return any(_has_active_action(actions[key]) for key in actions.keys())  # noqa: SIM118 - pikepdf keys()


def inspect_pdf(data: bytes, *, max_bytes: int) -> PdfFacts:
    """Raise :class:`InvalidDocument` naming the problem, or return facts about an acceptable PDF."""
    if len(data) == 0:
        raise InvalidDocument("the uploaded file is empty", field="pdf")
    if len(data) > max_bytes:
        raise InvalidDocument(f"the PDF is {len(data)} bytes; the limit is {max_bytes}", field="pdf")
    if b"%PDF-" not in data[:1024]:
        raise InvalidDocument("the file is not a PDF (no %PDF- header)", field="pdf")
    try:
        pdf = pikepdf.open(BytesIO(data))
    except pikepdf.PasswordError:
        raise InvalidDocument("the PDF is encrypted; seal only unencrypted PDFs", field="pdf") from None
    except _DAMAGED as exc:
        raise InvalidDocument(f"the PDF is damaged and cannot be read: {_first_line(exc)}", field="pdf") from None
    try:
        with pdf:
            return _inspect(pdf, data)
    except _DAMAGED as exc:
        # qpdf reads objects lazily: damage deep in the file shows only when the checks reach it.
        raise InvalidDocument(f"the PDF is damaged and cannot be read: {_first_line(exc)}", field="pdf") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _inspect(pdf: pikepdf.Pdf, data: bytes) -> PdfFacts:
    """The checks on an opened document (see :func:`inspect_pdf`)."""
    if pdf.is_encrypted:
        raise InvalidDocument("the PDF is encrypted; seal only unencrypted PDFs", field="pdf")
    # qpdf repairs broken cross-reference tables silently on open; a licence must be intact, because
    # the sealed bytes are appended to the original bytes, not to qpdf's repaired copy.
    warnings = [w for w in pdf.get_warnings() if "xref" in w.lower() or "damaged" in w.lower()]
    if warnings:
        raise InvalidDocument(f"the PDF is damaged: {warnings[0]}", field="pdf")
    try:
        page_count = len(pdf.pages)
    except pikepdf.PdfError as exc:
        raise InvalidDocument(f"the PDF page tree is damaged: {exc}", field="pdf") from None
    if page_count == 0:
        raise InvalidDocument("the PDF has no pages", field="pdf")
    root = pdf.Root
    acroform = root.get("/AcroForm")
    if isinstance(acroform, pikepdf.Dictionary):
        for field in acroform.get("/Fields", pikepdf.Array()):
            if isinstance(field, pikepdf.Dictionary) and field.get("/FT") == "/Sig" and "/V" in field:
                raise InvalidDocument("the PDF is already signed; refusing to seal over signatures", field="pdf")
    if "/Perms" in root or "/DSS" in root:
        raise InvalidDocument("the PDF is already signed; refusing to seal over signatures", field="pdf")
    names = root.get("/Names")
    if isinstance(names, pikepdf.Dictionary):
        if "/JavaScript" in names:
            raise InvalidDocument("the PDF contains JavaScript; active content is refused", field="pdf")
        if "/EmbeddedFiles" in names:
            raise InvalidDocument("the PDF contains embedded files; they are refused", field="pdf")
    if _has_active_action(root.get("/OpenAction")) or _additional_actions(root):
        raise InvalidDocument("the PDF runs actions when opened; active content is refused", field="pdf")
    for number, page in enumerate(pdf.pages, start=1):
        if _additional_actions(page.obj):
            raise InvalidDocument(f"page {number} carries actions; active content is refused", field="pdf")
        for annot in page.obj.get("/Annots", pikepdf.Array()):
            if not isinstance(annot, pikepdf.Dictionary):
                continue
            if annot.get("/Subtype") == "/FileAttachment":
                raise InvalidDocument(f"page {number} has a file attachment; it is refused", field="pdf")
            if _has_active_action(annot.get("/A")) or _additional_actions(annot):
                raise InvalidDocument(f"page {number} has an annotation with active content", field="pdf")
    # Bytes after the last %%EOF other than white space would hide content from some viewers.
    tail = data[data.rfind(b"%%EOF") + 5 :] if b"%%EOF" in data[-2048:] else None
    if tail is None:
        raise InvalidDocument("the PDF is truncated (no %%EOF at its end)", field="pdf")
    if tail.strip(b"\r\n\t \x00"):
        raise InvalidDocument("the PDF has data after its last %%EOF", field="pdf")
    return PdfFacts(page_count=page_count, pdf_version=pdf.pdf_version)
