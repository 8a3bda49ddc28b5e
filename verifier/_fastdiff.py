"""The fast path for coverage: the update after the seal holds only the DSS and the document time-stamp.

Example::

    check_lta_update(data, reader, seal, stamp)   # returns, or raises FastPathRefused (then pyHanko's diff runs)

pyHanko's difference analysis reads every object of the signed revision to find all the ways each changed object
can be reached (~15 ms per licence). The service's B-LTA layout is fixed (``seal_service/signing/sealer.py``): the
revision after the seal only adds the DSS and the document time-stamp. This module accepts exactly that, by a
strict whitelist, and refuses everything else, so that pyHanko's analysis decides it. Positive-only, like
:mod:`verifier._fastpath`. The whitelist (numbered as in the code):

1. The seal covers its whole revision, the document time-stamp the whole file, and that revision is the newest
   and directly follows the seal's.
2. No object streams in any revision (so that every reference in the file is visible in its bytes, see 6), no
   hybrid cross-reference, nothing freed in the newest revision; its trailer keeps ``/Root`` and ``/Info``.
3. Objects that existed before and are rewritten may only be: the catalog, gaining ``/DSS`` and nothing else; the
   AcroForm dictionary, its ``/Fields`` gaining the new field and nothing else; the page the new field names,
   its ``/Annots`` gaining the new field and nothing else; the catalog's ``/Metadata`` stream (see 6); the
   trailer's ``/Info`` dictionary, only its ``/ModDate`` and ``/Producer`` changing, every value in it a direct
   string before and after (so that it cannot double as anything a reader draws).
4. New objects may only be: the DSS dictionary (``/Certs``, ``/OCSPs``, ``/CRLs``, ``/Type``) and its plain streams,
   and the document time-stamp's field: a signature field and widget with a zero-area ``/Rect``, no appearance,
   a name no other field has, and as value a ``/DocTimeStamp`` signature dictionary that is the document
   time-stamp verified. Nothing new is left unexplained.
5. The seal is not a certification signature and its field is not locked (no DocMDP or FieldMDP to weigh).
6. The metadata stream: well-formed XMP before and after (pyHanko's own test), and the catalog is the only place
   the file refers to it: every textual reference ``N G R`` to it lies in a catalog object, once per catalog
   object. A stream also used as page content or form XObject would change what is shown; that is refused.
"""

from __future__ import annotations

import logging
import re
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.sign.diff_analysis.rules.metadata_rules import MetadataUpdateRule
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

from verifier._fastpath import FastPathRefused

__all__ = ["check_lta_update"]

log = logging.getLogger("verifier.fastpath")

_WS = rb"(?:[\x00\t\n\x0c\r ]|%[^\r\n]*[\r\n])"
_TRAILER_KEYS = {"/Root", "/Size", "/ID", "/Prev", "/Info"}
_DSS_KEYS = {"/Type", "/Certs", "/OCSPs", "/CRLs"}
_FIELD_KEYS = {"/FT", "/T", "/Type", "/Subtype", "/F", "/Rect", "/P", "/TU", "/V"}
_STAMP_KEYS = {"/Type", "/Filter", "/SubFilter", "/Contents", "/ByteRange"}
_METADATA_KEYS = {"/Type", "/Subtype", "/Length", "/Filter", "/DecodeParms"}


def _dump(value: Any) -> bytes:
    out = BytesIO()
    value.write_to_stream(out, None)
    return out.getvalue()


def _raw(mapping: generic.DictionaryObject) -> dict[str, Any]:
    """The entries of a PDF dictionary as written (references not followed)."""
    return dict(dict.items(mapping))


def _ref(value: Any, what: str) -> tuple[int, int]:
    if not isinstance(value, generic.IndirectObject):
        raise FastPathRefused(f"{what} is not an indirect reference")
    return int(value.idnum), int(value.generation)


