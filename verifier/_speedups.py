"""Faster readers for PDF hex strings and names in pyHanko, with the same results (the pyHanko hot spots we patch).

pyHanko reads a hex string one byte at a time through its tokenizer: for a seal's ``/Contents`` (16-24 KiB of
hex digits, plus a document time-stamp's) that is a quarter to a third of verifying a licence. The replacement
reads up to the closing ``>`` in one go and decodes with ``bytes.fromhex`` when the string holds only hex
digits and PDF whitespace, the common case; anything else (a comment, a stray character, a truncated file) goes
to pyHanko's own reader from the same position, so errors and edge cases are pyHanko's. The result object is
built by pyHanko's ``pdf_string``, as in the original. ``tests/verifier/test_speedups.py`` compares both readers.

Names (``/Type``, ``/Annots``...) are read the same way: pyHanko reads them a byte at a time and decodes ``#``
escapes; once the fast path made chain and revocation cheap, that tokenizer was a third of what was left. The
replacement matches a name up to its delimiter in one go and builds the ``NameObject`` directly when it is plain
printable ASCII without ``#`` escapes; anything else (an escape, a byte pyHanko rejects, a name running to the end
of what was read) goes to pyHanko's reader from the same position. ``tests/verifier/test_fast_path_speedups.py``
compares both.

And the whitespace skipper every token read starts with (``misc.read_non_whitespace``, a byte at a time): the
replacement finds the next non-whitespace byte in a look-ahead and falls back to pyHanko's when that byte starts a
comment or the look-ahead holds none.
"""

from __future__ import annotations

import os
from typing import Any

from pyhanko.pdf_utils import generic, misc

from verifier import _object_reader

_ORIGINAL: Any = generic.read_hex_string_from_stream
_ORIGINAL_NAME: Any = generic.NameObject.read_from_stream
_NAME_CHUNK = 256
_ORIGINAL_NON_WHITESPACE: Any = misc.read_non_whitespace
# misc.PDF_WHITESPACE is b" \n\r\t\f\x00" (the same bytes as _PDF_WHITESPACE below).
_WHITESPACE_CHUNK = 64
_CHUNK = 1 << 16
_PDF_WHITESPACE = b"\x00\t\n\x0c\r "
_HEX_DIGITS = b"0123456789ABCDEFabcdef"


def read_hex_string_from_stream(stream: Any) -> Any:
    """Drop-in for :func:`pyhanko.pdf_utils.generic.read_hex_string_from_stream`."""
    start = stream.tell()
    pieces = []
    stream.read(1)  # the opening "<"
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        end = chunk.find(b">")
        if end >= 0:
            pieces.append(chunk[:end])
            body = b"".join(pieces)
            # Only hex digits and PDF whitespace: checked and stripped in C (bytes.translate), not per byte.
            digits = body.translate(None, _PDF_WHITESPACE)
            if digits.translate(None, _HEX_DIGITS):
                break
            stream.seek(start + 1 + len(body) + 1, os.SEEK_SET)
            if len(digits) % 2:
                digits += b"0"
            return generic.pdf_string(bytes.fromhex(digits.decode("ascii")))
        pieces.append(chunk)
    stream.seek(start, os.SEEK_SET)
    return _ORIGINAL(stream)


def read_name_from_stream(stream: Any) -> Any:
    """Drop-in for :meth:`pyhanko.pdf_utils.generic.NameObject.read_from_stream`."""
    start = stream.tell()
    chunk = stream.read(_NAME_CHUNK)
    # A plain name (printable ASCII without "#") ending inside the chunk at a delimiter or whitespace, which stays
    # unread, as in pyHanko: the object reader's pattern.
    match = _object_reader.PLAIN_NAME.match(chunk)
    if match is not None:
        stream.seek(start + match.end(), os.SEEK_SET)
        return generic.NameObject("/" + match.group(1).decode("ascii"))
    stream.seek(start, os.SEEK_SET)
    return _ORIGINAL_NAME(stream)


def read_non_whitespace(stream: Any, seek_back: bool = False, allow_eof: bool = False) -> Any:
    """Drop-in for :func:`pyhanko.pdf_utils.misc.read_non_whitespace`."""
    start = stream.tell()
    chunk = stream.read(_WHITESPACE_CHUNK)
    # The look-ahead from its first non-whitespace byte on (bytes.lstrip in C, the same set of bytes as pyHanko's).
    rest = chunk.lstrip(_PDF_WHITESPACE)
    if rest and rest[0] != 0x25:  # not "%": no comment to skip
        at = start + len(chunk) - len(rest)
        stream.seek(at if seek_back else at + 1, os.SEEK_SET)
        return rest[:1]
    stream.seek(start, os.SEEK_SET)
    return _ORIGINAL_NON_WHITESPACE(stream, seek_back=seek_back, allow_eof=allow_eof)


def install() -> None:
    """Use the fast readers in pyHanko's object parser (idempotent)."""
    generic.read_hex_string_from_stream = read_hex_string_from_stream
    generic.NameObject.read_from_stream = staticmethod(read_name_from_stream)  # type: ignore[method-assign]
    # pyHanko's modules call it as misc.read_non_whitespace or through generic's own import of the name.
    misc.read_non_whitespace = read_non_whitespace
    generic.read_non_whitespace = read_non_whitespace  # type: ignore[attr-defined]  # imported there by name
    _object_reader.install()
