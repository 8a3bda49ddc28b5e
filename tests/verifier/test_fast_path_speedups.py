"""The fast PDF name reader (verifier/_speedups.py) gives exactly what pyHanko's own reader gives, errors included."""

from __future__ import annotations

from io import BytesIO

import pytest
from pyhanko.pdf_utils.misc import PdfReadError

from verifier import _speedups

NAMES = [
    b"/Type /Page",
    b"/Type/Page",
    b"/Annots[",
    b"/A<<",
    b"/ByteRange [0 1 2 3]",
    b"/ (empty name)",
    b"/A#20B rest",
    b"/Lime#23Green ",
    b"/paired#28#29parentheses ",
    b"/The_Key_of_F#23_Minor ",
    b"/ETSI.CAdES.detached\n",
    b"/a%comment\n",
    b"/x\x00",
    b"/" + b"N" * 300 + b" ",  # longer than the fast reader's look-ahead
    b"/AtTheEnd",  # runs to the end of the stream
    b"/\xe4\xb8\xad ",  # a raw non-ASCII byte: pyHanko refuses it
]


def _read(reader: object, data: bytes) -> tuple[object, int, str | None]:
    stream = BytesIO(data)
    try:
        value = reader(stream)  # type: ignore[operator]
    except PdfReadError as exc:
        return None, -1, type(exc).__name__
    return value, stream.tell(), None


@pytest.mark.parametrize("data", NAMES)
def test_same_result_position_and_error_as_pyhanko(data: bytes) -> None:
    ours = _read(_speedups.read_name_from_stream, data)
    theirs = _read(_speedups._ORIGINAL_NAME, data)
    assert ours == theirs
    if ours[0] is not None:
        assert type(ours[0]) is type(theirs[0])


def test_not_a_name_is_pyhankos_error() -> None:
    with pytest.raises(PdfReadError):
        _speedups.read_name_from_stream(BytesIO(b"Type"))


def test_installed_by_the_verifier() -> None:
    from pyhanko.pdf_utils import generic

    import verifier.verify  # noqa: F401

    assert generic.NameObject.read_from_stream is _speedups.read_name_from_stream


WHITESPACE_CASES = [
    b"x",
    b"   x",
    b"\r\n\t\x0c\x00 <<",
    b"  %comment\n  x",
    b"%c1\n%c2\r\n/Name",
    b"",
    b"     ",
    b" " * 100 + b"late",  # beyond the fast reader's look-ahead
    b"\n%only a comment",
    b" " * 63 + b"x",  # the last byte of the look-ahead
    b" " * 64 + b"x",  # just after it
    b"\x00x",
    b"\x0b x",  # vertical tab: not PDF whitespace
    b"\x85 x",
    b" \xa0",
    b" %",
    b"\n)",
]


def test_whitespace_set_is_pyhankos() -> None:
    from pyhanko.pdf_utils import misc

    assert set(_speedups._PDF_WHITESPACE) == set(misc.PDF_WHITESPACE)
    assert len(_speedups._PDF_WHITESPACE) == len(set(misc.PDF_WHITESPACE))


@pytest.mark.parametrize("offset", [0, 1, 3])
def test_whitespace_skipping_every_byte_value(offset: int) -> None:
    for byte in range(256):
        for prefix in (b"", b" ", b"\r\n"):
            data = b"ab"[:offset] + prefix + bytes([byte]) + b"z"
            for seek_back in (False, True):
                results = []
                for reader in (_speedups.read_non_whitespace, _speedups._ORIGINAL_NON_WHITESPACE):
                    stream = BytesIO(data)
                    stream.seek(min(offset, len(data)))
                    try:
                        value = reader(stream, seek_back=seek_back)
                    except PdfReadError as exc:
                        results.append((type(exc).__name__, -1))
                        continue
                    results.append((value, stream.tell()))
                assert results[0] == results[1], (data, seek_back)


@pytest.mark.parametrize("data", WHITESPACE_CASES)
@pytest.mark.parametrize("seek_back", [False, True])
@pytest.mark.parametrize("allow_eof", [False, True])
def test_whitespace_skipping_is_pyhankos(data: bytes, seek_back: bool, allow_eof: bool) -> None:
    def run(reader: object) -> tuple[object, int]:
        stream = BytesIO(data)
        try:
            value = reader(stream, seek_back=seek_back, allow_eof=allow_eof)  # type: ignore[operator]
        except PdfReadError as exc:
            return type(exc).__name__, -1
        return value, stream.tell()

    assert run(_speedups.read_non_whitespace) == run(_speedups._ORIGINAL_NON_WHITESPACE)


def test_whitespace_skipping_installed_where_pyhanko_calls_it() -> None:
    from pyhanko.pdf_utils import generic, misc

    import verifier.verify  # noqa: F401

    assert misc.read_non_whitespace is _speedups.read_non_whitespace
    assert generic.read_non_whitespace is _speedups.read_non_whitespace  # type: ignore[attr-defined]
