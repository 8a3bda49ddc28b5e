"""Damage to a sealed revision itself, told apart from changes made after it (``invalid``, not ``modified``).

Example::

    problem = signature_relocated(reader, sig) or signed_bytes_damage(data)

``modified`` means a later revision changed the document while the sealed revision is intact. When the sealed
revision itself is damaged, the seal is broken: ``invalid``. Two checks here, each returning a short English
detail or None:

* :func:`signed_bytes_damage`: reading the raw bytes, without trusting the file's structure, every
  ``/ByteRange [0 a b c]`` written in the file must still fit it (the signed bytes were not cut off) and must
  leave out exactly a ``<hex>`` string (the signed bytes were not moved by inserting or deleting bytes before
  or inside them). It is what tells a file cut inside its signed bytes, or with bytes inserted into them, from a
  file with an incomplete or junk *later* update.
* :func:`signature_relocated`: the signature dictionary (with its ``/ByteRange`` and ``/Contents``) must be the
  one written in the revision it signs. Redefined in a later update, e.g. moved to another object that
  points at the same bytes, it is no longer what was signed.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["sealed_revision_readable", "signature_relocated", "signed_bytes_damage"]

_BYTE_RANGE = re.compile(
    rb"/ByteRange[\x00\t\n\x0c\r ]*\[[\x00\t\n\x0c\r ]*(\d+)[\x00\t\n\x0c\r ]+(\d+)"
    rb"[\x00\t\n\x0c\r ]+(\d+)[\x00\t\n\x0c\r ]+(\d+)[\x00\t\n\x0c\r ]*\]"
)
_HEX_BYTES = b"0123456789ABCDEFabcdef\x00\t\n\x0c\r "


def signed_bytes_damage(data: bytes) -> str | None:
    """What damage the signed bytes of any signature written in ``data`` show (cut off, moved), or None."""
    for found in _BYTE_RANGE.finditer(data):
        first, len1, start2, len2 = (int(value) for value in found.groups())
        if first != 0 or len1 >= start2:
            continue  # not a signature's byte range this check can judge; the structural checks do
        if start2 + len2 > len(data):
            return f"a /ByteRange at offset {found.start()} ends at {start2 + len2}, the file at {len(data)}: cut off"
        hole = data[len1:start2]
        if len(hole) < 2 or hole[:1] != b"<" or hole[-1:] != b">" or hole[1:-1].translate(None, _HEX_BYTES):
            return (
                f"the /ByteRange at offset {found.start()} no longer leaves out its /Contents string: "
                "the signed bytes were moved or overwritten"
            )
    return None


def _covered_revision(data: bytes, reader: Any, byte_range_end: int) -> int | None:
    """The newest revision whose ``%%EOF`` lies within the first ``byte_range_end`` bytes, or None."""
    covered = None
    for revision in range(reader.xrefs.total_revisions):
        meta = reader.xrefs.get_xref_container_info(revision)
        eof = data.find(b"%%EOF", meta.end_location)
        if eof >= 0 and eof + 5 <= byte_range_end:
            covered = revision
    return covered


def signature_relocated(data: bytes, reader: Any, sig: Any) -> str | None:
    """Whether the signature dictionary of ``sig`` (pyHanko's ``EmbeddedPdfSignature``) was (re)written after
    the revision its ``/ByteRange`` covers, described; None when it is the one written in that revision."""
    try:
        reference = sig.sig_field.raw_get("/V").reference
        changed = int(reader.xrefs.get_last_change(reference))
        _, _, start2, len2 = (int(value) for value in sig.byte_range)
        covered = _covered_revision(data, reader, start2 + len2)
    except Exception:  # a direct /V, an unreadable xref entry or /ByteRange: the structural checks decide
        return None
    if covered is not None and changed > covered:
        return (
            f"signature {sig.field_name}'s dictionary (object {reference.idnum}) was written in revision "
            f"{changed}, after the revision {covered} its /ByteRange covers: relocated or rewritten"
        )
    return None


def sealed_revision_readable(data: bytes, *, limit: int = 16) -> bool:
    """Whether some prefix of ``data`` ending at one of its last ``limit`` ``%%EOF`` markers reads as a PDF with a
    seal (a signature that is not a document time-stamp). When the whole file does not read, this tells junk or an
    incomplete update *after* an intact sealed revision (``modified``) from a file cut inside its sealed revision,
    or one that never held a seal (``invalid``)."""
    from io import BytesIO

    from pyhanko.pdf_utils.reader import PdfFileReader

    ends = [found.end() for found in re.finditer(rb"%%EOF", data)][-limit:]
    for end in reversed(ends):
        try:
            reader = PdfFileReader(BytesIO(data[:end]), strict=False)
            if any(sig.sig_object_type != "/DocTimeStamp" for sig in reader.embedded_signatures):
                return True
        except Exception:  # noqa: S112 - this prefix does not read; try an earlier one
            continue
    return False
