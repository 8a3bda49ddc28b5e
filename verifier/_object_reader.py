"""A faster reader for whole PDF objects in pyHanko, with the same results (see verifier/_speedups.py for the others).

Once the fast path (verifier/_fastpath.py) made chain, revocation and coverage cheap, about a fifth of what was
left of verifying a licence was pyHanko's object parser: ``generic.read_object`` walks a dictionary one token at a
time through ``stream.read``/``stream.seek``, each token a few Python calls. A licence's ~25 objects (catalogue, pages,
the signature dictionaries, the DSS and its streams, the widgets) are almost all plain dictionaries and arrays of
names, numbers, references and strings.

:func:`read_object` parses that plain subset straight from the bytes under the ``BytesIO`` (``getvalue()`` shares
them; no copy) with a handful of regular expressions, and builds exactly the objects pyHanko builds: the same
classes, the same values, ``container_ref`` set where pyHanko sets it (on every value, not on dictionary keys), the
stream left at the same position. Stream payloads are read by pyHanko's own ``_maybe_read_stream_payload``.

Anything outside the subset makes it give up and run pyHanko's reader from the same position, so errors, warnings
and edge cases stay pyHanko's: a comment, a name with ``#`` escapes or bytes outside printable ASCII, a literal
string with unescaped parentheses inside or an escape pyHanko refuses (``\\8``, ``\\400``, ``\\q``), a repeated
dictionary key, a ``>`` not followed by ``>``, a number pyHanko would refuse or read differently (``1,2``, a lone
``-``), a reference written with whitespace pyHanko's pattern reads differently, the end of the data inside an
object, any stream that is not a plain ``BytesIO``, and content streams (operators).
``tests/verifier/test_object_reader.py`` compares both readers on every object of real documents and on thousands
of mutated copies of them.
"""

from __future__ import annotations

import re
from io import BytesIO
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfReadError

_ORIGINAL: Any = generic.read_object
# pyHanko's object classes are untyped; one Any-typed handle instead of an ignore on every call.
_pdf: Any = generic
_NO = generic.ContentOpReading.NO

_WHITESPACE = b"\x00\t\n\x0c\r "
_DELIMITERS = b"()<>[]{}/%"
# A plain name: printable ASCII other than delimiters and "#", ended by whitespace or a delimiter (never by the end
# of the data, or by a byte pyHanko would read as part of the name).
_REGULAR = bytes(b for b in range(0x21, 0x7F) if b not in _DELIMITERS + b"#")
PLAIN_NAME = re.compile(b"/([" + re.escape(_REGULAR) + b"]*)(?=[" + re.escape(_WHITESPACE + _DELIMITERS) + b"])")
_SKIP = re.compile(b"[" + re.escape(_WHITESPACE) + b"]*")
# pyHanko reads a number up to the first byte outside "+,-.0123456789" (NumberObject.NumberPattern is [^+-.0-9]).
_NUMBER = re.compile(rb"[+-]?[0-9]+(?![+,\-.0-9])")
_REAL = re.compile(rb"[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?![+,\-.0-9])")
# "12 0 R" with plain spaces or line ends; pyHanko decides on a 20-byte look-ahead with INDIRECT_PATTERN.
_REFERENCE = re.compile(rb"([0-9]+)[\t\n\x0c\r ]+([0-9]+)[\t\n\x0c\r ]+R")
# A literal string without unescaped parentheses inside (pyHanko counts nested ones; we leave those to it).
_LITERAL = re.compile(rb"\(((?:[^()\\]|\\[\s\S])*)\)")
# The escapes pyHanko decodes: up to three digits (octal, or refused), a line end of one or two bytes (dropped),
# n r t b f, and the bytes it passes through as they are.
_ESCAPE = re.compile(rb"\\(?:([0-9]{1,3})|([\r\n][\r\n]?)|([nrtbf])|([() /%<>\[\]#_&$\\]))|\\")
_CONTROL = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}
_HEX = re.compile(b"<([0-9A-Fa-f" + re.escape(_WHITESPACE) + b"]*)>")
_NOT_STREAM = frozenset(range(256)) - set(b"s%" + _WHITESPACE)
_ALPHA = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


class _Unsupported(Exception):
    """Outside the plain subset: pyHanko's reader decides."""


