"""The renewal revision built directly for the service's own B-LTA layout, without pyHanko's generic machinery.

Example::

    >>> revision = build_renewal_revision(pdf, field_name="ArchiveTimestamp2", certs=[...], crls=[...],
    ...                                   token=lambda digest: token_der, at=now)          # doctest: +SKIP
    >>> revision is None          # a file of another shape: the caller uses pyHanko (renewal.py)   # doctest: +SKIP
    False

What pyHanko's ``DocumentSecurityStore.supply_dss_in_writer`` + ``PdfTimeStamper.timestamp_pdf`` write for a
renewal, written here from the bytes: pyHanko re-reads the AcroForm and every field to add one, re-reads the whole
DSS, runs an event loop per call and writes the update through its generic object model; that was most of the CPU
of a renewal (docs/performance.md). The update written here holds the same things:

1. the DSS gains the validation data of the newest document time-stamp (the certificates and CRLs the caller
   passes; any already in the DSS by content are not added twice, as pyHanko dedups them); the DSS dictionary is
   rewritten only when something was added. The service's files carry no ``/VRI`` (nor does the pyHanko path add
   one: it passes no signature to tie the data to), so neither is written;
2. a new signature field + invisible widget (``/Rect [0 0 0 0]``, ``/F 132``) named ``field_name``, appended to
   the AcroForm's ``/Fields`` and to the ``/Annots`` of the page the previous document time-stamp's widget is on
   (pyHanko puts every document time-stamp on the first page; so did it for the previous one);
3. its value, a ``/DocTimeStamp`` signature dictionary (``/SubFilter /ETSI.RFC3161``) whose ``/ByteRange`` covers
   the whole file except the ``/Contents`` hex string, filled with the RFC 3161 token over the SHA-256 of those
   bytes (zero-padded to the reserved size, as pyHanko does);
4. the document's modification date, as pyHanko's writer updates it: ``/ModDate`` in the ``/Info`` dictionary
   when it has one and ``xmp:ModifyDate`` in the catalog's XMP metadata stream when there is one (here the renewal
   time ``at``, where pyHanko reads the wall clock; ``/Producer`` is left as it is, where pyHanko writes its own);
5. a cross-reference section in the file's own style (a table with a trailer, or a cross-reference stream when
   the newest section is one), with ``/Prev`` pointing at the previous section, ``/ID`` keeping its first part.

Positive-only, like the verifier's fast path (verifier/_fastpath.py): the builder recognises one shape and returns
None for anything else (no document time-stamp covering the file's end, encryption, a hybrid cross-reference,
objects it needs inside object streams, indirect ``/Fields``, ``/Annots`` or DSS arrays, a DSS with other keys,
filtered metadata, a field name already taken...), and the caller then renews through pyHanko exactly as before.
It never raises for a file it does not recognise; a time-stamp that does not fit the reserved space raises
``ValueError`` (a configuration error, not a file's).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils import generic

__all__ = ["build_renewal_revision"]

_WS = b"\x00\t\n\x0c\r "
_TAIL = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*\Z")
_OBJ_HEADER = re.compile(rb"\s*(\d+)\s+(\d+)\s+obj\b\s*")
_XREF_SUBSECTION = re.compile(rb"(\d+)\s+(\d+)\s*\r?\n")
_XREF_ENTRIES = re.compile(rb"(?:\d{10} \d{5} [nf](?: \r| \n|\r\n))*")
_PLAIN_STREAM = re.compile(rb"<<\s*/Length\s+(\d+)\s*>>\s*stream\r?\n")
_END_STREAM = re.compile(rb"\r?\n?endstream")
#: A field's name written as a plain literal string of printable ASCII (no escapes, no parentheses, no UTF-16 byte
#: order mark: read as it is written), and any /T key at all.
_PLAIN_T = re.compile(rb"/T\s*\(([\x20-\x27\x2a-\x5b\x5d-\x7e]*)\)")
_ANY_T = re.compile(rb"/T(?=[\s(<\[/])")
_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")
_DOC_TIMESTAMP = re.compile(rb"/Type\s*/DocTimeStamp(?=[\s/>])")
_RFC3161 = re.compile(rb"/SubFilter\s*/ETSI\.RFC3161(?=[\s/>])")
_MODIFY_DATE = re.compile(rb'xmp:ModifyDate="[^"]*"')
_DSS_KEYS = {"/Type", "/Certs", "/OCSPs", "/CRLs"}
#: Width of each number in the /ByteRange placeholder: room for files up to 10 GB.
_BR_WIDTH = 10


class _Unrecognised(Exception):
    """Internal: the file is not of the shape this module writes for; the caller falls back to pyHanko."""


def _raw(mapping: Any, key: str) -> Any:
    """A dictionary entry as written (a reference is not followed)."""
    return dict.get(mapping, key)


def _ref(value: Any) -> int:
    if not isinstance(value, generic.IndirectObject) or value.generation != 0:
        raise _Unrecognised("not an indirect reference of generation 0")
    return int(value.idnum)


def _refs(value: Any) -> list[int]:
    if not isinstance(value, generic.ArrayObject):
        raise _Unrecognised("not a direct array")
    return [_ref(item) for item in list.__iter__(value)]


def _dump(value: Any) -> bytes:
    out = BytesIO()
    value.write_to_stream(out, None)
    return out.getvalue()


class _Reader:
    """Objects of one PDF read at the offsets its cross-reference sections give (pyHanko's object parser, none
    of its document model). Sections are read newest first and only as far back as an object asked for needs."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.stream = BytesIO(data)
        tail = _TAIL.search(data, max(0, len(data) - 64))
        if tail is None:
            raise _Unrecognised("the file does not end with startxref and %%EOF")
        self.startxref = int(tail.group(1))
        self.offsets: dict[int, tuple[int, int]] = {}
        """object number -> (offset, generation) of its newest version; (-1, -1) when freed."""
        self.compressed: set[int] = set()
        """objects whose newest version lies in an object stream (refused: not needed for our files)."""
        self._next: int | None = self.startxref
        self._seen: set[int] = set()
        self.stream_style = not data.startswith(b"xref", self.startxref)
        """Whether the newest section is a cross-reference stream."""
        self.trailer = self._read_section()
        """The newest trailer's entries (raw)."""

    def _read_section(self) -> dict[str, Any]:
        position = self._next
        assert position is not None
        if position in self._seen or position >= len(self.data):
            raise _Unrecognised("a cross-reference /Prev loop or an offset past the end")
        self._seen.add(position)
        if self.data.startswith(b"xref", position):
            trailer = self._read_table(position, self.offsets)
            if "/XRefStm" in trailer:
                raise _Unrecognised("a hybrid cross-reference (/XRefStm)")
        else:
            trailer = self._read_stream(position, self.offsets, self.compressed)
        prev = trailer.get("/Prev")
        if prev is not None and not isinstance(prev, generic.NumberObject):
            raise _Unrecognised("/Prev is not a number")
        self._next = None if prev is None else int(prev)
        return trailer

    def _where(self, number: int) -> int:
        while number not in self.offsets and number not in self.compressed and self._next is not None:
            self._read_section()
        if number in self.compressed:
            raise _Unrecognised(f"object {number} lies in an object stream")
        where = self.offsets.get(number)
        if where is None or where[1] != 0:
            raise _Unrecognised(f"object {number} is not in use")
        return where[0]

    def _header(self, number: int) -> int:
        """Where object ``number``'s body starts."""
        offset = self._where(number)
        header = _OBJ_HEADER.match(self.data, offset)
        if header is None or int(header.group(1)) != number or header.group(2) != b"0":
            raise _Unrecognised(f"no object {number} at offset {offset}")
        return header.end()

    def _object_at(self, offset: int) -> Any:
        header = _OBJ_HEADER.match(self.data, offset)
        if header is None or header.group(2) != b"0":
            raise _Unrecognised(f"no object at offset {offset}")
        self.stream.seek(header.end())
        return generic.read_object(self.stream, generic.Reference(int(header.group(1)), 0, None))

    def get(self, number: int) -> Any:
        """Object ``number`` (generation 0) as pyHanko parses it."""
        self.stream.seek(self._header(number))
        return generic.read_object(self.stream, generic.Reference(number, 0, None))

    def body(self, number: int) -> bytes:
        """The bytes of object ``number`` between ``obj`` and the next ``endobj`` (for cheap textual checks)."""
        start = self._header(number)
        end = self.data.find(b"endobj", start)
        if end < 0:
            raise _Unrecognised(f"object {number} has no endobj")
        return self.data[start:end]

    def stream_data(self, number: int) -> bytes:
        """The decoded data of stream ``number``; a plain ``<< /Length N >>`` stream is sliced from the bytes."""
        start = self._header(number)
        plain = _PLAIN_STREAM.match(self.data, start)
        if plain is not None:
            begin = plain.end()
            end = begin + int(plain.group(1))
            if _END_STREAM.match(self.data, end):
                return self.data[begin:end]
        stream = self.get(number)
        if not isinstance(stream, generic.StreamObject):
            raise _Unrecognised(f"object {number} is not a stream")
        return bytes(stream.data)

    def _read_table(self, position: int, offsets: dict[int, tuple[int, int]]) -> dict[str, Any]:
        at = position + 4
        while True:
            while at < len(self.data) and self.data[at] in _WS:
                at += 1
            if self.data.startswith(b"trailer", at):
                break
            sub = _XREF_SUBSECTION.match(self.data, at)
            if sub is None:
                raise _Unrecognised("a cross-reference table of another form")
            first, count = int(sub.group(1)), int(sub.group(2))
            at = sub.end()
            block = self.data[at : at + 20 * count]
            if _XREF_ENTRIES.fullmatch(block) is None:
                raise _Unrecognised("a cross-reference entry of another form")
            at += 20 * count
            for n in range(count):
                entry = block[20 * n : 20 * n + 20]
                if entry[17] == 0x6E:  # "n"
                    offsets.setdefault(first + n, (int(entry[:10]), int(entry[11:16])))
                else:
                    offsets.setdefault(first + n, (-1, -1))
        self.stream.seek(at + len(b"trailer"))
        while self.data[self.stream.tell()] in _WS:
            self.stream.seek(self.stream.tell() + 1)
        trailer = generic.read_object(self.stream, generic.Reference(0, 0, None))
        if not isinstance(trailer, generic.DictionaryObject):
            raise _Unrecognised("the trailer is not a dictionary")
        return dict(dict.items(trailer))

    def _read_stream(self, position: int, offsets: dict[int, tuple[int, int]], compressed: set[int]) -> dict[str, Any]:
        stream = self._object_at(position)
        if not isinstance(stream, generic.StreamObject) or _raw(stream, "/Type") != "/XRef":
            raise _Unrecognised("startxref points at neither a table nor a cross-reference stream")
        widths = [int(w) for w in _raw(stream, "/W")]
        size = int(_raw(stream, "/Size"))
        index = [int(i) for i in _raw(stream, "/Index") or (0, size)]
        if len(widths) != 3 or widths[1] == 0:
            raise _Unrecognised("unusual /W")
        data = stream.data  # decoded (Flate and predictors) by pyHanko
        row = sum(widths)
        at = 0
        for first, count in zip(index[0::2], index[1::2], strict=True):
            for n in range(count):
                fields = []
                for width in widths:
                    fields.append(int.from_bytes(data[at : at + width], "big") if width else None)
                    at += width
                kind = 1 if fields[0] is None else fields[0]
                number = first + n
                if number in offsets or number in compressed:
                    continue
                if kind == 1:
                    offsets[number] = (int(fields[1] or 0), int(fields[2] or 0))
                elif kind == 2:
                    compressed.add(number)
                else:
                    offsets[number] = (-1, -1)
        if at > len(data) or row == 0:
            raise _Unrecognised("a short cross-reference stream")
        return dict(dict.items(stream))