def _same_except(old: dict[str, Any], new: dict[str, Any], key: str, what: str) -> None:
    """``old`` and ``new`` hold the same entries, written the same way, except ``key``."""
    if set(old) - {key} != set(new) - {key}:
        raise FastPathRefused(f"{what}: entries added or removed")
    for name, value in old.items():
        if name != key and _dump(value) != _dump(new[name]):
            raise FastPathRefused(f"{what}: {name} changed")


def _appended(old: Any, new: Any, added: tuple[int, int], what: str) -> None:
    """``new`` is the direct array ``old`` (or nothing) with one reference to ``added`` appended."""
    old_items = [] if old is None else old
    if not isinstance(new, generic.ArrayObject) or not isinstance(old_items, list):
        raise FastPathRefused(f"{what} is not a direct array")
    new_items = list(new)  # list iteration: the references as written
    if len(new_items) != len(old_items) + 1 or _ref(new_items[-1], what) != added:
        raise FastPathRefused(f"{what} does not just gain the new field")
    if any(_dump(a) != _dump(b) for a, b in zip(list(old_items), new_items[:-1], strict=True)):
        raise FastPathRefused(f"{what}: earlier entries changed")


def _references(data: bytes, idnum: int, generation: int) -> list[int]:
    """Where ``data`` refers to object ``idnum generation``: the start of each ``N G R`` token run for it.

    Over-inclusive on purpose (a use found where there is none only means a fallback): leading zeros, a plus sign
    and comments between the tokens count, and so does such a run inside a string or stream."""
    needle = b"%d" % idnum
    tail = re.compile(rb"%s+\+?0*%d%s*R" % (_WS, generation, _WS))
    found = []
    position = data.find(needle)
    while position >= 0:
        start = position
        while start > 0 and data[start - 1] == 0x30:  # leading zeros
            start -= 1
        if start > 0 and data[start - 1] == 0x2B:  # a plus sign
            start -= 1
        if not (start > 0 and 0x30 <= data[start - 1] <= 0x39) and tail.match(data, position + len(needle)):
            found.append(start)
        position = data.find(needle, position + 1)
    return found


def _object_span(data: bytes, offset: int) -> tuple[int, int]:
    end = data.find(b"endobj", offset)
    if end < 0:
        raise FastPathRefused("an object without endobj")
    return offset, end


def _check_metadata_uses(data: bytes, reader: PdfFileReader, metadata: tuple[int, int], root: tuple[int, int]) -> None:
    """(6) Every reference to the metadata stream lies in a catalog object, at most once per catalog object, after
    the key ``/Metadata``."""
    xrefs = reader.xrefs
    spans = []
    for revision in range(xrefs.total_revisions):
        entry = xrefs.get_xref_data(revision).standard_xrefs.get(root[0])
        if entry is not None and entry[0] == root[1]:
            spans.append(_object_span(data, entry[1]))
    used = {span: 0 for span in spans}
    for start in _references(data, *metadata):
        span = next((s for s in spans if s[0] <= start < s[1]), None)
        before = data[max(0, start - 64) : start]
        if span is None or re.search(rb"/Metadata" + _WS + rb"*\Z", before) is None:
            raise FastPathRefused("the metadata stream is referred to outside the catalog")
        used[span] += 1
        if used[span] > 1:
            raise FastPathRefused("the catalog refers to the metadata stream more than once")


def _check_metadata(old: HistoricalResolver, reader: PdfFileReader, ref: tuple[int, int]) -> None:
    for resolver in (old, reader):
        reference = generic.Reference(ref[0], ref[1], resolver)
        stream = reference.get_object()
        if (
            not isinstance(stream, generic.StreamObject)
            or set(stream.keys()) - _METADATA_KEYS
            or stream.get("/Type") != "/Metadata"
            or stream.get("/Subtype") != "/XML"
        ):
            raise FastPathRefused("the metadata object is not an XML metadata stream")
        try:
            MetadataUpdateRule.is_well_formed_xml(reference)
        except Exception as exc:  # pyHanko's SuspiciousModification or a decoding error
            raise FastPathRefused(f"metadata: {exc}") from None


