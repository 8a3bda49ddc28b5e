"""The vector QR decoder (verifier/_qr.py) against the ``qrcode`` package: tables and round trips."""

from __future__ import annotations

import random
import string

import pytest
import qrcode
from qrcode import base, util

from verifier._qr import _ALIGNMENT, _RS_BLOCKS, QRDecodeError, decode_matrix

LEVELS = [
    qrcode.constants.ERROR_CORRECT_L,
    qrcode.constants.ERROR_CORRECT_M,
    qrcode.constants.ERROR_CORRECT_Q,
    qrcode.constants.ERROR_CORRECT_H,
]


def test_the_standard_tables_match_the_qrcode_package() -> None:
    for version in range(1, 41):
        assert _ALIGNMENT[version - 1] == tuple(util.PATTERN_POSITION_TABLE[version - 1])
        for level in range(4):
            flat = tuple(v for group in _RS_BLOCKS[version - 1][level] for v in group)
            assert flat == tuple(base.RS_BLOCK_TABLE[(version - 1) * 4 + level])


@pytest.mark.parametrize("version", [1, 2, 6, 7, 10, 14, 27, 40])
def test_symbols_of_every_level_and_mask_round_trip(version: int) -> None:
    rnd = random.Random(version)  # noqa: S311 - reproducible test data, not secrets
    for level in LEVELS:
        for mask in range(8):
            text = "https://s.example/v/" + "".join(rnd.choice(string.ascii_letters) for _ in range(rnd.randint(1, 20)))
            symbol = qrcode.QRCode(version=version, error_correction=level, border=0, mask_pattern=mask)
            symbol.add_data(text if version > 2 else text[:7])
            symbol.make(fit=False)
            assert decode_matrix(symbol.get_matrix()).decode() == (text if version > 2 else text[:7])


def test_numeric_and_alphanumeric_segments() -> None:
    symbol = qrcode.QRCode(border=0)
    symbol.add_data("HELLO WORLD 12345")
    symbol.add_data("0123456789")
    symbol.make()
    assert decode_matrix(symbol.get_matrix()) == b"HELLO WORLD 123450123456789"


def test_a_damaged_matrix_is_refused_not_guessed() -> None:
    symbol = qrcode.QRCode(version=3, border=0)
    symbol.add_data("https://s.example/v/L123")
    symbol.make(fit=False)
    matrix = [list(row) for row in symbol.get_matrix()]
    matrix[12][26] = not matrix[12][26]  # one data module flipped
    with pytest.raises(QRDecodeError):
        decode_matrix(matrix)
    with pytest.raises(QRDecodeError):
        decode_matrix([[False] * 20] * 20)
