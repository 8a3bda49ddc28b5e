"""A faster reader for PDF hex strings in pyHanko, with the same results (the one pyHanko hot spot we patch).

pyHanko reads a hex string one byte at a time through its tokenizer: for a seal's ``/Contents`` (16-24 KiB of
hex digits, plus a document time-stamp's) that is a quarter to a third of verifying a licence. The replacement
reads up to the closing ``>`` in one go and decodes with ``bytes.fromhex`` when the string holds only hex
digits and PDF whitespace, the common case; anything else (a comment, a stray character, a truncated file) goes
to pyHanko's own reader from the same position, so errors and edge cases are pyHanko's. The result object is
built by pyHanko's ``pdf_string``, as in the original. ``tests/verifier/test_speedups.py`` compares both readers.
"""

from __future__ import annotations

import os
import re
from typing import Any

from pyhanko.pdf_utils import generic

_ORIGINAL: Any = generic.read_hex_string_from_stream
_PLAIN = re.compile(rb"[0-9A-Fa-f\x00\t\n\x0c\r ]*")
_WHITESPACE = re.compile(rb"[\x00\t\n\x0c\r ]+")
_CHUNK = 1 << 16


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
            if _PLAIN.fullmatch(body) is None:
                break
            stream.seek(start + 1 + len(body) + 1, os.SEEK_SET)
            digits = _WHITESPACE.sub(b"", body)
            if len(digits) % 2:
                digits += b"0"
            return generic.pdf_string(bytes.fromhex(digits.decode("ascii")))
        pieces.append(chunk)
    stream.seek(start, os.SEEK_SET)
    return _ORIGINAL(stream)


def install() -> None:
    """Use the fast reader in pyHanko's object parser (idempotent)."""
    generic.read_hex_string_from_stream = read_hex_string_from_stream