def _unescape(escape: re.Match[bytes]) -> bytes:
    """One escape in a literal string, decoded as pyHanko decodes it; refused where pyHanko raises."""
    digits, line_end, control, itself = escape.groups()
    if digits is not None:
        if b"8" in digits or b"9" in digits or int(digits, 8) > 255:  # pyHanko raises on these
            raise _Unsupported
        return bytes((int(digits, 8),))
    if line_end is not None:
        return b""
    if control is not None:
        return _CONTROL[control]
    if itself is not None:
        return itself
    raise _Unsupported  # an escape pyHanko refuses


class _Parse:
    """One top-level object read from ``data`` (the bytes under ``stream``)."""

    __slots__ = ("container_ref", "data", "handler", "stream")

    def __init__(self, stream: BytesIO, data: bytes, container_ref: Any) -> None:
        self.stream = stream
        self.data = data
        self.container_ref = container_ref
        self.handler = container_ref.get_pdf_handler()

    def skip(self, at: int) -> int:
        """The position of the next byte that is not whitespace; refused at a comment or the end of the data."""
        at = _SKIP.match(self.data, at).end()  # type: ignore[union-attr]  # matches the empty string
        if at >= len(self.data) or self.data[at] == 0x25:  # "%"
            raise _Unsupported
        return at

    def value(self, at: int, as_metadata_stream: bool = False) -> tuple[Any, int]:
        """The object starting exactly at ``at`` (pyHanko does not skip whitespace here either) and its end."""
        data = self.data
        if at >= len(data):
            raise _Unsupported
        first = data[at]
        if first == 0x2F:  # "/"
            match = PLAIN_NAME.match(data, at)
            if match is None:
                raise _Unsupported
            result: Any = _pdf.NameObject("/" + match.group(1).decode("ascii"))
            end = match.end()
        elif first == 0x3C:  # "<"
            if data[at + 1 : at + 2] == b"<":
                result, end = self.dictionary(at, as_metadata_stream)
            else:
                match = _HEX.match(data, at)
                if match is None:
                    raise _Unsupported
                digits = match.group(1).translate(None, _WHITESPACE)
                if len(digits) % 2:
                    digits += b"0"
                result, end = _pdf.pdf_string(bytes.fromhex(digits.decode("ascii"))), match.end()
        elif first == 0x5B:  # "["
            result, end = self.array(at)
        elif first == 0x28:  # "("
            match = _LITERAL.match(data, at)
            if match is None:
                raise _Unsupported
            body = match.group(1)
            if b"\\" in body:
                body = _ESCAPE.sub(_unescape, body)
            result, end = _pdf.pdf_string(body), match.end()
        elif first == 0x74 and data[at : at + 4] == b"true":  # pyHanko reads exactly these 4 (or 5) bytes
            result, end = _pdf.BooleanObject(True), at + 4
        elif first == 0x66 and data[at : at + 5] == b"false":
            result, end = _pdf.BooleanObject(False), at + 5
        elif first == 0x6E and data[at : at + 4] == b"null":
            result, end = _pdf.NullObject(), at + 4
        elif 0x30 <= first <= 0x39:
            result, end = self.reference_or_number(at)
        elif first in b"+-.":
            result, end = self.number(at)
        else:
            raise _Unsupported
        result.container_ref = self.container_ref
        return result, end

    def reference_or_number(self, at: int) -> tuple[Any, int]:
        data = self.data
        match = _REFERENCE.match(data, at)
        if match is None:
            # pyHanko's pattern (any \s, e.g. a vertical tab) may still see a reference where ours does not.
            if generic.INDIRECT_PATTERN.match(data[at : at + 20]) is not None:
                raise _Unsupported
            return self.number(at)
        end = match.end()
        # pyHanko's look-ahead is 20 bytes and must include a byte after the "R" that is not a letter.
        if end + 1 > at + 20 or end >= len(data) or data[end] in _ALPHA:
            raise _Unsupported
        idnum, generation = int(match.group(1)), int(match.group(2))
        if idnum <= 0:
            raise _Unsupported
        return _pdf.IndirectObject(idnum, generation, self.handler), end

    def number(self, at: int) -> tuple[Any, int]:
        data = self.data
        match = _NUMBER.match(data, at)
        if match is not None and match.end() < len(data):
            return _pdf.NumberObject(int(match.group())), match.end()
        match = _REAL.match(data, at)
        if match is not None and match.end() < len(data):
            return _pdf.FloatObject(match.group().decode("ascii")), match.end()
        raise _Unsupported

    def array(self, at: int) -> tuple[Any, int]:
        result = _pdf.ArrayObject()
        at = self.skip(at + 1)
        while self.data[at] != 0x5D:  # "]"
            item, at = self.value(at)
            result.append(item)
            at = self.skip(at)
        return result, at + 1

    def dictionary(self, at: int, as_metadata_stream: bool) -> tuple[Any, int]:
        data = self.data
        entries: dict[Any, Any] = {}
        at = self.skip(at + 2)
        while data[at] != 0x3E:  # ">"
            match = PLAIN_NAME.match(data, at)
            if match is None:
                raise _Unsupported
            key = _pdf.NameObject("/" + match.group(1).decode("ascii"))
            if key in entries:
                raise _Unsupported  # pyHanko warns (or refuses, when strict)
            entries[key], at = self.value(self.skip(match.end()))
            at = self.skip(at)
        if data[at + 1 : at + 2] != b">":
            raise _Unsupported
        at += 2
        after = _SKIP.match(data, at).end()  # type: ignore[union-attr]
        if after < len(data) and data[after] in _NOT_STREAM:
            return _pdf.DictionaryObject(entries), at
        # Possibly a stream: pyHanko's own code reads the keyword and the payload.
        self.stream.seek(at)
        payload = _pdf._maybe_read_stream_payload(self.stream, entries, self.handler)
        at = self.stream.tell()
        if payload is None:
            return _pdf.DictionaryObject(entries), at
        stream_class: Any = _pdf.StreamObject
        if as_metadata_stream:
            from pyhanko.pdf_utils.metadata.xmp_xml import MetadataStream

            stream_class = MetadataStream
        return stream_class(entries, encoded_data=payload), at