def _plain_stream(body: bytes) -> bytes:
    return b"<<\n/Length %d\n>>\nstream\n%s\nendstream" % (len(body), body)


def _xref_table(offsets: dict[int, int]) -> bytes:
    numbers = sorted(offsets)
    out = [b"xref\n"]
    i = 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        out.append(b"%d %d\n" % (numbers[i], j - i + 1))
        out.extend(b"%010d 00000 n \n" % offsets[numbers[k]] for k in range(i, j + 1))
        i = j + 1
    return b"".join(out)


def _index(numbers: list[int]) -> list[int]:
    index: list[int] = []
    for number in numbers:
        if index and index[-2] + index[-1] == number:
            index[-1] += 1
        else:
            index += [number, 1]
    return index


def build_renewal_revision(
    pdf: bytes,
    *,
    field_name: str,
    certs: Sequence[bytes],
    crls: Sequence[bytes],
    token: Callable[[bytes], bytes],
    at: datetime,
    reserved_hex: int,
) -> bytes | None:
    """``pdf`` with the renewal revision appended (see the module docstring), or None when the file is not of
    the recognised shape (then nothing was asked of the TSA).

    :param certs: DER certificates for the DSS (the newest time-stamp's TSA certificate, its chain, the root).
    :param crls: DER CRLs for the DSS.
    :param token: the DER time-stamp token (ContentInfo) over a SHA-256 digest.
    :param reserved_hex: hex digits reserved for the token in ``/Contents`` (pyHanko's ``bytes_reserved``).
    :raises ValueError: the token does not fit ``reserved_hex``.
    """
    if len(pdf) >= 1 << 31:  # offsets in the 4-byte field of a cross-reference stream row, with room to grow
        return None
    try:
        plan = _plan(pdf, field_name=field_name, certs=certs, crls=crls, at=at)
    except _Unrecognised:
        return None
    except Exception:  # a parse error of pyHanko's object reader on a file of another shape
        return None
    return _write(pdf, plan, token=token, reserved_hex=reserved_hex)