_INFO_UPDATES = {"/ModDate", "/Producer"}


def _check_info(old: HistoricalResolver, reader: PdfFileReader, ref: tuple[int, int]) -> None:
    """(3) The document information dictionary: only /ModDate and /Producer change; only direct strings in it."""
    before = old.get_object(generic.Reference(*ref, old))
    after = reader.get_object(generic.Reference(*ref, reader))  # type: ignore[no-untyped-call]
    for entries in (before, after):
        if not isinstance(entries, generic.DictionaryObject) or isinstance(entries, generic.StreamObject):
            raise FastPathRefused("/Info is not a dictionary")
        if not all(isinstance(v, generic.TextStringObject | generic.ByteStringObject) for v in _raw(entries).values()):
            raise FastPathRefused("/Info holds more than strings")
    old_entries, new_entries = _raw(before), _raw(after)
    changed = {k for k in set(old_entries) | set(new_entries) if k not in old_entries or k not in new_entries}
    changed |= {k for k in set(old_entries) & set(new_entries) if _dump(old_entries[k]) != _dump(new_entries[k])}
    if changed - _INFO_UPDATES:
        raise FastPathRefused("/Info changes more than /ModDate and /Producer")


def _check_field(field: dict[str, Any], page: tuple[int, int], stamp: EmbeddedPdfSignature) -> tuple[int, int]:
    """(4) The new field: a zero-area signature widget on ``page`` whose value is the document time-stamp."""
    if set(field) - _FIELD_KEYS or field.get("/FT") != "/Sig" or field.get("/Subtype") != "/Widget":
        raise FastPathRefused("the new field is not a plain signature widget")
    if "/Type" in field and field["/Type"] != "/Annot":
        raise FastPathRefused("the new field's /Type")
    if not isinstance(field.get("/T"), generic.TextStringObject | generic.ByteStringObject):
        raise FastPathRefused("the new field has no name")
    if "/F" in field and not isinstance(field["/F"], generic.NumberObject):
        raise FastPathRefused("the new field's /F")
    rect = field.get("/Rect")
    if not isinstance(rect, generic.ArrayObject) or len(rect) != 4:
        raise FastPathRefused("the new field's /Rect")
    x0, y0, x1, y1 = (float(v) for v in rect)  # refused below unless plain numbers
    if not all(isinstance(v, generic.NumberObject | generic.FloatObject) for v in rect) or (x0, y0) != (x1, y1):
        raise FastPathRefused("the new field is visible (its /Rect has an area)")
    if _ref(field.get("/P"), "the new field's /P") != page:
        raise FastPathRefused("the new field's page")
    value = _ref(field.get("/V"), "the new field's /V")
    stamp_value = stamp.sig_field.raw_get("/V")
    if _ref(stamp_value, "the document time-stamp's /V") != value:
        raise FastPathRefused("the new field is not the document time-stamp verified")
    signature = _raw(stamp.sig_object)
    if set(signature) - _STAMP_KEYS or signature.get("/Type") != "/DocTimeStamp":
        raise FastPathRefused("the document time-stamp dictionary has other entries")
    return value


def _check_dss(dss: Any) -> set[tuple[int, int]]:
    """(4) The DSS dictionary: the references to its streams."""
    if not isinstance(dss, generic.DictionaryObject) or isinstance(dss, generic.StreamObject):
        raise FastPathRefused("the DSS is not a dictionary")
    entries = _raw(dss)
    if set(entries) - _DSS_KEYS or entries.get("/Type", "/DSS") != "/DSS":
        raise FastPathRefused("the DSS has other entries")
    streams = set()
    for key in ("/Certs", "/OCSPs", "/CRLs"):
        array = entries.get(key, generic.ArrayObject())
        if not isinstance(array, generic.ArrayObject):
            raise FastPathRefused(f"DSS {key} is not a direct array")
        for item in array:
            ref = _ref(item, f"a DSS {key} entry")
            stream = item.get_object()
            if not isinstance(stream, generic.StreamObject) or set(stream.keys()) - {"/Length", "/Filter"}:
                raise FastPathRefused(f"a DSS {key} entry is not a plain stream")
            if stream.get("/Filter", "/FlateDecode") != "/FlateDecode":
                raise FastPathRefused(f"a DSS {key} entry has another filter")
            streams.add(ref)
    return streams


