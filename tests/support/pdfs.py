"""Sample documents for tests, generated (no binary fixtures to trust blindly)."""

from __future__ import annotations

from io import BytesIO

import pikepdf


def sample_licence_pdf(*, pages: int = 1, title: str = "Food Business Licence") -> bytes:
    """A small A4 PDF with some text on each page, as an approval system would hand in."""
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica)
    )
    for number in range(1, pages + 1):
        content = (
            f"BT /F1 28 Tf 150 760 Td ({title}) Tj ET "
            f"BT /F1 12 Tf 72 700 Td (Holder: Jincheng Example Catering Co., Ltd.) Tj ET "
            f"BT /F1 12 Tf 72 680 Td (Page {number} of {pages}) Tj ET"
        ).encode()
        page = pikepdf.Dictionary(
            Type=pikepdf.Name.Page,
            MediaBox=[0, 0, 595, 842],
            Resources=pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font)),
            Contents=pdf.make_stream(content),
        )
        pdf.pages.append(pikepdf.Page(page))
    out = BytesIO()
    # Uncompressed, so tests can find and tamper with the visible text.
    pdf.save(out, compress_streams=False)
    return out.getvalue()