@dataclass
class _Plan:
    """What the revision rewrites and adds (objects serialised, numbers assigned)."""

    rewritten: dict[int, bytes]
    """existing object number -> its new body (between ``obj`` and ``endobj``)."""
    added: dict[int, bytes]
    widget: int
    signature: int
    size: int
    trailer: dict[str, Any]
    stream_style: bool
    startxref: int
    first_id: bytes
    """The first part of the file's /ID (kept; the second part is new)."""


def _plan(pdf: bytes, *, field_name: str, certs: Sequence[bytes], crls: Sequence[bytes], at: datetime) -> _Plan:
    reader = _Reader(pdf)
    trailer = reader.trailer
    # (0) The trailer: a plain one, no encryption.
    if "/Encrypt" in trailer:
        raise _Unrecognised("encrypted")
    root, size = _ref(trailer.get("/Root")), trailer.get("/Size")
    ids = trailer.get("/ID")
    if not isinstance(size, generic.NumberObject) or not isinstance(ids, generic.ArrayObject) or len(ids) != 2:
        raise _Unrecognised("trailer without /Size or a two-part /ID")
    info = trailer.get("/Info")
    catalog = reader.get(root)
    if not isinstance(catalog, generic.DictionaryObject) or _raw(catalog, "/Type") != "/Catalog":
        raise _Unrecognised("no catalog")
    # (1) The form and the newest document time-stamp: the last field, covering the file up to its end.
    acroform_number = _ref(_raw(catalog, "/AcroForm"))
    acroform = reader.get(acroform_number)
    if not isinstance(acroform, generic.DictionaryObject) or _raw(acroform, "/SigFlags") != 3:
        raise _Unrecognised("an AcroForm of another form")
    fields = _refs(_raw(acroform, "/Fields"))
    if not fields:
        raise _Unrecognised("no fields")
    # Every field's name, to refuse a name taken: read from the bytes when the object names itself once with a
    # plain literal (what our files hold), parsed otherwise.
    names = set()
    for number in fields:
        body = reader.body(number)
        plain = _PLAIN_T.findall(body)
        if len(plain) == 1 and len(_ANY_T.findall(body)) == 1 and b"/Kids" not in body:
            names.add(plain[0].decode("latin-1"))
            continue
        field = reader.get(number)
        name = _raw(field, "/T") if isinstance(field, generic.DictionaryObject) else None
        if not isinstance(name, generic.TextStringObject) or "/Kids" in field:
            raise _Unrecognised("a field without a plain name, or with kids")
        names.add(str(name))
    if field_name in names:
        raise _Unrecognised(f"a field {field_name} exists already")
    last = reader.get(fields[-1])
    if _raw(last, "/FT") != "/Sig" or _raw(last, "/Subtype") != "/Widget":
        raise _Unrecognised("the last field is not a merged signature field and widget")
    # Its value, read from the bytes (a parse would tokenise the 8 KB /Contents string): one /ByteRange whose gap
    # is this dictionary's own /Contents string.
    stamp_number = _ref(_raw(last, "/V"))
    stamp_start = reader._header(stamp_number)
    stamp = reader.body(stamp_number)
    ranges = _BYTE_RANGE.findall(stamp)
    if (
        len(ranges) != 1
        or len(_DOC_TIMESTAMP.findall(stamp)) != 1
        or len(_RFC3161.findall(stamp)) != 1
        or stamp.count(b"/ByteRange") != 1
    ):
        raise _Unrecognised("the last field is not a document time-stamp")
    a, b, c, d = (int(v) for v in ranges[0])
    if not (stamp_start < b < c <= stamp_start + len(stamp)) or pdf[b] != 0x3C or pdf[c - 1] != 0x3E:
        raise _Unrecognised("the newest time-stamp's byte range gap is not its /Contents")
    end = len(pdf.rstrip(_WS))
    if a != 0 or not b < c or c + d < end - 1 or c + d > len(pdf):
        raise _Unrecognised("the newest document time-stamp does not cover the file")
    page_number = _ref(_raw(last, "/P"))
    page = reader.get(page_number)
    if not isinstance(page, generic.DictionaryObject) or _raw(page, "/Type") != "/Page":
        raise _Unrecognised("the time-stamp's /P is not a page")
    annots = _refs(_raw(page, "/Annots"))
    if fields[-1] not in annots:
        raise _Unrecognised("the page does not list the previous time-stamp's widget")
    # (2) The DSS: plain arrays of plain streams, no VRI.
    dss_number = _ref(_raw(catalog, "/DSS"))
    dss = reader.get(dss_number)
    if not isinstance(dss, generic.DictionaryObject) or not set(dict.keys(dss)) <= _DSS_KEYS:
        raise _Unrecognised("a DSS with other entries (VRI)")
    if _raw(dss, "/Type") not in (None, "/DSS"):
        raise _Unrecognised("a DSS of another type")
    arrays = {key: _refs(_raw(dss, key)) if key in dss else [] for key in ("/Certs", "/OCSPs", "/CRLs")}
    held = {key: {hashlib.sha256(reader.stream_data(n)).digest() for n in refs} for key, refs in arrays.items()}

    next_number = int(size)
    if max(reader.offsets, default=0) >= next_number:
        raise _Unrecognised("an object numbered beyond the trailer's /Size")
    rewritten: dict[int, bytes] = {}
    added: dict[int, bytes] = {}
    dss_changed = False
    for key, ders in (("/Certs", certs), ("/CRLs", crls)):
        for der in ders:
            digest = hashlib.sha256(der).digest()
            if digest in held[key]:
                continue
            held[key].add(digest)
            added[next_number] = _plain_stream(der)
            arrays[key].append(next_number)
            next_number += 1
            dss_changed = True
    if dss_changed:
        new_dss = generic.DictionaryObject(dict(dict.items(dss)))
        for key, refs in arrays.items():
            if refs:
                new_dss[generic.NameObject(key)] = generic.ArrayObject(generic.IndirectObject(n, 0, None) for n in refs)
        rewritten[dss_number] = _dump(new_dss)
    # (3) The new field: widget and signature dictionary; the form and the page list it.
    widget, signature = next_number, next_number + 1
    next_number += 2
    widget_ref = generic.IndirectObject(widget, 0, None)
    new_form = generic.DictionaryObject(dict(dict.items(acroform)))
    new_form[generic.NameObject("/Fields")] = generic.ArrayObject(
        [*list.__iter__(_raw(acroform, "/Fields")), widget_ref]
    )
    rewritten[acroform_number] = _dump(new_form)
    new_page = generic.DictionaryObject(dict(dict.items(page)))
    new_page[generic.NameObject("/Annots")] = generic.ArrayObject([*list.__iter__(_raw(page, "/Annots")), widget_ref])
    rewritten[page_number] = _dump(new_page)
    added[widget] = (
        b"<<\n/FT /Sig\n/T %s\n/Type /Annot\n/Subtype /Widget\n/F 132\n/Rect [ 0 0 0 0 ]\n/P %d 0 R\n"
        b"/TU (Timestamp)\n/V %d 0 R\n>>" % (_dump(generic.TextStringObject(field_name)), page_number, signature)
    )
    # (4) The modification date, where the file keeps one.
    stamp_time = at.astimezone(UTC).replace(microsecond=0)
    if isinstance(info, generic.IndirectObject):
        info_number = _ref(info)
        info_dict = reader.get(info_number)
        if not isinstance(info_dict, generic.DictionaryObject):
            raise _Unrecognised("/Info is not a dictionary")
        if "/ModDate" in info_dict:
            new_info = generic.DictionaryObject(dict(dict.items(info_dict)))
            new_info[generic.NameObject("/ModDate")] = generic.pdf_date(stamp_time)
            rewritten[info_number] = _dump(new_info)
    elif info is not None:
        raise _Unrecognised("a direct /Info")
    if "/Metadata" in catalog:
        metadata_number = _ref(_raw(catalog, "/Metadata"))
        metadata = reader.get(metadata_number)
        if not isinstance(metadata, generic.StreamObject) or set(dict.keys(metadata)) != {
            "/Type",
            "/Subtype",
            "/Length",
        }:
            raise _Unrecognised("a filtered or unusual metadata stream")
        xmp = bytes(metadata.data)
        if len(_MODIFY_DATE.findall(xmp)) != 1:
            raise _Unrecognised("XMP metadata without exactly one xmp:ModifyDate")
        xmp = _MODIFY_DATE.sub(b'xmp:ModifyDate="%s"' % stamp_time.isoformat().encode(), xmp)
        rewritten[metadata_number] = b"<<\n/Type /Metadata\n/Subtype /XML\n/Length %d\n>>\nstream\n%s\nendstream" % (
            len(xmp),
            xmp,
        )
    return _Plan(
        rewritten=rewritten,
        added=added,
        widget=widget,
        signature=signature,
        size=next_number,
        trailer=trailer,
        stream_style=reader.stream_style,
        startxref=reader.startxref,
        first_id=_raw_id(ids),
    )