def _check_revision_layout(reader: PdfFileReader, seal: EmbeddedPdfSignature, stamp: EmbeddedPdfSignature) -> int:
    """(1), (2) The newest revision directly follows the seal's and is covered by the time-stamp; its number."""
    newest = int(reader.xrefs.total_revisions) - 1
    if int(stamp.signed_revision) != newest or int(seal.signed_revision) != newest - 1:
        raise FastPathRefused("the seal and the document time-stamp are not in the last two revisions")
    if seal.evaluate_signature_coverage() != SignatureCoverageLevel.ENTIRE_REVISION:
        raise FastPathRefused("the seal does not cover exactly its revision")
    if stamp.evaluate_signature_coverage() != SignatureCoverageLevel.ENTIRE_FILE:
        raise FastPathRefused("the document time-stamp does not cover the whole file")
    xrefs = reader.xrefs
    if xrefs.hybrid_xrefs_present:
        raise FastPathRefused("hybrid cross-reference")
    for revision in range(newest + 1):
        section = xrefs.get_xref_data(revision)
        if section.xrefs_in_objstm or section.obj_streams_used:
            raise FastPathRefused("object streams")
    if xrefs.get_xref_data(newest).freed:
        raise FastPathRefused("objects freed after sealing")
    return newest


def check_lta_update(
    data: bytes, reader: PdfFileReader, seal: EmbeddedPdfSignature, stamp: EmbeddedPdfSignature
) -> None:
    """Return if the revision after ``seal`` only adds the DSS and the document time-stamp ``stamp`` (see the
    module docstring); raise :class:`~verifier._fastpath.FastPathRefused` otherwise, never anything else."""
    try:
        _check_lta_update(data, reader, seal, stamp)
    except FastPathRefused as refused:
        log.debug("fast coverage refused: %s", refused)
        raise
    except Exception as exc:  # an unexpected structure: never an answer, only a fallback
        log.debug("fast coverage refused: %s: %s", type(exc).__name__, exc)
        raise FastPathRefused(f"{type(exc).__name__}: {exc}") from exc
    log.debug("fast coverage passed")


