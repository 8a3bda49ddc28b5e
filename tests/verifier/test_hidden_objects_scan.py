"""The faster object-header scan of the hidden-object check (verifier/verify.py ``_object_headers``) finds exactly
what ``_OBJECT_HEADER.finditer`` finds: the same starts, groups and ends, on real licences and on edge cases; and
``_only_hex`` (the /ByteRange hole check) answers as ``_HEX.fullmatch``."""

from __future__ import annotations

import random
from io import BytesIO

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from tests.verifier.conftest import Sealed
from verifier import verify


def _original(data: bytes, start: int, end: int) -> list[tuple[int, int, int, tuple[bytes | None, ...]]]:
    return [(m.start(), m.start(1), m.end(), m.groups()) for m in verify._OBJECT_HEADER.finditer(data, start, end)]


def _ours(data: bytes, start: int, end: int) -> list[tuple[int, int, int, tuple[bytes | None, ...]]]:
    return [(at, m.start(1), m.end(), m.groups()) for at, m in verify._object_headers(data, start, end)]


EDGES = [
    b"1 0 obj",
    b"\n1 0 obj",
    b"\r\n1 0 obj\n",
    b"\r\r 12 0 obj<<>>endobj\n13 0 obj",
    b"x1 0 obj\n2 0 obj",
    b"\n\t\x0c 1\n0\rob",
    b"\n1 0 objx\n2 0 obj 3 0 obj\n4 0 obj",
    b"1 0 obj\n1 0 obj\n",
    b"\n\x00 7  0   obj\n\n\n8 0 obj",
    b"endobj\n9 0 obj\nendobj\r10 0 obj\r\n",
    b"\n 1 0 obj",
    b"",
    b"\n",
]


@pytest.mark.parametrize("data", EDGES)
def test_edge_cases_every_window(data: bytes) -> None:
    for start in range(len(data) + 2):
        for end in range(start, len(data) + 2):
            assert _ours(data, start, end) == _original(data, start, end), (data, start, end)


def test_random_bytes() -> None:
    rng = random.Random(20261128)  # noqa: S311  # reproducible test data, not cryptography
    alphabet = [b"\n", b"\r", b" ", b"\t", b"\x0c", b"\x00", b"0", b"1", b"7", b"obj", b"o", b"x", b"endobj", b"<<"]
    for _ in range(3000):
        data = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        start = rng.randrange(0, len(data) + 2)
        end = rng.randrange(start, len(data) + 3)
        assert _ours(data, start, end) == _original(data, start, end), (data, start, end)


def test_real_licences(sealed: Sealed) -> None:
    for data in (sealed.b_lta, sealed.b_lta_form, sealed.b_lt, sealed.b_b):
        reader = PdfFileReader(BytesIO(data))
        found = 0
        for revision in range(1, reader.xrefs.total_revisions):
            meta = reader.xrefs.get_xref_container_info(revision)
            start = verify._revision_end(data, reader, revision - 1)
            end = max(start, min(meta.declared_startxref, meta.start_location))
            expected = _original(data, start, end)
            assert _ours(data, start, end) == expected
            found += len(expected)
        # The whole file too, from every offset near each header.
        whole = _original(data, 0, len(data))
        assert _ours(data, 0, len(data)) == whole
        for at, *_ in whole[:20]:
            for start in range(max(0, at - 3), at + 3):
                assert _ours(data, start, len(data)) == _original(data, start, len(data))
        assert found > 0 or data is sealed.b_b


def test_only_hex_is_the_hex_pattern() -> None:
    for byte in range(256):
        for text in (bytes([byte]), b"0a" + bytes([byte]), bytes([byte]) * 3 + b"F", b"\r\n" + bytes([byte])):
            assert verify._only_hex(text) == (verify._HEX.fullmatch(text) is not None), text
    assert verify._only_hex(b"")
    rng = random.Random(7)  # noqa: S311  # reproducible test data, not cryptography
    for _ in range(2000):
        text = bytes(rng.choice(b"0123456789abcdefABCDEFgG \n\r\t\x0c\x00\x0b<>%") for _ in range(rng.randrange(12)))
        assert verify._only_hex(text) == (verify._HEX.fullmatch(text) is not None), text


def test_only_hex_on_real_contents(sealed: Sealed) -> None:
    for data in (sealed.b_lta, sealed.b_lt, sealed.b_b):
        for sig in PdfFileReader(BytesIO(data)).embedded_signatures:
            _, len1, start2, _ = (int(v) for v in sig.byte_range)
            body = data[len1 + 1 : start2 - 1]
            assert verify._only_hex(body) and verify._HEX.fullmatch(body) is not None
            assert verify._check_byte_range(data, sig) is None
            tampered = body[:100] + b"x" + body[101:]
            assert not verify._only_hex(tampered) and verify._HEX.fullmatch(tampered) is None
