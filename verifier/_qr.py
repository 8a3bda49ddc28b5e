"""Decoding a QR code from its exact module matrix (no image, no scanner): for the stamp's vector QR code.

The seal stamp draws its QR code as filled rectangles in the signature widget's appearance stream, so the module
matrix can be read back exactly from the PDF (see :mod:`verifier.stamp`); no rendering or image processing is
needed. This module turns such a matrix into its payload, following ISO/IEC 18004:2015: format information
(BCH-checked), unmasking, the data module walk, de-interleaving of the Reed-Solomon blocks, a syndrome check of
every block (a matrix with any error is refused rather than corrected: the matrix comes from vectors and is
exact, so an error means it is not a QR code we can trust to read), and the numeric, alphanumeric and byte
segments.

The two tables (error correction blocks, alignment pattern centres) are the standard's tables 9 and E.1;
``tests/verifier/test_qr_decode.py`` checks them against the ``qrcode`` package and round-trips its symbols.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, lru_cache

__all__ = ["QRDecodeError", "decode_matrix"]


class QRDecodeError(ValueError):
    """The matrix is not a readable, error-free QR code."""


# Per version (line), per level L|M|Q|H: blocks as "count,total codewords,data codewords" groups joined by ";".
_RS_TEXT = """\
1,26,19|1,26,16|1,26,13|1,26,9
1,44,34|1,44,28|1,44,22|1,44,16
1,70,55|1,70,44|2,35,17|2,35,13
1,100,80|2,50,32|2,50,24|4,25,9
1,134,108|2,67,43|2,33,15;2,34,16|2,33,11;2,34,12
2,86,68|4,43,27|4,43,19|4,43,15
2,98,78|4,49,31|2,32,14;4,33,15|4,39,13;1,40,14
2,121,97|2,60,38;2,61,39|4,40,18;2,41,19|4,40,14;2,41,15
2,146,116|3,58,36;2,59,37|4,36,16;4,37,17|4,36,12;4,37,13
2,86,68;2,87,69|4,69,43;1,70,44|6,43,19;2,44,20|6,43,15;2,44,16
4,101,81|1,80,50;4,81,51|4,50,22;4,51,23|3,36,12;8,37,13
2,116,92;2,117,93|6,58,36;2,59,37|4,46,20;6,47,21|7,42,14;4,43,15
4,133,107|8,59,37;1,60,38|8,44,20;4,45,21|12,33,11;4,34,12
3,145,115;1,146,116|4,64,40;5,65,41|11,36,16;5,37,17|11,36,12;5,37,13
5,109,87;1,110,88|5,65,41;5,66,42|5,54,24;7,55,25|11,36,12;7,37,13
5,122,98;1,123,99|7,73,45;3,74,46|15,43,19;2,44,20|3,45,15;13,46,16
1,135,107;5,136,108|10,74,46;1,75,47|1,50,22;15,51,23|2,42,14;17,43,15
5,150,120;1,151,121|9,69,43;4,70,44|17,50,22;1,51,23|2,42,14;19,43,15
3,141,113;4,142,114|3,70,44;11,71,45|17,47,21;4,48,22|9,39,13;16,40,14
3,135,107;5,136,108|3,67,41;13,68,42|15,54,24;5,55,25|15,43,15;10,44,16
4,144,116;4,145,117|17,68,42|17,50,22;6,51,23|19,46,16;6,47,17
2,139,111;7,140,112|17,74,46|7,54,24;16,55,25|34,37,13
4,151,121;5,152,122|4,75,47;14,76,48|11,54,24;14,55,25|16,45,15;14,46,16
6,147,117;4,148,118|6,73,45;14,74,46|11,54,24;16,55,25|30,46,16;2,47,17
8,132,106;4,133,107|8,75,47;13,76,48|7,54,24;22,55,25|22,45,15;13,46,16
10,142,114;2,143,115|19,74,46;4,75,47|28,50,22;6,51,23|33,46,16;4,47,17
8,152,122;4,153,123|22,73,45;3,74,46|8,53,23;26,54,24|12,45,15;28,46,16
3,147,117;10,148,118|3,73,45;23,74,46|4,54,24;31,55,25|11,45,15;31,46,16
7,146,116;7,147,117|21,73,45;7,74,46|1,53,23;37,54,24|19,45,15;26,46,16
5,145,115;10,146,116|19,75,47;10,76,48|15,54,24;25,55,25|23,45,15;25,46,16
13,145,115;3,146,116|2,74,46;29,75,47|42,54,24;1,55,25|23,45,15;28,46,16
17,145,115|10,74,46;23,75,47|10,54,24;35,55,25|19,45,15;35,46,16
17,145,115;1,146,116|14,74,46;21,75,47|29,54,24;19,55,25|11,45,15;46,46,16
13,145,115;6,146,116|14,74,46;23,75,47|44,54,24;7,55,25|59,46,16;1,47,17
12,151,121;7,152,122|12,75,47;26,76,48|39,54,24;14,55,25|22,45,15;41,46,16
6,151,121;14,152,122|6,75,47;34,76,48|46,54,24;10,55,25|2,45,15;64,46,16
17,152,122;4,153,123|29,74,46;14,75,47|49,54,24;10,55,25|24,45,15;46,46,16
4,152,122;18,153,123|13,74,46;32,75,47|48,54,24;14,55,25|42,45,15;32,46,16
20,147,117;4,148,118|40,75,47;7,76,48|43,54,24;22,55,25|10,45,15;67,46,16
19,148,118;6,149,119|18,75,47;31,76,48|34,54,24;34,55,25|20,45,15;61,46,16
"""
# Alignment pattern centres per version ("-": none).
_ALIGNMENT_TEXT = """\
- 6,18 6,22 6,26 6,30 6,34 6,22,38 6,24,42 6,26,46 6,28,50 6,30,54 6,32,58 6,34,62 6,26,46,66 6,26,48,70
6,26,50,74 6,30,54,78 6,30,56,82 6,30,58,86 6,34,62,90 6,28,50,72,94 6,26,50,74,98 6,30,54,78,102
6,28,54,80,106 6,32,58,84,110 6,30,58,86,114 6,34,62,90,118 6,26,50,74,98,122 6,30,54,78,102,126
6,26,52,78,104,130 6,30,56,82,108,134 6,34,60,86,112,138 6,30,58,86,114,142 6,34,62,90,118,146
6,30,54,78,102,126,150 6,24,50,76,102,128,154 6,28,54,80,106,132,158 6,32,58,84,110,136,162
6,26,54,82,110,138,166 6,30,58,86,114,142,170
"""
_RS_BLOCKS: tuple[tuple[tuple[tuple[int, int, int], ...], ...], ...] = tuple(
    tuple(
        tuple((int(c), int(t), int(d)) for c, t, d in (group.split(",") for group in level.split(";")))
        for level in line.split("|")
    )
    for line in _RS_TEXT.split()
)
_ALIGNMENT: tuple[tuple[int, ...], ...] = tuple(
    () if entry == "-" else tuple(int(v) for v in entry.split(",")) for entry in _ALIGNMENT_TEXT.split()
)
# Format information: the two EC level bits as encoded -> index in the tables above (L, M, Q, H).
_LEVEL_INDEX = {0b01: 0, 0b00: 1, 0b11: 2, 0b10: 3}
_FORMAT_MASK = 0b101010000010010
_ALPHANUMERIC = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

# GF(256) with the QR field polynomial x^8 + x^4 + x^3 + x^2 + 1, for the syndrome check.
_EXP = [0] * 512
_LOG = [0] * 256
_value = 1
for _i in range(255):
    _EXP[_i] = _value
    _LOG[_value] = _i
    _value <<= 1
    if _value & 0x100:
        _value ^= 0x11D
for _i in range(255, 512):
    _EXP[_i] = _EXP[_i - 255]


def _bch_format(data: int) -> int:
    """The 15-bit format information word (before masking) for 5 data bits."""
    value = data << 10
    for shift in range(4, -1, -1):
        if value & (1 << (shift + 10)):
            value ^= 0b10100110111 << shift
    return (data << 10) | value


_FORMAT_WORDS = {_bch_format(data) ^ _FORMAT_MASK: data for data in range(32)}


@cache
def _function_modules(version: int) -> frozenset[tuple[int, int]]:
    """Every module that is not a data module: finders, separators, timing, alignment, format, version."""
    n = 17 + 4 * version
    used: set[tuple[int, int]] = set()
    for r0, c0 in ((0, 0), (0, n - 8), (n - 8, 0)):
        used.update((r, c) for r in range(r0, r0 + 8) for c in range(c0, c0 + 8))
    finders = set(used)
    used.update((6, i) for i in range(n))
    used.update((i, 6) for i in range(n))
    centres = _ALIGNMENT[version - 1]
    for r in centres:
        for c in centres:
            if (r, c) in finders:
                continue  # the corners taken by finder patterns have no alignment pattern
            used.update((rr, cc) for rr in range(r - 2, r + 3) for cc in range(c - 2, c + 3))
    used.update((8, i) for i in range(9))
    used.update((i, 8) for i in range(9))
    used.update((8, n - 1 - i) for i in range(8))
    used.update((n - 1 - i, 8) for i in range(8))
    if version >= 7:
        used.update((r, c) for r in range(6) for c in range(n - 11, n - 8))
        used.update((r, c) for r in range(n - 11, n - 8) for c in range(6))
    return frozenset(used)


def _mask(pattern: int, r: int, c: int) -> bool:
    if pattern == 0:
        return (r + c) % 2 == 0
    if pattern == 1:
        return r % 2 == 0
    if pattern == 2:
        return c % 3 == 0
    if pattern == 3:
        return (r + c) % 3 == 0
    if pattern == 4:
        return (r // 2 + c // 3) % 2 == 0
    if pattern == 5:
        return (r * c) % 2 + (r * c) % 3 == 0
    if pattern == 6:
        return ((r * c) % 2 + (r * c) % 3) % 2 == 0
    return ((r + c) % 2 + (r * c) % 3) % 2 == 0


def _read_format(dark: Sequence[Sequence[bool]]) -> tuple[int, int]:
    """(EC level index, mask pattern) from the format information next to the top-left finder."""
    n = len(dark)
    positions = [(8, c) for c in (0, 1, 2, 3, 4, 5, 7, 8)] + [(r, 8) for r in (7, 5, 4, 3, 2, 1, 0)]
    word = 0
    for r, c in positions:
        word = (word << 1) | int(dark[r][c])
    copy = 0
    for r, c in [(n - 1 - i, 8) for i in range(7)] + [(8, n - 8 + i) for i in range(8)]:
        copy = (copy << 1) | int(dark[r][c])
    for candidate in (word, copy):
        if candidate in _FORMAT_WORDS:
            data = _FORMAT_WORDS[candidate]
            return _LEVEL_INDEX[data >> 3], data & 0b111
    raise QRDecodeError("the format information is damaged")


@lru_cache(maxsize=128)
def _reading_order(n: int, version: int, mask: int) -> tuple[tuple[int, int, int], ...]:
    """The data modules in reading order with their mask bit: (row, column, mask), a pure function of the symbol
    size, version and mask pattern (so computed once per kind of symbol)."""
    function = _function_modules(version)
    order: list[tuple[int, int, int]] = []
    upward = True
    col = n - 1
    while col > 0:
        if col == 6:
            col -= 1  # the vertical timing pattern column is skipped
        rows = range(n - 1, -1, -1) if upward else range(n)
        for r in rows:
            for c in (col, col - 1):
                if (r, c) not in function:
                    order.append((r, c, int(_mask(mask, r, c))))
        upward = not upward
        col -= 2
    return tuple(order)


def _codewords(dark: Sequence[Sequence[bool]], version: int, mask: int) -> list[int]:
    bits = [int(dark[r][c]) ^ m for r, c, m in _reading_order(len(dark), version, mask)]
    words = []
    for i in range(0, len(bits) - len(bits) % 8, 8):
        value = 0
        for bit in bits[i : i + 8]:
            value = (value << 1) | bit
        words.append(value)
    return words


def _syndromes_zero(block: list[int], ec_count: int) -> bool:
    exp, log = _EXP, _LOG
    for i in range(ec_count):
        value = 0
        if i < 257:  # _LOG[v] + i < 512: _EXP repeats itself with period 255 up to 511, so no "% 255" needed
            for codeword in block:
                value = (exp[log[value] + i] if value else 0) ^ codeword
        else:
            for codeword in block:
                value = (exp[(log[value] + i) % 255] if value else 0) ^ codeword
        if value:
            return False
    return True


def _data(codewords: list[int], version: int, level: int) -> bytes:
    groups = _RS_BLOCKS[version - 1][level]
    layout = [(total, data) for count, total, data in groups for _ in range(count)]
    blocks: list[list[int]] = [[] for _ in layout]
    position = 0
    for i in range(max(data for _, data in layout)):
        for index, (_, data) in enumerate(layout):
            if i < data:
                blocks[index].append(codewords[position])
                position += 1
    for i in range(max(total - data for total, data in layout)):
        for index, (total, data) in enumerate(layout):
            if i < total - data:
                blocks[index].append(codewords[position])
                position += 1
    result = bytearray()
    for block, (total, data) in zip(blocks, layout, strict=True):
        if not _syndromes_zero(block, total - data):
            raise QRDecodeError("a Reed-Solomon block does not check")
        result.extend(block[:data])
    return bytes(result)


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.left = 8 * len(data)

    def take(self, count: int) -> int:
        if count > self.left:
            raise QRDecodeError("the data ends inside a segment")
        self.left -= count
        return (self.value >> self.left) & ((1 << count) - 1)


def _segments(data: bytes, version: int) -> bytes:
    bits = _Bits(data)
    out = bytearray()
    size_class = 0 if version <= 9 else 1 if version <= 26 else 2
    while bits.left >= 4:
        mode = bits.take(4)
        if mode == 0:
            break
        if mode == 0b0100:  # byte
            length = bits.take((8, 16, 16)[size_class])
            out.extend(bits.take(8) for _ in range(length))
        elif mode == 0b0010:  # alphanumeric
            length = bits.take((9, 11, 13)[size_class])
            for _ in range(length // 2):
                pair = bits.take(11)
                out.extend((_ALPHANUMERIC[pair // 45] + _ALPHANUMERIC[pair % 45]).encode("ascii"))
            if length % 2:
                out.extend(_ALPHANUMERIC[bits.take(6)].encode("ascii"))
        elif mode == 0b0001:  # numeric
            length = bits.take((10, 12, 14)[size_class])
            for _ in range(length // 3):
                out.extend(b"%03d" % bits.take(10))
            if length % 3 == 2:
                out.extend(b"%02d" % bits.take(7))
            elif length % 3 == 1:
                out.extend(b"%d" % bits.take(4))
        elif mode == 0b0111:  # ECI designator: one byte suffices for the assignments in use (UTF-8 is 26)
            bits.take(8)
        else:
            raise QRDecodeError(f"unsupported QR segment mode {mode:04b}")
    return bytes(out)


def decode_matrix(dark: Sequence[Sequence[bool]]) -> bytes:
    """The payload of the QR symbol whose modules are ``dark[row][col]`` (True = dark), without quiet zone."""
    n = len(dark)
    if n < 21 or (n - 17) % 4 or any(len(row) != n for row in dark):
        raise QRDecodeError(f"a {n}-module matrix is not a QR code size")
    version = (n - 17) // 4
    if version > 40:
        raise QRDecodeError("larger than QR version 40")
    level, mask = _read_format(dark)
    return _segments(_data(_codewords(dark, version, mask), version, level), version)
