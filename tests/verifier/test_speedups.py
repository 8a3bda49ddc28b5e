"""The fast hex-string reader gives exactly what pyHanko's own reader gives, errors included."""

from __future__ import annotations

from io import BytesIO

import pytest
from pyhanko.pdf_utils.misc import PdfStreamError

from verifier import _speedups


@pytest.mark.parametrize(
    "text",
    [b"<>", b"<41>", b"<4142 43>", b"<414>", b"<41\n42\r\n43\t44>", b"<%comment\n41>", b"<e4bda0e5a5bd>"],
)
def test_same_result_and_position_as_pyhanko(text: bytes) -> None:
    data = text + b" rest"
    ours, theirs = BytesIO(data), BytesIO(data)
    assert _speedups.read_hex_string_from_stream(ours) == _speedups._ORIGINAL(theirs)
    assert ours.tell() == theirs.tell()


@pytest.mark.parametrize("text", [b"<41zz>", b"<4142"])
def test_same_errors_as_pyhanko(text: bytes) -> None:
    with pytest.raises(PdfStreamError):
        _speedups._ORIGINAL(BytesIO(text))
    with pytest.raises(PdfStreamError):
        _speedups.read_hex_string_from_stream(BytesIO(text))


def test_installed_by_the_verifier() -> None:
    from pyhanko.pdf_utils import generic

    import verifier.verify  # noqa: F401

    assert generic.read_hex_string_from_stream is _speedups.read_hex_string_from_stream