_LINE_END = re.compile(rb"[\r\n]")


def comment_runs_to_end(data: bytes, at: int) -> bool:
    """True when ``data`` has a comment at ``at`` with no line end before the end of the data.

    pyHanko's ``read_object`` skips a comment byte by byte until ``\r`` or ``\n`` and never checks for the end of
    the data, so on such input it loops forever (found by fuzzing: tests/fuzz/regressions/object_reader/).
    """
    return data[at : at + 1] == b"%" and _LINE_END.search(data, at) is None


def _stream_comment_runs_to_end(stream: Any) -> bool:
    # Streams other than BytesIO (rare: the verifier reads files through BytesIO) are peeked at and put back.
    start = stream.tell()
    try:
        if stream.read(1) != b"%":
            return False
        while chunk := stream.read(65536):
            if b"\r" in chunk or b"\n" in chunk:
                return False
        return True
    finally:
        stream.seek(start)


def read_object(
    stream: Any,
    container_ref: Any,
    as_metadata_stream: bool = False,
    in_content_stream: Any = _NO,
) -> Any:
    """Drop-in for :func:`pyhanko.pdf_utils.generic.read_object` (which it calls for everything outside its subset),
    except that a comment running to the end of the data is a :class:`PdfReadError` instead of an endless loop."""
    if type(stream) is not BytesIO:
        if _stream_comment_runs_to_end(stream):
            raise PdfReadError("a comment runs to the end of the data (no line end after it)")
        return _ORIGINAL(stream, container_ref, as_metadata_stream, in_content_stream)
    start = stream.tell()
    data = stream.getvalue()
    if comment_runs_to_end(data, start):
        raise PdfReadError("a comment runs to the end of the data (no line end after it)")
    if in_content_stream is not _NO:
        return _ORIGINAL(stream, container_ref, as_metadata_stream, in_content_stream)
    try:
        result, end = _Parse(stream, data, container_ref).value(start, as_metadata_stream)
    except _Unsupported:
        stream.seek(start)
        return _ORIGINAL(stream, container_ref, as_metadata_stream, in_content_stream)
    stream.seek(end)
    return result


def install() -> None:
    """Use the fast reader wherever pyHanko reads an object (idempotent): its reader calls ``generic.read_object``,
    and so do pyHanko's dictionary and array readers for their values when they are the ones reading."""
    generic.read_object = read_object