def _check_lta_update(
    data: bytes, reader: PdfFileReader, seal: EmbeddedPdfSignature, stamp: EmbeddedPdfSignature
) -> None:
    newest = _check_revision_layout(reader, seal, stamp)
    old = reader.get_historical_resolver(newest - 1)
    xrefs = reader.xrefs
    written = {(int(ref.idnum), int(ref.generation)) for ref in xrefs.explicit_refs_in_revision(newest)}

    def before(ref: tuple[int, int]) -> dict[str, Any]:
        """An object as the seal's revision has it; its references are only compared, never followed."""
        if ref not in written:
            return _raw(reader.get_object(generic.Reference(*ref, reader)))  # type: ignore[no-untyped-call]
        return _raw(reader.get_object(generic.Reference(*ref, reader), revision=newest - 1))  # type: ignore[no-untyped-call]

    # (2) The trailer keeps /Root and /Info.
    old_trailer, new_trailer = _raw(old.trailer_view), _raw(reader.trailer_view)
    if set(new_trailer) - _TRAILER_KEYS:
        raise FastPathRefused("the newest trailer has other entries")
    root = _ref(new_trailer.get("/Root"), "/Root")
    if _ref(old_trailer.get("/Root"), "/Root") != root:
        raise FastPathRefused("the newest revision has another catalog")
    if _dump(old_trailer.get("/Info", generic.NullObject())) != _dump(new_trailer.get("/Info", generic.NullObject())):
        raise FastPathRefused("the newest revision changes /Info")
    info = _ref(new_trailer["/Info"], "/Info") if "/Info" in new_trailer else None
    # (5) No certification (DocMDP) and no field lock (FieldMDP) to weigh.
    old_catalog = before(root)
    if "/Perms" in old_catalog or "/Reference" in seal.sig_object or "/Lock" in seal.sig_field:
        raise FastPathRefused("certification or field locks")
    # (3) The catalog gains /DSS and nothing else.
    new_catalog = _raw(reader.root)
    if "/DSS" in old_catalog or "/DSS" not in new_catalog:
        raise FastPathRefused("the catalog does not just gain /DSS")
    _same_except(old_catalog, new_catalog, "/DSS", "catalog")
    dss_ref = _ref(new_catalog["/DSS"], "/DSS")
    dss_streams = _check_dss(new_catalog["/DSS"].get_object())
    acroform = _ref(old_catalog.get("/AcroForm"), "/AcroForm")
    metadata = _ref(old_catalog["/Metadata"], "/Metadata") if "/Metadata" in old_catalog else None
    # (4) The new field, on the page it names.
    old_form = before(acroform)
    new_form = _raw(reader.get_object(generic.Reference(*acroform, reader)))  # type: ignore[no-untyped-call]
    old_fields, new_fields = old_form.get("/Fields"), new_form.get("/Fields")
    if not isinstance(new_fields, generic.ArrayObject) or not new_fields:
        raise FastPathRefused("/Fields is not a direct array")
    newest_field = list(new_fields)[-1]  # list iteration: the reference as written
    field_ref = _ref(newest_field, "the new field")
    field = _raw(newest_field.get_object())
    page = _ref(field.get("/P"), "the new field's /P")
    value = _check_field(field, page, stamp)
    if any(_ref(f, "a field") in written for f in (old_fields or ())):
        raise FastPathRefused("a signed field is rewritten")
    # Not rewritten, so their current objects are the signed revision's.
    names = {_dump(f.get_object().get("/T", generic.NullObject())) for f in (old_fields or ())}
    if _dump(field["/T"]) in names:
        raise FastPathRefused("the new field's name is taken")
    _same_except(old_form, new_form, "/Fields", "AcroForm")
    _appended(old_fields, new_fields, field_ref, "/Fields")
    old_page = before(page)
    new_page = _raw(reader.get_object(generic.Reference(*page, reader)))  # type: ignore[no-untyped-call]
    if old_page.get("/Type") != "/Page":
        raise FastPathRefused("the new field's /P is not a page")
    _same_except(old_page, new_page, "/Annots", "page")
    _appended(old_page.get("/Annots"), new_page.get("/Annots"), field_ref, "/Annots")
    # (3), (4) Every object written in the newest revision is one of those, and each new one is new.
    rewritten = {root, acroform, page} | ({metadata} if metadata else set()) | ({info} if info else set())
    created = {dss_ref, field_ref, value} | dss_streams
    for ref in written:
        existed = xrefs.get_historical_ref(generic.Reference(*ref), newest - 1) is not None
        if (ref in rewritten and existed) or (ref in created and not existed):
            continue
        raise FastPathRefused(f"object {ref[0]} {ref[1]} is written in the newest revision unexplained")
    if not created <= written:
        raise FastPathRefused("the new field, its value or the DSS are not new objects")
    if info is not None and info in written:
        _check_info(old, reader, info)
    if metadata is not None and metadata in written:
        # (6) The metadata stream changed: XMP both times, and referred to from the catalog only.
        _check_metadata(old, reader, metadata)
        _check_metadata_uses(data, reader, metadata, root)