def _write(pdf: bytes, plan: _Plan, *, token: Callable[[bytes], bytes], reserved_hex: int) -> bytes:
    out = bytearray(pdf)
    if not pdf.endswith(b"\n"):
        out += b"\n"
    offsets: dict[int, int] = {}
    for number, body in sorted((plan.rewritten | plan.added).items()):
        offsets[number] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    # The signature dictionary last: /Contents first, so that the gap is easy to find.
    offsets[plan.signature] = len(out)
    out += b"%d 0 obj\n<<\n/Contents " % plan.signature
    contents_start = len(out)
    out += b"<" + b"0" * reserved_hex + b">"
    contents_end = len(out)
    out += b"\n/ByteRange "
    byte_range_at = len(out)
    placeholder = b"[0 %s %s %s]" % ((b"0" * _BR_WIDTH,) * 3)
    out += placeholder
    out += b"\n/Type /DocTimeStamp\n/Filter /Adobe.PPKLite\n/SubFilter /ETSI.RFC3161\n>>\nendobj\n"
    # (5) The cross-reference section, in the file's style.
    trailer = plan.trailer
    first_id = plan.first_id
    ids = b"[ <%s> <%s> ]" % (first_id.hex().encode(), secrets.token_bytes(16).hex().encode())
    info = trailer.get("/Info")
    info_entry = b"/Info %d 0 R\n" % int(info.idnum) if isinstance(info, generic.IndirectObject) else b""
    common = b"/Root %d 0 R\n%s/ID %s\n/Prev %d\n" % (int(trailer["/Root"].idnum), info_entry, ids, plan.startxref)
    xref_at = len(out)
    if plan.stream_style:
        xref_number = plan.size
        offsets[xref_number] = xref_at
        numbers = sorted(offsets)
        rows = b"".join(struct.pack(">BIH", 1, offsets[n], 0) for n in numbers)
        body = zlib.compress(rows)
        index = b" ".join(b"%d" % i for i in _index(numbers))
        out += (
            b"%d 0 obj\n<<\n/Type /XRef\n/Size %d\n/W [ 1 4 2 ]\n/Index [ %s ]\n%s/Filter /FlateDecode\n/Length %d\n>>"
            b"\nstream\n%s\nendstream\nendobj\n" % (xref_number, plan.size + 1, index, common, len(body), body)
        )
    else:
        out += _xref_table(offsets)
        out += b"trailer\n<<\n/Size %d\n%s>>\n" % (plan.size, common)
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    # (3) The byte range, then the token over it.
    length = len(out)
    gaps = (contents_start, contents_end, length - contents_end)
    # Padded with spaces after "]", as pyHanko does.
    out[byte_range_at : byte_range_at + len(placeholder)] = (b"[0 %d %d %d]" % gaps).ljust(len(placeholder))
    digest = hashlib.sha256()
    view = memoryview(out)
    digest.update(view[:contents_start])
    digest.update(view[contents_end:])
    token_hex = token(digest.digest()).hex().encode()
    if len(token_hex) > reserved_hex:
        raise ValueError(f"the time-stamp token needs {len(token_hex)} hex digits, {reserved_hex} reserved")
    view.release()
    out[contents_start + 1 : contents_start + 1 + len(token_hex)] = token_hex
    return bytes(out)


def _raw_id(value: Any) -> bytes:
    first = list.__getitem__(value, 0)
    if not isinstance(first, generic.ByteStringObject | generic.TextStringObject):
        raise _Unrecognised("/ID is not a string")
    raw: bytes = first.original_bytes if isinstance(first, generic.TextStringObject) else bytes(first)
    return raw
