"""The fast QR encoder against the qrcode library (the reference) and zxing (a real decoder)."""

from __future__ import annotations

import hashlib

import pytest
import qrcode
import zxingcpp
from PIL import Image
from qrcode import util as qr_util
from qrcode.constants import ERROR_CORRECT_M

from seal_service.appearance import _qr


def _reference(payload: bytes, mask: int) -> tuple[int, int]:
    q = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0, mask_pattern=mask)
    q.add_data(qr_util.QRData(payload, mode=qr_util.MODE_8BIT_BYTE))
    q.make(fit=True)
    n = len(q.modules)
    return q.version, sum(1 << (r * n + c) for r in range(n) for c in range(n) if q.modules[r][c])


@pytest.mark.parametrize("length", [0, 1, 14, 40, 64, 120, 200, 400, 1200])
def test_matrix_matches_qrcode_for_every_mask(length: int) -> None:
    """Bit-for-bit the matrix qrcode builds, for versions 1 to 27ish and all eight masks."""
    payload = (hashlib.sha512(str(length).encode()).digest() * 20)[:length]  # deterministic, varied bytes
    for mask in range(8):
        ours = _qr.encode(payload, mask=mask)
        version, bits = _reference(payload, mask)
        assert (ours.version, ours.bits) == (version, bits), (length, mask)


def test_mask_choice_matches_qrcode_penalty() -> None:
    """Automatic mask selection agrees with qrcode's penalty evaluation on verification-style URLs."""
    for i in range(8):
        url = f"https://zwfw.example.gov.cn/v/{hashlib.sha256(bytes([i])).hexdigest()[:32]}".encode()
        chosen = _qr.encode(url).mask
        scores = []
        for mask in range(8):
            q = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0, mask_pattern=mask)
            q.add_data(qr_util.QRData(url, mode=qr_util.MODE_8BIT_BYTE))
            q.make(fit=True)
            scores.append(qr_util.lost_point(q.modules))
        assert chosen == scores.index(min(scores))


def test_decodes_with_zxing_and_limits_version() -> None:
    """A rasterised symbol reads back; payloads beyond max_version are refused."""
    url = "https://zwfw.jcs.gov.cn/verify/L2026112800017?c=9f3ac1e2b7d04a58"
    m = _qr.encode(url.encode(), max_version=10)
    scale, quiet = 6, 4
    side = (m.size + 2 * quiet) * scale
    img = Image.new("L", (side, side), 255)
    for r in range(m.size):
        for c in range(m.size):
            if m.is_dark(r, c):
                x, y = (c + quiet) * scale, (r + quiet) * scale
                img.paste(0, (x, y, x + scale, y + scale))
    assert [res.text for res in zxingcpp.read_barcodes(img)] == [url]
    with pytest.raises(_qr.QRTooLong):
        _qr.encode(b"x" * 300, max_version=10)
